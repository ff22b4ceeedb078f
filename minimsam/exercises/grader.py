"""Grade a student's step function on the golden cases: pass, or where and why it fails.

:func:`check` runs the step over every golden case of the exercise
(:func:`minimsam.exercises.catalogue.cases_for`), compares each trajectory with the
reference (:func:`minimsam.crosscheck.compare.check_case`: every gradient-evaluation
point, loss and ``w_{t+1}``, to ``|got - want| <= atol + rtol |want|``) and, for a
failing case, names the known mistake whose run the trajectory matches (the registry
of :mod:`minimsam.crosscheck.mutants`) and the first equation the step gets wrong
(:func:`minimsam.crosscheck.localise.localise`, which needs no list of mistakes).

The verdict is said once, then: the mistake, the equation where it sits, the first
difference (case, step, quantity, key and entry, expected and computed value), where a
NaN first appeared, and one line per failing case with what that case exercises.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from minimsam.crosscheck.case import Case, Trajectory
from minimsam.crosscheck.compare import ATOL, RTOL, CaseResult, check_case, json_safe
from minimsam.crosscheck.localise import Location, checks_every_equation, localise
from minimsam.exercises.catalogue import Exercise, cases_for, get
from minimsam.exercises.runner import (
    TIME_LIMIT,
    NotImplementedYet,
    graded_in,
    run_step_function,
)

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
    location: Location | None = None
    notes: list[str] = field(default_factory=list)  # remarks, and where a NaN appeared
    exercised: dict[str, str] = field(default_factory=dict)  # case -> what it exercises

    @property
    def passed(self) -> bool:
        return self.status == PASS

    def format(self) -> str:
        """The verdict, the equation where it goes wrong, the first difference, the cases."""
        lines = [self.message]
        if self.location is not None:
            lines.append(f"  where: case {self.location.case}, {self.location}")
        if self.mismatch is not None:
            lines.append(f"  first difference: {self.mismatch}")
        lines += [f"  note: {n}" for n in self.notes]
        if self.cases and not self.passed:
            n = sum(r.passed for r in self.cases)
            lines.append(f"  {n} of {len(self.cases)} golden cases pass; the others:")
            for r in (r for r in self.cases if not r.passed):
                lines.append(f"    {r.case:32s} ({self.exercised.get(r.case, '')})")
                lines.append(f"      {_case_line(r)}")
        return "\n".join(lines)

    __str__ = format

    def __repr__(self) -> str:
        status, pitfalls = self.status, self.pitfalls
        return f"ExerciseResult({self.exercise!r}, {status=}, {pitfalls=})"

    def to_dict(self) -> dict:
        """Plain data for one JSON line (non-finite numbers become strings)."""
        return json_safe(
            {
                "exercise": self.exercise,
                "function": self.function,
                "status": self.status,
                "passed": self.passed,
                "pitfalls": self.pitfalls,
                "message": self.message,
                "first_divergence": None if self.mismatch is None else vars(self.mismatch),
                "equation": None if self.location is None else self.location.equation.symbol,
                "where": None if self.location is None else str(self.location),
                "notes": self.notes,
                "cases_passed": sum(r.passed for r in self.cases),
                "cases": len(self.cases),
            }
        )

    def to_json(self, **extra) -> str:
        """One line of JSON: :meth:`to_dict`, with ``extra`` keys first."""
        return json.dumps({**json_safe(extra), **self.to_dict()})


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
            checks.append((f"the point passed to grad_fn (call {e + 1})", k, pair))
        loss_pair = (got.eval_losses[step, e], want.eval_losses[step, e])
        checks.append((f"the loss at the point passed to grad_fn (call {e + 1})", None, loss_pair))
    checks += [("w_next", k, (got.params[k][step], want.params[k][step])) for k in want.params]
    for what, key, (g, w) in checks:
        bad = _worst_entry(g, w, atol, rtol)
        if bad is not None:
            index, expected, value, abs_diff = bad
            return Mismatch(name, step, what, key, index, expected, value, abs_diff)
    return Mismatch(name, step, "a difference below the tolerance of this report")


# ----------------------------------------------------------------------------- grading


def exercised(case: Case) -> str:
    """What a case exercises, in a few words (weight decay, schedules, a zero gradient...)."""
    hp, parts = case.hyperparameters, []
    if hp.get("momentum", 1.0) == 0:
        parts.append("no momentum")
    if hp.get("weight_decay", 0) > 0:
        parts.append("weight decay")
    if len(set(case.lr)) > 1:
        parts.append("lr schedule")
    if case.rho is not None:
        parts.append(
            "rho changing every step" if len(set(case.rho)) > 1 else f"rho {case.rho[0]:g}"
        )
    if case.model["kind"] == "surface":
        zero = [str(t) for t in np.flatnonzero(case.batches["scale"] == 0)]
        parts.append(f"a zero gradient on step{'s' * (len(zero) > 1)} {' and '.join(zero)}")
    if case.restore_before_step is not None:
        parts.append(f"state saved and restored before step {case.restore_before_step}")
    return ", ".join(parts) or "plain steps"


_WORDS = {"gradient evaluation 1: the point": "the point passed to grad_fn",
          "gradient evaluation 2: the point": "the point passed to grad_fn (call 2)",
          "the params after the step": "w_next"}  # fmt: skip


def _case_line(r: CaseResult) -> str:
    """A failing case in the student's words: the step, what differs, the mistake."""
    div = r.first_divergence
    if r.error is not None:
        return f"step {div.step}: raised {r.error}"
    what = _WORDS.get(div.quantity, div.quantity.replace("gradient evaluation", "grad_fn call"))
    line = f"step {div.step}: {what} differs by up to {div.max_diff:.2e}"
    if r.diagnoses:
        line += f"; matches: {', '.join(d.pitfall for d in r.diagnoses)}"
    return line


