"""The kit on real code: the SAM family of pytorch_optimizer (PyPI), driven by the
factories of examples/pytorch_optimizer_sam.py. The verdicts asserted here are the
ones FORMAT.md states ("Real code"): no false pass, no false fail."""

from __future__ import annotations

import pytest

pytest.importorskip("torch", minversion="2.1")
pytest.importorskip("pytorch_optimizer")
from examples import pytorch_optimizer_sam as po  # noqa: E402
from minimsam import crosscheck  # noqa: E402

MLP = ["sam-mlp-rho0.05", "sam-mlp-wd-schedules-restore"]


def test_sam_matches_up_to_precision_because_of_its_float32_norm(golden_dir):
    report = crosscheck.check_torch(golden_dir, "sam", po.make_sam)
    assert report.adapter == "two-step"
    assert all(r.verdict == "precision" for r in report.results), report.format()
    assert all(r.precision.cause.startswith("the norm computed in float32") for r in report.results)
    rtol = max(r.precision.rtol for r in report.results)
    accepted = crosscheck.check_torch(golden_dir, "sam", po.make_sam, rtol=rtol)
    assert accepted.passed, accepted.format()


def test_looksam_recomputing_every_step_is_sam_up_to_precision(golden_dir):
    report = crosscheck.check_torch(golden_dir, "sam", po.make_looksam, names=MLP)
    assert [r.verdict for r in report.results] == ["precision"] * len(MLP), report.format()


@pytest.mark.parametrize("factory", [po.make_asam, po.make_friendly_sam, po.make_wsam])
def test_other_algorithms_fail_and_are_not_passed_off_as_a_pitfall(golden_dir, factory):
    report = crosscheck.check_torch(golden_dir, "sam", factory, names=MLP)
    for r in report.results:
        assert r.verdict == "FAIL", report.format()
        assert r.diagnoses == [] and "no known pitfall matches" in r.summary
        assert r.max_diff > 1e-3  # far beyond rounding
