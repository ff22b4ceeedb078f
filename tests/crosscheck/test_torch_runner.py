"""The PyTorch runner: correct optimizers pass every case, buggy ones fail with the right
diagnosis, on exactly the cases that list that pitfall."""

from __future__ import annotations

import functools

import numpy as np
import pytest

torch = pytest.importorskip("torch", minversion="2.1")
import minimsam.torch as mt  # noqa: E402
from minimsam import crosscheck  # noqa: E402
from minimsam.crosscheck import torch_adapters, torch_runner  # noqa: E402

from .torch_optimizers import (  # noqa: E402
    HandAdamW,
    LookaheadNAG,
    MemoryFreeMSAM,
    StatelessCheckpointSGD,  # noqa: E402
    TwoStepSAM,
)


def _assert_all_pass(report):
    assert report.passed, report.format()
    assert all(r.max_diff < 1e-13 for r in report.results), report.format()


@pytest.mark.parametrize(
    "optimizer, impl",
    [
        ("sgd", torch.optim.SGD),
        ("adamw", torch.optim.AdamW),
        ("nag", LookaheadNAG),
        ("adamw", HandAdamW),
    ],
)
def test_torch_optim_and_hand_written_optimizers_pass(golden_dir, optimizer, impl):
    _assert_all_pass(crosscheck.check_torch(golden_dir, optimizer, impl))


@pytest.mark.parametrize(
    "optimizer, impl, adapter",
    [
        ("msam", mt.MSAM, "step"),
        ("msam", mt.MSAM, "move-back-up"),
        ("sam", mt.SAM, "two-step"),
        ("sam", mt.SAM, "step"),
        ("adamw-msam", mt.AdamWMSAM, "step"),
        ("adamw-msam", mt.AdamWMSAM, "move-back-up"),
    ],
)
def test_minimsam_torch_passes_every_case(golden_dir, optimizer, impl, adapter):
    report = crosscheck.check_torch(golden_dir, optimizer, impl, adapter)
    assert report.adapter == adapter
    _assert_all_pass(report)


def test_impl_given_as_a_string_and_auto_adapter(golden_dir):
    report = crosscheck.check_torch(golden_dir, "sam", "minimsam.torch:SAM")
    assert report.implementation == "minimsam.torch:SAM" and report.adapter == "two-step"
    _assert_all_pass(report)


def _assert_diagnosed(report, cases, pitfall):
    """Fails exactly on the cases that list ``pitfall``, each diagnosed as ``pitfall``."""
    exposing = {c.name for c in cases if c.optimizer == report.optimizer and pitfall in c.pitfalls}
    failed = {r.case for r in report.results if not r.passed}
    assert failed == exposing, report.format()
    for r in report.results:
        if not r.passed:
            assert [d.pitfall for d in r.diagnoses] == [pitfall], report.format()


@pytest.mark.parametrize(
    "bug, pitfall",
    [
        ("decay-at-w", "weight_decay_placement"),
        ("sign", "perturbation_sign"),
        ("rho-drift", "rho_drift"),
        ("no-eps", "missing_epsilon"),
        ("lost-state", "state_not_saved"),
    ],
)
def test_buggy_msam_is_diagnosed(golden_dir, cases, bug, pitfall):
    report = crosscheck.check_torch(golden_dir, "msam", functools.partial(MemoryFreeMSAM, bug=bug))
    assert report.adapter == "move-back-up"
    _assert_diagnosed(report, cases, pitfall)


def test_the_buggy_msam_without_its_bug_passes(golden_dir):
    _assert_all_pass(crosscheck.check_torch(golden_dir, "msam", MemoryFreeMSAM))
    _assert_all_pass(crosscheck.check_torch(golden_dir, "sam", TwoStepSAM))


@pytest.mark.parametrize(
    "bug, pitfall", [("no-eps", "missing_epsilon"), ("sign", "perturbation_sign")]
)
def test_buggy_sam_is_diagnosed(golden_dir, cases, bug, pitfall):
    report = crosscheck.check_torch(golden_dir, "sam", functools.partial(TwoStepSAM, bug=bug))
    _assert_diagnosed(report, cases, pitfall)


def test_adamw_decaying_after_the_step_is_diagnosed(golden_dir, cases):
    impl = functools.partial(HandAdamW, decay="last")
    _assert_diagnosed(
        crosscheck.check_torch(golden_dir, "adamw", impl), cases, "weight_decay_placement"
    )


def test_a_checkpoint_without_optimizer_state_is_diagnosed(golden_dir, cases):
    report = crosscheck.check_torch(golden_dir, "sgd", StatelessCheckpointSGD)
    _assert_diagnosed(report, cases, "state_not_saved")


class FloatNormSAM(TwoStepSAM):
    """SAM that computes the norm as a Python float and divides by it: it raises
    ZeroDivisionError on the zero-gradient step instead of producing NaN."""

    @torch.no_grad()
    def first_step(self, zero_grad=False):
        norm = float(sum((p.grad**2).sum() for g in self.param_groups for p in g["params"]))
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["w"] = p.detach().clone()
                p.add_(p.grad, alpha=group["rho"] / norm**0.5)
        if zero_grad:
            self.zero_grad()