def _grade_case(case: Case, exercise: Exercise, step: Callable, options: dict, notes: list):
    atol, rtol = options["atol"], options["rtol"]
    got, error = run_step_function(
        case, exercise, step, options["form"], options["time_limit"], notes
    )
    result = check_case(case, got, atol, rtol, error=error)
    if not result.passed and (result.verdict != "FAIL" or options["form"] != "standard"):
        result.located = localise(case, got, form=options["form"])  # check_case did not
    if error is not None and not error.startswith(ARITHMETIC_ERRORS):
        # crosscheck lets a run that raised match a mutant that turns NaN at that step
        # (a division by a zero norm); a TypeError or KeyError there is no missing EPS
        result.diagnoses = []
    result.nearest = None  # a hint for optimizers with state handling a step cannot have
    if result.not_driven is not None:  # e.g. grad_fn called another number of times
        result.verdict, result.not_driven = "FAIL", None
    return got, result  # result.error: the exception of a run that raised


def _first_nan(graded) -> str | None:
    """Where a NaN or inf first appeared in the failing cases: case, step, quantity, entry."""
    for case, got, result in graded:
        if result.passed:
            continue
        for t in range(got.steps):
            named = [(f"the point passed to grad_fn (call {e + 1})", got.eval_points, (t, e))
                     for e in range(int(got.grad_evals[t]))]  # fmt: skip
            named += [("w_next", got.params, (t,))]
            named += [(f"{b}_next", arrays, (t,)) for b, arrays in got.buffers.items()]
            for what, arrays, at in named:
                for k, x in arrays.items():
                    bad = np.flatnonzero(~np.isfinite(np.asarray(x[at])))
                    if bad.size:
                        index = np.unravel_index(int(bad[0]), np.shape(x[at]))
                        entry = ", ".join(map(str, index))
                        return (f"NaN or inf first appeared in case {case.name}, step {t}, "
                                f"in {what}[{k!r}][{entry}]")  # fmt: skip
    return None


def _order(location: Location | None) -> int:
    """Where a located equation comes in a step (its output computed first: 0)."""
    shown = ("point 1", "point 2", "v", "m", "s", "w")
    return len(shown) if location is None else shown.index(location.equation.shown)


