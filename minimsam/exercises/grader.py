"""Grade a student's step function on the golden cases: pass, or where and why it fails.

:func:`check` runs the step over every golden case of the exercise
(:func:`minimsam.exercises.catalogue.cases_for`), compares each trajectory with the
reference (:func:`minimsam.crosscheck.compare.check_case`: every gradient-evaluation
point, loss and ``w_{t+1}``, to ``|got - want| <= atol + rtol |want|``) and, for a
failing case, names the pitfall whose mutant the trajectory matches (the crosscheck
mutants and :mod:`minimsam.exercises.pitfalls`).

The verdict names the first diverging step of the first failing case that a pitfall
explains (else of the first failing case), which quantity differs (the point given to
``grad_fn``, its loss, or ``w_next``), the key and entry with the largest difference,
the expected and the computed value, and the pitfall.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from minimsam.crosscheck.case import Case, Trajectory
from minimsam.crosscheck.compare import ATOL, RTOL, CaseResult, check_case
from minimsam.exercises.catalogue import Exercise, cases_for, get
from minimsam.exercises.runner import NotImplementedYet, run_step_function

__all__ = ["ExerciseResult", "Mismatch", "check", "grade"]

PASS, FAIL, NOT_IMPLEMENTED = "pass", "fail", "not implemented"
ARITHMETIC_ERRORS = ("ZeroDivisionError", "FloatingPointError")  # what a zero norm raises


@dataclass
class Mismatch:
    """The first quantity of a step that differs, at its entry with the largest difference.

    ``abs_diff`` is that entry's ``|got - expected|`` (inf where one of them is NaN).
    """

    case: str
    step: int
    what: str  # "w_next", "grad_fn call 1: x", "grad_fn call 1: loss", or what went wrong
    key: str | None = None
    index: list[int] | None = None
    expected: float | None = None
    got: float | None = None
    abs_diff: float = math.inf

    def __str__(self) -> str:
        where = f"case {self.case}, step {self.step}: "
        if self.key is None and self.expected is None:
            return where + self.what
        entry = self.what if self.key is None else f"{self.what}[{self.key!r}]"
        if self.index:
            entry += "[" + ", ".join(map(str, self.index)) + "]"
        largest = ", the largest in this array" if self.index else ""
        return (
            f"{where}{entry}: expected {self.expected:.12g}, got {self.got:.12g} "
            f"(|diff| {self.abs_diff:.2e}{largest})"
        )


@dataclass
class ExerciseResult:
    """The grade of one exercise: status, the headline mismatch and pitfalls, every case."""

    exercise: str
    function: str
    status: str  # "pass", "fail" or "not implemented"
    message: str  # one line
    pitfalls: list[str] = field(default_factory=list)
    mismatch: Mismatch | None = None
    cases: list[CaseResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == PASS

    def format(self) -> str:
        """The headline, the first divergence, and one line per case."""
        lines = [self.message]
        if self.mismatch is not None:
            lines.append(f"  first divergence: {self.mismatch}")
        if self.cases:
            n = sum(r.passed for r in self.cases)
            lines.append(f"  {n} of {len(self.cases)} golden cases pass:")
        for r in self.cases:
            where = f"  {r.first_divergence}" if r.first_divergence else ""
            lines.append(f"    {r.case:34s} {'pass' if r.passed else 'FAIL'}{where}")
            if r.diagnoses:
                lines.append(f"      pitfall: {', '.join(d.pitfall for d in r.diagnoses)}")
            elif not r.passed and r.error is None:
                lines.append(f"      {r.summary}")
        return "\n".join(lines)

    __str__ = format

    def __repr__(self) -> str:
        status, pitfalls = self.status, self.pitfalls
        return f"ExerciseResult({self.exercise!r}, {status=}, {pitfalls=})"

    def to_dict(self) -> dict:
        """Plain data for one JSON line (non-finite numbers become strings)."""
        return _json_safe(
            {
                "exercise": self.exercise,
                "function": self.function,
                "status": self.status,
                "passed": self.passed,
                "pitfalls": self.pitfalls,
                "message": self.message,
                "first_divergence": None if self.mismatch is None else vars(self.mismatch),
                "cases_passed": sum(r.passed for r in self.cases),
                "cases": len(self.cases),
            }
        )

    def to_json(self, **extra) -> str:
        """One line of JSON: :meth:`to_dict`, with ``extra`` keys first."""
        return json.dumps({**_json_safe(extra), **self.to_dict()})


def _json_safe(value):
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


# ----------------------------------------------------------------------------- locating


def _worst_entry(got, want, atol: float, rtol: float):
    """``(index, expected, got, max |diff|)`` of the worst entry, or None if all agree."""
    got, want = np.atleast_1d(np.asarray(got, float)), np.atleast_1d(np.asarray(want, float))
    with np.errstate(invalid="ignore"):
        delta = np.where(got == want, 0.0, np.abs(got - want))
    bad = np.isnan(got) != np.isnan(want)
    bad |= ~np.isnan(want) & ~(delta <= atol + rtol * np.abs(want))
    if not bad.any():
        return None
    badness = np.where(bad, np.nan_to_num(delta, nan=np.inf), -1.0)
    flat = int(np.argmax(badness))
    index = [int(i) for i in np.unravel_index(flat, want.shape)] if want.size > 1 else []
    return index, float(want.ravel()[flat]), float(got.ravel()[flat]), float(badness.ravel()[flat])


def locate(
    case: Case, got: Trajectory, step: int, error: str | None, atol=ATOL, rtol=RTOL
) -> Mismatch:
    """The first differing quantity of ``step`` (in the order the step computes them)."""
    want, name = case.reference, case.name
    if step >= got.steps:
        return Mismatch(name, step, f"the step raised {error}" if error else "the run stopped")
    n_got, n_want = int(got.grad_evals[step]), int(want.grad_evals[step])
    if n_got != n_want:
        return Mismatch(name, step, f"grad_fn called {n_got} times, expected {n_want}")
    checks = []
    for e in range(n_want):
        for k in want.params:
            pair = (got.eval_points[k][step, e], want.eval_points[k][step, e])
            checks.append((f"grad_fn call {e + 1}: x", k, pair))
        loss_pair = (got.eval_losses[step, e], want.eval_losses[step, e])
        checks.append((f"grad_fn call {e + 1}: the loss at x", None, loss_pair))
    checks += [("w_next", k, (got.params[k][step], want.params[k][step])) for k in want.params]
    for what, key, (g, w) in checks:
        bad = _worst_entry(g, w, atol, rtol)
        if bad is not None:
            index, expected, value, abs_diff = bad
            return Mismatch(name, step, what, key, index, expected, value, abs_diff)
    return Mismatch(name, step, "a difference below the tolerance of this report")


# ----------------------------------------------------------------------------- grading


def _grade_case(case: Case, exercise: Exercise, step: Callable, atol: float, rtol: float):
    got, error = run_step_function(case, exercise, step)
    result = check_case(case, got, atol, rtol, error=error)
    if error is not None and not error.startswith(ARITHMETIC_ERRORS):
        # crosscheck lets a run that raised match a mutant that turns NaN at that step
        # (a division by a zero norm); a TypeError or KeyError there is no missing EPS
        result.diagnoses, result.nearest = [], None
    elif not result.passed:
        # the nearest crosscheck mutant is no hint for a student's step: many of them
        # model state handling that a step function cannot get wrong
        result.nearest = None
    return got, error, result


def _failure(exercise: Exercise, name: str, graded: list) -> ExerciseResult:
    failing = [g for g in graded if not g[3].passed]
    explained = [g for g in failing if g[3].diagnoses]
    headline = (explained or failing)[0]
    case, got, error, result = headline
    ids = [d.pitfall for g in (headline, *explained) for d in g[3].diagnoses]
    message = f"FAIL  {exercise.name}: {result.summary}"
    if error is not None and not result.diagnoses:
        message = f"FAIL  {exercise.name}: {name} raised {error}"
    mismatch = locate(case, got, result.first_divergence.step, error)
    cases = [g[3] for g in graded]
    ids = list(dict.fromkeys(ids))
    return ExerciseResult(exercise.name, name, FAIL, message, ids, mismatch, cases)


def grade(
    exercise: str | Exercise, step: Callable, atol: float = ATOL, rtol: float = RTOL
) -> ExerciseResult:
    """The :class:`ExerciseResult` of ``step`` on ``exercise``'s golden cases (no printing)."""
    exercise = exercise if isinstance(exercise, Exercise) else get(exercise)
    if not callable(step):
        raise TypeError(f"check needs the step function itself, got {type(step).__name__}")
    name = getattr(step, "__name__", repr(step))
    graded = []
    try:
        for case in cases_for(exercise):
            graded.append((case, *_grade_case(case, exercise, step, atol, rtol)))
    except NotImplementedYet as err:
        message = f"NOT IMPLEMENTED YET  {exercise.name}: {err}; write the step in the stub"
        return ExerciseResult(exercise.name, name, NOT_IMPLEMENTED, message)
    if any(not g[3].passed for g in graded):
        return _failure(exercise, name, graded)
    worst = max(g[3].max_diff for g in graded)
    message = (
        f"PASS  {exercise.name}: {name} agrees with the reference on all {len(graded)} golden "
        f"cases (max |diff| {worst:.1e})"
    )
    return ExerciseResult(exercise.name, name, PASS, message, cases=[g[3] for g in graded])


def check(
    exercise: str, step: Callable, atol: float = ATOL, rtol: float = RTOL, quiet: bool = False
) -> ExerciseResult:
    """Grade ``step`` as ``exercise`` (``"sgd-momentum"``, ``"nag"``, ``"sam"``, ``"msam"``).

    Prints the verdict (unless ``quiet``) and returns the :class:`ExerciseResult`;
    ``result.passed`` is True on a pass. A stub that returns None or raises
    ``NotImplementedError`` gets the status ``"not implemented"``, not an exception.
    """
    result = grade(exercise, step, atol, rtol)
    if not quiet:
        print(result.format())
    return result
