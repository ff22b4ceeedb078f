"""Comparison, first divergence and diagnosis, driven with NumPy trajectories (no torch)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from minimsam.crosscheck import mutants
from minimsam.crosscheck.compare import (
    ATOL,
    Report,
    check_case,
    first_divergence,
    max_difference,
)
from minimsam.crosscheck.reference import run_reference
from minimsam.optim.variants import MSAMUndoWithCurrentRho


def _case(cases, name):
    return next(c for c in cases if c.name == name)


def _truncated(trajectory, steps):
    """The first ``steps`` steps of a trajectory (a run that raised at step ``steps``)."""
    out = copy.deepcopy(trajectory)
    cut = slice(0, steps)
    out.params = {k: v[cut] for k, v in out.params.items()}
    out.eval_points = {k: v[cut] for k, v in out.eval_points.items()}
    out.eval_grads = {k: v[cut] for k, v in out.eval_grads.items()}
    out.loss, out.grad_evals, out.eval_losses = (
        out.loss[cut],
        out.grad_evals[cut],
        out.eval_losses[cut],
    )
    return out


def test_the_reference_passes_itself(cases):
    for case in cases:
        result = check_case(case, copy.deepcopy(case.reference))
        assert result.passed and result.max_diff == 0.0 and result.first_divergence is None


def test_first_divergence_names_the_step_and_the_quantity(cases):
    case = _case(cases, "sam-mlp-rho0.05")
    got = copy.deepcopy(case.reference)
    got.params["2.bias"][4, 1] += 1e-6
    d = first_divergence(got, case.reference)
    assert (d.step, d.quantity) == (4, "the params after the step")
    assert d.max_diff == pytest.approx(1e-6, rel=1e-6)
    got.eval_points["0.weight"][3, 1, 0, 0] += 1e-3  # the second evaluation of step 3
    d = first_divergence(got, case.reference)
    assert (d.step, d.quantity) == (3, "gradient evaluation 2: the point")
    got.eval_losses[2, 0] += 1e-3
    assert first_divergence(got, case.reference).quantity == "gradient evaluation 1: the loss"
    got.grad_evals[1] = 1
    assert first_divergence(got, case.reference).quantity == "1 gradient evaluations, expected 2"


def test_differences_below_the_tolerance_pass_and_nan_only_matches_nan(cases):
    case = _case(cases, "msam-mlp-rho0.3")
    got = copy.deepcopy(case.reference)
    got.params["0.weight"][5] += ATOL / 2
    assert first_divergence(got, case.reference) is None
    got.params["0.weight"][5, 0, 0] = np.nan
    assert first_divergence(got, case.reference).step == 5
    assert max_difference(got, case.reference) == np.inf
    both = copy.deepcopy(got)
    assert first_divergence(got, both) is None


def test_every_mutant_trajectory_is_diagnosed_as_its_pitfall(cases):
    """What a buggy implementation would produce is named correctly, and nothing else."""
    for case in cases:
        for mutant in mutants.mutants_for(case.optimizer):
            if mutant.pitfall not in case.pitfalls or (
                mutant.restore != "keep" and case.restore_before_step is None
            ):
                continue
            got = run_reference(case, mutant.cls, mutant.restore)
            if first_divergence(got, case.reference) is None:
                continue  # e.g. the other state-loss variant on a case that hides this one
            result = check_case(case, got)
            assert not result.passed, (case.name, mutant.name)
            assert mutant.pitfall in {d.pitfall for d in result.diagnoses}, (case.name, mutant.name)
            assert {d.pitfall for d in result.diagnoses} == {mutant.pitfall}, (case.name, mutant)


def test_an_unknown_bug_gets_no_hint_farther_than_the_reference_but_its_equation(cases):
    case = _case(cases, "msam-mlp-wd-rho1")
    got = copy.deepcopy(case.reference)
    for k in got.params:
        got.params[k][6:] *= 1.01  # a bug no mutant has
    result = check_case(case, got)
    assert not result.passed and result.diagnoses == []
    assert result.nearest is None  # every pitfall is farther from it than the reference
    assert "no known pitfall matches" in result.summary
    assert "step 6" in result.location and "w_{t+1} = w_t - lr v_{t+1}, does not" in result.location
    assert "1.01 times the expected value" in result.location


def test_a_nearest_hint_is_closer_than_the_reference_and_a_pitfall_of_the_case(cases):
    case = _case(cases, "msam-mlp-wd-rho1")
    by_name = {m.name: m for m in mutants.mutants_for("msam")}
    got = copy.deepcopy(run_reference(case, by_name["sign-flipped"].cls))
    for k in got.params:
        got.params[k][-1] += 1e-6  # near the sign flip, not on it
    result = check_case(case, got)
    assert result.diagnoses == [] and result.nearest.startswith("sign-flipped")
    assert "perturbation_sign" in case.pitfalls


def test_a_run_that_raised_where_a_mutant_turns_nan_is_diagnosed(cases):
    case = _case(cases, "sam-surface-zero-grad")
    no_eps = run_reference(case, {m.name: m for m in mutants.mutants_for("sam")}["no-eps"].cls)
    stopped = 3
    assert np.all(np.isnan(no_eps.params["w"][stopped]))
    result = check_case(case, _truncated(no_eps, stopped), error="ZeroDivisionError: division")
    assert not result.passed
    assert (result.first_divergence.step, result.first_divergence.quantity) == (
        stopped,
        "raised ZeroDivisionError: division",
    )
    assert [d.pitfall for d in result.diagnoses] == ["missing_epsilon"]
    early = check_case(case, _truncated(no_eps, 1), error="RuntimeError: boom")
    assert early.diagnoses == []  # it stopped before the step where the mutant gives NaN


def test_report_formats_and_serialises(cases):
    case = _case(cases, "msam-mlp-schedules-restore")
    results = [
        check_case(case, copy.deepcopy(case.reference)),
        check_case(case, run_reference(case, MSAMUndoWithCurrentRho)),
        check_case(case, _truncated(case.reference, 2), error="RuntimeError: boom"),
    ]
    report = Report("msam", "pkg:Impl", "step", results)
    assert not report.passed
    text = report.format()
    assert "pkg:Impl" in text and "1 of 3 cases pass." in text
    assert "FAIL" in text and "diagnosis: rho_drift" in text
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["passed"] is False
    assert data["results"][1]["diagnoses"][0]["mutant"] == "undo-current-rho"
    assert data["results"][2]["max_diff"] == "inf"
    assert data["results"][2]["error"] == "RuntimeError: boom"