def test_an_optimizer_that_raises_fails_with_the_error_and_a_diagnosis(golden_dir):
    report = crosscheck.check_torch(golden_dir, "sam", FloatNormSAM)
    failed = [r for r in report.results if not r.passed]
    assert {r.case for r in failed} == {"sam-surface-zero-grad", "sam-surface-zero-grad-restore"}
    first_zero = {"sam-surface-zero-grad": 3, "sam-surface-zero-grad-restore": 0}
    for r in failed:
        assert r.verdict == "FAIL" and r.error.startswith("ZeroDivisionError")
        assert r.first_divergence.step == first_zero[r.case]  # the first zero gradient
        assert [d.pitfall for d in r.diagnoses] == ["missing_epsilon"]


def test_a_constructor_that_raises_is_not_driven_on_every_case(golden_dir):
    def broken(params, lr, momentum, weight_decay, nesterov):
        raise TypeError("unexpected keyword")

    report = crosscheck.check_torch(golden_dir, "sgd", broken)
    assert not any(r.passed for r in report.results)
    for r in report.results:
        assert r.verdict == "not driven" and r.diagnoses == []
        assert r.error == "TypeError: unexpected keyword"
        assert r.not_driven.found[0].endswith("(params, lr, momentum, weight_decay, nesterov)")
    text = report.format()
    assert "could not drive this optimizer: TypeError: unexpected keyword" in text
    assert "FAIL" not in text and "no verdict on the algorithm" in text


def test_the_torch_model_reproduces_the_reference_gradients(cases):
    """Same weights (Linear transposed), same loss: the step-0 gradient of every case."""
    for case in cases:
        module, params, loss_at = torch_runner.build_model(case)
        loss = loss_at(0)
        loss.backward()
        assert loss.item() == pytest.approx(case.reference.eval_losses[0, 0], abs=1e-14)
        for name, p in params.items():
            got = torch_runner.case_layout(name, p.grad)
            np.testing.assert_allclose(got, case.reference.eval_grads[name][0, 0], atol=1e-14)


def test_auto_adapter_follows_the_optimizer_interface():
    p = [torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))]
    assert torch_adapters.auto(torch.optim.SGD(p, lr=0.1)) is torch_adapters.StepAdapter
    assert torch_adapters.auto(mt.MSAM(p, lr=0.1)) is torch_adapters.StepAdapter
    assert torch_adapters.auto(TwoStepSAM(p, lr=0.1)) is torch_adapters.TwoStepAdapter
    assert torch_adapters.auto(MemoryFreeMSAM(p, lr=0.1)) is torch_adapters.MoveBackUpAdapter
    with pytest.raises(TypeError, match="method pairs"):
        torch_adapters.MoveBackUpAdapter(torch.optim.SGD(p, lr=0.1), p)


def test_a_user_adapter_class_is_used(golden_dir):
    class ClosureTwice(torch_adapters.Adapter):
        """Wrong on purpose: evaluates the closure once more than the optimizer does."""

        name = "closure-twice"

        def step(self, forward_backward):
            forward_backward()
            self.optimizer.step(forward_backward)

    report = crosscheck.check_torch(golden_dir, "sgd", torch.optim.SGD, ClosureTwice)
    assert report.adapter == "closure-twice"
    assert all(
        r.first_divergence.quantity == "2 gradient evaluations, expected 1" for r in report.results
    )
    assert all(r.verdict == "not driven" for r in report.results)


def test_a_sam_step_with_one_gradient_is_told_which_two_sam_takes(golden_dir):
    class OneGradientSAM(torch.optim.Optimizer):
        """Wrong on purpose: one closure call per step, the ascent reusing the last gradient."""

        def __init__(self, params, lr, rho, momentum=0.0, weight_decay=0.0):
            super().__init__(params, dict(lr=lr, rho=rho))

        @torch.no_grad()
        def step(self, closure):
            with torch.enable_grad():
                closure()
            for group in self.param_groups:
                for p in group["params"]:
                    p.sub_(group["lr"] * p.grad)

    report = crosscheck.check_torch(golden_dir, "sam", OneGradientSAM)
    assert all(r.verdict == "not driven" for r in report.results)
    reason = report.results[0].not_driven.reason
    assert "1 gradient evaluations, expected 2" in reason and "g^(1)_t = g(w_t)" in reason


def test_unknown_adapter_and_bad_impl_strings():
    with pytest.raises(ValueError, match="package.module:Name"):
        torch_runner.load_object("torch.optim.SGD")
    assert torch_runner.load_object("torch.optim:SGD") is torch.optim.SGD
    p = [torch.nn.Parameter(torch.zeros(2))]
    with pytest.raises(ValueError, match="unknown adapter"):
        torch_runner._adapter_class("fancy", torch.optim.SGD(p, lr=0.1))
