"""The grader: reference solutions pass; each typical wrong answer fails with its pitfall
named, at a located step; stubs are "not implemented"; the cases show every pitfall."""

from __future__ import annotations

import math
import runpy
from pathlib import Path

import pytest

from minimsam.exercises import EXERCISES, cases_for, check, grade, load_function

SOLUTIONS = Path(__file__).resolve().parents[2] / "exercises" / "solutions"
WRONG = sorted((Path(__file__).resolve().parent / "wrong").glob("*.py"))


def solution(name):
    return load_function(SOLUTIONS, EXERCISES[name].function)


@pytest.mark.parametrize("name", EXERCISES)
def test_reference_solution_passes(name):
    result = grade(name, solution(name))
    assert result.status == "pass", result.format()
    assert result.passed and not result.pitfalls and result.mismatch is None
    assert len(result.cases) == len(cases_for(name)) >= 2
    assert all(r.max_diff < 1e-13 for r in result.cases)


@pytest.mark.parametrize("path", WRONG, ids=lambda p: p.stem)
def test_wrong_answer_fails_with_its_pitfall(path):
    declared = runpy.run_path(str(path))
    exercise = EXERCISES[declared["EXERCISE"]]
    result = grade(exercise, load_function(path, exercise.function))
    assert result.status == "fail"
    assert result.pitfalls[0] == declared["PITFALL"], result.format()
    assert declared["PITFALL"] in result.message
    mismatch = result.mismatch
    assert mismatch.case in [c.name for c in cases_for(exercise)]
    assert f"step {mismatch.step}" in result.format()


def test_wrong_answers_cover_every_pitfall_of_the_issue():
    pitfalls = {runpy.run_path(str(p))["PITFALL"] for p in WRONG}
    assert pitfalls >= {"perturbation_sign", "weight_decay_placement", "missing_epsilon",
                        "rho_drift", "momentum_not_carried", "nag_variable"}  # fmt: skip
    assert {runpy.run_path(str(p))["EXERCISE"] for p in WRONG} == set(EXERCISES)


def test_missing_eps_in_msam_is_nan_at_step_0():
    result = grade("msam", load_function(WRONG[0].parent / "msam_missing_eps.py", "msam_step"))
    m = result.mismatch
    assert (m.step, m.what) == (0, "the point passed to grad_fn (call 1)")
    assert math.isnan(m.got) and math.isfinite(m.expected) and m.abs_diff == math.inf


def test_mismatch_names_the_key_entry_and_values():
    reference = solution("sgd-momentum")
    calls = []

    def off_by_one_entry(w, v, grad_fn, lr, momentum, weight_decay):
        w_next, v_next = reference(w, v, grad_fn, lr, momentum, weight_decay)
        calls.append(None)
        if len(calls) == 3 and "2.bias" in w_next:  # step 2 of the first MLP case
            w_next["2.bias"][1] += 1e-3
        return w_next, v_next

    result = grade("sgd-momentum", off_by_one_entry)
    m = result.mismatch
    assert (m.case, m.step, m.what, m.key, m.index) == ("sgd-mlp-plain", 2, "w_next", "2.bias", [1])
    assert m.got - m.expected == pytest.approx(1e-3, rel=1e-6)
    assert m.abs_diff == pytest.approx(1e-3, rel=1e-6)
    assert result.pitfalls == [] and "no known pitfall" in result.message
    assert "w_next['2.bias'][1]: expected" in result.format()


@pytest.mark.parametrize("body", ["none", "raise"])
def test_a_stub_is_not_implemented_yet(body, capsys):
    def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
        """The stub."""
        if body == "raise":
            raise NotImplementedError

    result = check("msam", msam_step)
    assert result.status == "not implemented" and not result.passed
    assert capsys.readouterr().out.startswith("NOT IMPLEMENTED YET  msam: msam_step")


def test_a_step_that_raises_is_reported_not_misdiagnosed():
    def nag_step(w, v, grad_fn, lr, momentum):  # no weight_decay: TypeError on step 0
        return w, v

    result = grade("nag", nag_step)
    assert result.status == "fail" and result.pitfalls == []
    assert "nag_step raised TypeError" in result.message
    assert result.mismatch.step == 0 and "raised TypeError" in result.mismatch.what


def test_a_malformed_return_is_a_one_line_failure():
    def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
        grad_fn(w)
        return w  # not a pair

    result = grade("msam", msam_step)
    assert "must return a pair (w_next, v_next)" in result.message
    assert "\n" not in result.message


def test_calling_grad_fn_once_too_often_is_located():
    reference = solution("msam")

    def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
        grad_fn(w)  # an extra evaluation, e.g. to log the loss at w
        return reference(w, v, grad_fn, lr, momentum, rho, weight_decay)

    m = grade("msam", msam_step).mismatch
    assert (m.step, m.what) == (0, "grad_fn called 2 times, expected 1")


def test_a_step_that_updates_its_inputs_in_place_is_graded_on_what_it_returns():
    def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
        g = grad_fn(w)
        for k in w:
            v[k] *= momentum
            v[k] += g[k] + weight_decay * w[k]
            w[k] -= lr * v[k]
        return w, v

    assert grade("sgd-momentum", sgd_momentum_step).passed


def test_the_cases_make_each_pitfall_visible():
    for name in EXERCISES:
        cases = cases_for(name)
        assert any(c.hyperparameters["weight_decay"] > 0 for c in cases), name  # decay point
        with_momentum = [c for c in cases if c.hyperparameters.get("momentum", 0.9) > 0]
        assert with_momentum and all(c.steps >= 3 for c in with_momentum)  # Adam: always
    assert not any(c.hyperparameters.get("nesterov") for c in cases_for("sgd-momentum"))
    for name in ("sam", "msam", "adamw-msam"):  # a zero vector: a missing EPS gives NaN
        assert any(c.model["kind"] == "surface" for c in cases_for(name))
    for name in ("msam", "adamw-msam"):  # rho drift: a rho that changes between steps
        assert any(len(set(c.rho)) > 1 for c in cases_for(name))


def test_json_line_is_plain_data():
    import json

    path = WRONG[0].parent / "msam_missing_eps.py"
    line = grade("msam", load_function(path, "msam_step")).to_json(student="ada")
    data = json.loads(line, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    assert "\n" not in line and data["student"] == "ada" and data["status"] == "fail"
    assert data["pitfalls"] == ["missing_epsilon"]
    assert data["first_divergence"]["abs_diff"] == "inf" and data["cases_passed"] == 0
    assert data["first_divergence"]["got"] == "nan"  # strict JSON: no NaN literal


def test_an_exception_in_the_step_names_the_line_that_raised():
    def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
        return w["no such key"], v

    result = grade("msam", msam_step)
    assert not result.passed
    assert "KeyError" in result.message
    assert f"{__file__}:" in result.message and "in msam_step" in result.message
