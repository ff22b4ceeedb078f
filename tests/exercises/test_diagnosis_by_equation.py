"""The grader names the equation a wrong step gets wrong, accepts the memory-free form
when asked, limits a step's time, and tells where a NaN appeared and a gradient written."""

from __future__ import annotations

import re
import runpy
import threading
from pathlib import Path

import numpy as np
import pytest

from minimsam.cli import main
from minimsam.exercises import EXERCISES, grade, load_function

from .typical_mistakes import (
    BY_THE_NUMBERS,
    MISTAKES,
    msam_gradient_at_w,
    msam_unperturbed,
    nag_gradient_at_w,
    nag_heavy_ball,
    sam_decay_at_climbed_point,
    sam_from_perturbed_point,
)

HERE = Path(__file__).resolve().parent
WRONG = sorted((HERE / "wrong").glob("*.py"))
SOLUTIONS = HERE.parents[1] / "exercises" / "solutions"
INTERNAL = ("could not drive", "grad_fn call 1: x", "mutant", "nearest")


@pytest.mark.parametrize(("exercise", "step", "symbol", "words"), MISTAKES,
                         ids=[m[1].__name__ for m in MISTAKES])  # fmt: skip
def test_an_unnamed_mistake_is_placed_at_its_equation(exercise, step, symbol, words):
    result = grade(exercise, step)
    assert result.status == "fail"
    assert result.location is not None, result.format()
    assert result.location.equation.symbol == symbol, result.format()
    assert words in str(result.location), result.format()
    assert "where: case" in result.format()


@pytest.mark.parametrize(("exercise", "step", "form", "symbol", "words"), BY_THE_NUMBERS,
                         ids=[m[1].__name__ for m in BY_THE_NUMBERS])  # fmt: skip
def test_a_mistake_is_placed_in_its_equation_by_the_numbers(exercise, step, form, symbol, words):
    """Float32 rounding at the first equation it enters; the case whose wrong equation comes
    first in the step; AdamW-MSAM's w'_t apart from its decay; a perturbation of length rho
    along another direction; the memory-free form's undo and next perturbation."""
    result = grade(exercise, step, form=form)
    assert result.status == "fail" and result.location is not None, result.format()
    assert result.location.symbol == symbol, result.format()
    assert words in str(result.location), result.format()


@pytest.mark.parametrize(("step", "symbol", "words"), [
    (sam_from_perturbed_point, "w_{t+1}", "the step carries on from w_t + e_t"),
    (sam_decay_at_climbed_point, "d_t", "(the weight decay is taken at another point)"),
])  # fmt: skip
def test_one_point_standing_for_w_in_the_decay_and_the_update_is_one_mistake(step, symbol, words):
    """SAM's decay at w_t + e_t: where the update starts from w_t + e_t too, the step carries
    on from the climbed point (not undone, w_{t+1}); where it starts from w_t, only d_t."""
    result = grade("sam", step)
    (case,) = [r for r in result.cases if r.case == "sam-mlp-wd-schedules-restore"]
    assert case.located is not None and case.located.symbol == symbol, case.located
    assert words in case.located.finding
    assert ("carries on" in case.located.finding) == (symbol == "w_{t+1}")


@pytest.mark.parametrize(("exercise", "step", "case", "symbol"), [
    ("nag", nag_gradient_at_w, "nag-mlp-wd-restore", "d_t"),
    ("nag", nag_heavy_ball, "nag-mlp-wd-restore", "a_t"),
    ("msam", msam_gradient_at_w, "msam-mlp-wd-rho1", "d_t"),
    ("msam", msam_unperturbed, "msam-mlp-wd-rho1", "w~_t"),
])  # fmt: skip
def test_a_point_made_right_but_not_given_to_grad_fn_is_told_by_its_decay(exercise, step, case,
                                                                          symbol):  # fmt: skip
    """A gradient taken at w_t where the look-ahead or perturbed point is made and used for
    the weight decay: the point is right, d_t's gradient is not; a point never made (the
    decay at w_t too) is the point's own equation."""
    (result,) = [r for r in grade(exercise, step).cases if r.case == case]
    assert result.located is not None and result.located.symbol == symbol, result.located
    assert ("the gradient is taken at another" in result.located.finding) == (symbol == "d_t")


@pytest.mark.parametrize("path", WRONG, ids=lambda p: p.stem)
def test_the_report_uses_no_internal_words_and_says_the_verdict_once(path):
    exercise = EXERCISES[runpy.run_path(str(path))["EXERCISE"]]
    text = grade(exercise, load_function(path, exercise.function)).format()
    assert not [w for w in INTERNAL if w in text], text
    assert len(re.findall(r"\bFAIL\b", text)) == 1, text
    assert re.search(r"\n    \S+ +\(.*(weight decay|rho|lr schedule|zero-gradient|restored)", text)


def _memory_free_msam(w, v, grad_fn, lr, momentum, rho, weight_decay):
    """The paper's Algorithm 1: ``w`` is the perturbed point, the step returns the next one."""
    norm = lambda tree: np.sqrt(sum(np.sum(x * x) for x in tree.values()))  # noqa: E731
    undo = rho / (norm(v) + 1e-12)
    g = grad_fn(w)
    v_next = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}
    w_next = {k: w[k] + undo * v[k] - lr * v_next[k] for k in w}
    c = rho / (norm(v_next) + 1e-12)
    return {k: w_next[k] - c * v_next[k] for k in w}, v_next