def _failure(exercise: Exercise, name: str, graded: list, notes: list) -> ExerciseResult:
    failing = [g for g in graded if not g[2].passed]
    explained = [g for g in failing if g[2].diagnoses]
    # without a name: where every equation shows (not SGD at momentum 0, no buffer), the case
    # whose first wrong equation comes earliest in the step (a later one may only show there)
    full = [g for g in failing if checks_every_equation(g[0])] or failing
    headline = explained[0] if explained else min(full, key=lambda g: _order(g[2].located))
    case, got, result = headline
    error = result.error
    ids = list(dict.fromkeys(d.pitfall for g in (headline, *explained) for d in g[2].diagnoses))
    location = result.located and replace(result.located, you=True)  # in the student's words
    if error is not None and error.startswith("TimeoutError: "):
        message = f"FAIL  {exercise.name}: {error.removeprefix('TimeoutError: ')}"
    elif error is not None and not result.diagnoses:
        message = f"FAIL  {exercise.name}: {name} raised {error}"
    elif result.diagnoses:
        message = f"FAIL  {exercise.name}: " + "; ".join(str(d) for d in result.diagnoses)
    elif location is not None and location.memory_free:
        ids = ["memory_free_form"]
        message = (
            f"FAIL  {exercise.name}: {name} returns the perturbed point w~_{{t+1}}, the "
            "memory-free form of the paper's Algorithm 1; grade it with form='memory-free' "
            "(--form memory-free)"
        )
    else:
        where = f": {location.equation.text} does not hold" if location is not None else ""
        message = f"FAIL  {exercise.name}: no known pitfall matches{where}"
    mismatch = locate(case, got, result.first_divergence.step, error)
    nan = _first_nan(graded)
    if nan is not None and mismatch.got is not None and not math.isfinite(mismatch.got):
        nan = f"{mismatch.what} holds NaN or inf; " + nan
    cases = [g[2] for g in graded]
    return ExerciseResult(
        exercise.name, name, FAIL, message, ids, mismatch, cases, location,
        notes + ([nan] if nan else []), {g[0].name: exercised(g[0]) for g in graded},
    )  # fmt: skip


def grade(
    exercise: str | Exercise,
    step: Callable,
    atol: float = ATOL,
    rtol: float = RTOL,
    form: str = "standard",
    time_limit: float | None = TIME_LIMIT,
) -> ExerciseResult:
    """The :class:`ExerciseResult` of ``step`` on ``exercise``'s golden cases (no printing).

    ``form="memory-free"`` (the msam exercise): the step holds the perturbed point, as in
    the paper's Algorithm 1 (:mod:`minimsam.exercises.runner`). ``time_limit``: seconds
    each case may take (None: no limit).
    """
    exercise = exercise if isinstance(exercise, Exercise) else get(exercise)
    if not callable(step):
        raise TypeError(f"check needs the step function itself, got {type(step).__name__}")
    if form != "standard" and exercise.optimizer != "msam":
        raise ValueError(f"form={form!r} applies to the msam exercise only, not {exercise.name}")
    if time_limit is not None and not (isinstance(time_limit, (int, float)) and time_limit > 0):
        raise ValueError(f"time_limit must be a number of seconds > 0, got {time_limit!r}")
    name = getattr(step, "__name__", repr(step))
    cases = cases_for(exercise)
    graded, notes = [], []
    skipped = [c.name for c in cases if not graded_in(form, c)]
    options = {"form": form, "time_limit": time_limit, "atol": atol, "rtol": rtol}
    try:
        for case in (c for c in cases if c.name not in skipped):
            graded.append((case, *_grade_case(case, exercise, step, options, notes)))
            if (graded[-1][2].error or "").startswith("TimeoutError"):
                break  # a step that hangs once would cost the limit on every case
    except NotImplementedYet as err:
        message = f"NOT IMPLEMENTED YET  {exercise.name}: {err}; write the step in the stub"
        return ExerciseResult(exercise.name, name, NOT_IMPLEMENTED, message)
    if skipped:
        notes.append(
            f"not graded in the memory-free form: {', '.join(skipped)} (rho changes between "
            "steps, and a step given one rho cannot undo the previous step's perturbation)"
        )
    if any(not g[2].passed for g in graded):
        return _failure(exercise, name, graded, notes)
    worst = max(g[2].max_diff for g in graded)
    message = (
        f"PASS  {exercise.name}: {name} agrees with the reference on all {len(graded)} golden "
        f"cases (max |diff| {worst:.1e})"
    )
    return ExerciseResult(exercise.name, name, PASS, message, cases=[g[2] for g in graded],
                          notes=notes)  # fmt: skip


def check(
    exercise: str,
    step: Callable,
    atol: float = ATOL,
    rtol: float = RTOL,
    quiet: bool = False,
    form: str = "standard",
    time_limit: float | None = TIME_LIMIT,
) -> ExerciseResult:
    """Grade ``step`` as ``exercise`` (``"sgd-momentum"``, ``"nag"``, ``"sam"``, ``"msam"``).

    Prints the verdict (unless ``quiet``) and returns the :class:`ExerciseResult`;
    ``result.passed`` is True on a pass. A stub that returns None or raises
    ``NotImplementedError`` gets the status ``"not implemented"``, not an exception.
    ``form`` and ``time_limit`` as in :func:`grade`.
    """
    result = grade(exercise, step, atol, rtol, form, time_limit)
    if not quiet:
        print(result.format())
    return result
