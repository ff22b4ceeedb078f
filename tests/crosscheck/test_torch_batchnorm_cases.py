"""The PyTorch runner on the batch-norm cases: minimsam.torch passes them the reference
way, and the two SAM training-loop mistakes are caught and named."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", minversion="2.1")

from minimsam.crosscheck.torch_runner import build_model, check, run_case  # noqa: E402
from minimsam.torch import MSAM, SAM  # noqa: E402


@pytest.fixture(scope="module")
def bn_cases(cases):
    return [c for c in cases if c.has_stats]


def sgd(params, lr, momentum, weight_decay, nesterov):
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay,
                           nesterov=nesterov)  # fmt: skip


class SAMUpdatingTwice(SAM):
    """A SAM whose step calls the closure twice and knows nothing of batch norm."""

    def step(self, closure=None):
        return super().step(closure)


class SAMSecondPassEval(SAM):
    """A SAM whose training loop puts the model in eval mode for the second pass."""

    def step(self, closure=None, freeze_bn=None):
        loss = closure()
        self.first_step()
        freeze_bn.eval()
        closure()
        freeze_bn.train()
        self.second_step()
        return loss


def test_the_torch_model_has_the_case_params_and_statistics(bn_cases):
    case = bn_cases[0]
    module, params, _ = build_model(case)
    assert list(params) == list(case.init)
    buffers = dict(module.named_buffers())
    for k, v in case.init_stats.items():
        np.testing.assert_array_equal(buffers[k].numpy(), v)
    assert [type(m).__name__ for m in module] == ["Linear", "BatchNorm1d", "Tanh", "Linear"]


@pytest.mark.parametrize(
    "optimizer, impl, adapter",
    [("sgd", sgd, "step"), ("sam", SAM, "step"), ("sam", SAM, "two-step"),
     ("msam", MSAM, "step")],
)  # fmt: skip
def test_minimsam_torch_passes_the_batchnorm_cases(bn_cases, optimizer, impl, adapter):
    report = check(bn_cases, optimizer, impl, adapter=adapter)
    assert [r.verdict for r in report.results] == ["pass"], report.format()
    got, _, error = run_case(next(c for c in bn_cases if c.optimizer == optimizer), impl, adapter)
    assert error is None and set(got.stats) == {"1.running_mean", "1.running_var"}


@pytest.mark.parametrize(
    "impl, pitfall",
    [(SAMUpdatingTwice, "bn_stats_both_passes"), (SAMSecondPassEval, "bn_second_pass_eval")],
)
def test_sam_training_loop_mistakes_are_named(bn_cases, impl, pitfall):
    report = check(bn_cases, "sam", impl, adapter="step")
    (result,) = report.results
    assert result.verdict == "FAIL"
    assert [d.pitfall for d in result.diagnoses] == [pitfall], report.format()
