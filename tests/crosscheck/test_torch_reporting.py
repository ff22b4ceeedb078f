"""The torch runner's report beyond pass/fail: optimizers it cannot drive, perturbed
params, "matches up to precision", and the adapters (keywords, model, names)."""

from __future__ import annotations

import functools

import pytest

torch = pytest.importorskip("torch", minversion="2.1")
import minimsam.torch as mt  # noqa: E402
from minimsam import crosscheck  # noqa: E402
from minimsam.crosscheck import torch_adapters  # noqa: E402

from .torch_optimizers import KeywordlessSAM, StepWithScaler, TwoStepSAM  # noqa: E402


def test_a_step_that_needs_other_arguments_is_not_driven(golden_dir):
    report = crosscheck.check_torch(golden_dir, "sgd", StepWithScaler, names=["sgd-mlp-plain"])
    (r,) = report.results
    assert r.verdict == "not driven" and not r.passed and r.diagnoses == []
    assert "scaler" in r.not_driven.reason
    assert any(f.startswith("StepWithScaler.step(closure, scaler)") for f in r.not_driven.found)
    assert "step" in r.not_driven.fits and any("YourAdapter" in f for f in r.not_driven.fits)
    text = report.format()
    assert "could not drive this optimizer" in text and "FAIL" not in text
    assert "adapters that might fit: step" in text


def test_a_wrong_adapter_for_a_two_step_sam_is_not_driven_and_two_step_is_suggested(golden_dir):
    report = crosscheck.check_torch(
        golden_dir, "sam", TwoStepSAM, "move-back-up", names=["sam-mlp-rho0.05"]
    )
    (r,) = report.results
    assert r.verdict == "not driven" and "method pairs" in r.not_driven.reason
    assert r.not_driven.fits[0] == "two-step"
    assert any(f.startswith("TwoStepSAM.first_step(") for f in r.not_driven.found)


def test_a_sam_without_zero_grad_keywords_is_driven_by_two_step(golden_dir):
    report = crosscheck.check_torch(golden_dir, "sam", KeywordlessSAM)
    assert report.adapter == "two-step" and report.passed, report.format()


def test_a_factory_that_wants_the_model_receives_it(golden_dir):
    seen = []

    def make(params, model, lr, momentum, weight_decay, nesterov):
        seen.append(model)
        hyperparameters = dict(momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
        return torch.optim.SGD(model.parameters(), lr=lr, **hyperparameters)

    report = crosscheck.check_torch(golden_dir, "sgd", make)
    assert report.passed, report.format()
    assert seen and all(isinstance(m, torch.nn.Module) for m in seen)


class PlainStep(torch_adapters.StepAdapter):
    """A user's adapter that only inherits (no name of its own)."""


def test_the_report_names_the_users_adapter_subclass(golden_dir):
    report = crosscheck.check_torch(golden_dir, "sgd", torch.optim.SGD, PlainStep)
    assert report.adapter == f"{__name__}:PlainStep"
    assert report.passed


class PerturbedAdamWMSAM(mt.AdamWMSAM):
    """minimsam's AdamW-MSAM without ``eval_params``: the params it holds are perturbed."""

    eval_params = None


def test_perturbed_params_are_named_with_the_option_that_handles_them(golden_dir):
    report = crosscheck.check_torch(golden_dir, "adamw-msam", PerturbedAdamWMSAM)
    assert report.adapter == "step"
    stuck = [r for r in report.results if not r.passed]
    assert stuck and all(r.verdict == "not driven" for r in stuck), report.format()
    assert "state['exp_avg']" in stuck[0].summary
    assert "keeps the perturbed point" in report.format()
    assert "--adapter move-back-up" in report.format()
    fixed = crosscheck.check_torch(golden_dir, "adamw-msam", PerturbedAdamWMSAM, "move-back-up")
    assert fixed.passed, fixed.format()


def test_a_float32_norm_matches_up_to_precision_and_its_rtol_passes(golden_dir):
    impl = functools.partial(TwoStepSAM, bug="float32-norm")
    names = ["sam-mlp-wd-schedules-restore", "sam-mlp-rho0.05", "sam-surface-zero-grad"]
    report = crosscheck.check_torch(golden_dir, "sam", impl, names=names)
    verdicts = {r.case: r.verdict for r in report.results}
    assert "FAIL" not in verdicts.values() and "precision" in verdicts.values(), report.format()
    precise = [r for r in report.results if r.verdict == "precision"]
    assert all("float32" in r.precision.cause for r in precise), report.format()
    rtol = max(r.precision.rtol for r in precise)
    assert f"--rtol {rtol:.0e} accepts them" in report.format()
    assert crosscheck.check_torch(golden_dir, "sam", impl, names=names, rtol=rtol).passed


def test_a_torch_run_saved_as_a_trajectory_file_gets_the_same_report(golden_dir, tmp_path):
    from minimsam.crosscheck.torch_runner import run_case

    from .torch_optimizers import MemoryFreeMSAM

    impl = functools.partial(MemoryFreeMSAM, bug="rho-drift")
    direct = crosscheck.check_torch(golden_dir, "msam", impl)
    runs, errors = {}, {}
    for case in crosscheck.load_cases(golden_dir, optimizer="msam"):
        runs[case.name], _, errors[case.name] = run_case(case, impl)
    crosscheck.write_trajectories(tmp_path / "run.npz", runs, errors)
    from_file = crosscheck.check_trajectory_file(golden_dir, tmp_path / "run.npz")
    assert [r.verdict for r in from_file.results] == [r.verdict for r in direct.results]
    for a, b in zip(from_file.results, direct.results):
        assert (a.first_divergence, a.diagnoses) == (b.first_divergence, b.diagnoses)
    assert any(d.pitfall == "rho_drift" for r in from_file.results for d in r.diagnoses)