def test_the_memory_free_form_is_named_and_passes_when_asked():
    result = grade("msam", _memory_free_msam)
    assert result.status == "fail" and result.pitfalls == ["memory_free_form"]
    assert "form='memory-free'" in result.message and result.location.memory_free
    accepted = grade("msam", _memory_free_msam, form="memory-free")
    assert accepted.passed, accepted.format()
    assert any("not graded in the memory-free form" in n for n in accepted.notes)
    reference = load_function(SOLUTIONS, "msam_step")
    assert not grade("msam", reference, form="memory-free").passed  # the forms differ
    with pytest.raises(ValueError, match="msam exercise only"):
        grade("nag", load_function(SOLUTIONS, "nag_step"), form="memory-free")


def test_the_memory_free_form_on_the_command_line(capsys, tmp_path):
    path = tmp_path / "msam.py"
    path.write_text(
        "import numpy as np\n\n"
        "def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):\n"
        "    n = lambda t: np.sqrt(sum(np.sum(x * x) for x in t.values()))\n"
        "    undo = rho / (n(v) + 1e-12)\n"
        "    g = grad_fn(w)\n"
        "    v2 = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}\n"
        "    w2 = {k: w[k] + undo * v[k] - lr * v2[k] for k in w}\n"
        "    c = rho / (n(v2) + 1e-12)\n"
        "    return {k: w2[k] - c * v2[k] for k in w}, v2\n"
    )
    assert main(["exercise", "check", "msam", str(path)]) == 1
    assert main(["exercise", "check", "msam", str(path), "--form", "memory-free"]) == 0
    assert "PASS  msam" in capsys.readouterr().out


def _hangs(w, v, grad_fn, lr, momentum, rho, weight_decay):
    while True:
        try:
            pass
        except Exception:  # a step's own handler must not swallow the time limit
            pass


@pytest.mark.parametrize("in_thread", [False, True])
def test_a_step_that_never_returns_fails_with_the_case_and_the_limit(in_thread):
    results = []

    def run():
        results.append(grade("msam", _hangs, time_limit=0.3))

    if in_thread:  # no signals off the main thread: the case runs in a watched thread
        worker = threading.Thread(target=run)
        worker.start()
        worker.join(30)
    else:
        run()
    (result,) = results
    assert result.status == "fail"
    assert "did not return within 0.3 s on case msam-mlp-rho0.3" in result.message
    assert len(result.cases) == 1  # it stops instead of waiting on every case
    with pytest.raises(ValueError, match="time_limit must be"):
        grade("msam", _hangs, time_limit=0)


def test_the_time_limit_on_the_command_line(capsys, tmp_path):
    path = tmp_path / "msam.py"
    path.write_text("def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):\n"
                    "    while True:\n        pass\n")  # fmt: skip
    assert main(["exercise", "check", "msam", str(path), "--time-limit", "0.3"]) == 1
    assert "did not return within 0.3 s on case" in capsys.readouterr().out


def test_a_nan_in_w_next_is_traced_to_where_it_appeared():
    reference = load_function(SOLUTIONS, "sgd_momentum_step")
    calls = []

    def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
        w_next, v_next = reference(w, v, grad_fn, lr, momentum, weight_decay)
        calls.append(None)
        if len(calls) == 3:
            w_next["2.bias"][1] = np.nan
        return w_next, v_next

    result = grade("sgd-momentum", sgd_momentum_step)
    nan = [n for n in result.notes if "NaN" in n]
    assert nan == ["w_next holds NaN or inf; NaN or inf first appeared in case sgd-mlp-plain, "
                   "step 2, in w_next['2.bias'][1]"], result.format()  # fmt: skip
    assert "no known pitfall" in result.message


def test_a_step_that_writes_into_its_gradients_is_told():
    def sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):
        g = grad_fn(w)
        for k in g:
            g[k] += weight_decay * w[k]  # in place, into what grad_fn returned
        v_next = {k: momentum * v[k] + g[k] for k in w}
        return {k: w[k] - lr * v_next[k] for k in w}, v_next

    result = grade("sgd-momentum", sgd_momentum_step)
    assert result.passed  # the arithmetic is right
    assert any("wrote into grads[" in n for n in result.notes), result.notes
    assert "wrote into" in result.format()


def test_an_exception_inside_numpy_is_reported_at_the_students_line():
    def msam_step(w, v, grad_fn, lr, momentum, rho, weight_decay):
        np.linalg.cholesky(-np.eye(2))  # raises inside NumPy
        return w, v

    result = grade("msam", msam_step)
    assert "LinAlgError" in result.message
    assert f"{__file__}:" in result.message and "in msam_step" in result.message
    assert "numpy" not in result.message.split("(at ")[-1]


def test_the_json_line_carries_the_equation():
    import json

    from .typical_mistakes import sgd_dampening

    data = json.loads(grade("sgd-momentum", sgd_dampening).to_json(student="ada"))
    assert data["equation"] == "v_{t+1}" and "(1 - mu)" in data["where"]
    assert data["notes"] == []
