"""Compare a trajectory with the reference, find the first divergence, diagnose it.

Two trajectories *agree* when, at every step, they made the same number of gradient
evaluations and every evaluation point, loss and params-after-the-step satisfies
``|got - want| <= atol + rtol * |want|`` elementwise, with NaN agreeing only with NaN.
The first disagreement, in the order of a step (evaluation points and losses in
call order, then the params after the step), is the *first divergence*.

Diagnosis: when a case fails, every mutant of :mod:`minimsam.crosscheck.mutants`
that the case can tell apart from the reference is run on it; each mutant whose
trajectory the implementation's agrees with names a pitfall. If none agrees, the
nearest mutant (smallest max difference of the params) is reported as a hint.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from minimsam.crosscheck.case import Case, Trajectory
from minimsam.crosscheck.mutants import PITFALLS, Mutant, mutants_for
from minimsam.crosscheck.reference import run_reference

__all__ = [
    "ATOL",
    "RTOL",
    "CaseResult",
    "Diagnosis",
    "Divergence",
    "Report",
    "check_case",
    "diagnose",
    "first_divergence",
    "max_difference",
]

ATOL, RTOL = 1e-10, 1e-8  # float64 rounding over 10 steps stays below 1e-13 on these cases


@dataclass
class Divergence:
    """Where two trajectories first disagree: the step, the quantity and its max |diff|."""

    step: int
    quantity: str
    max_diff: float

    def __str__(self) -> str:
        return f"step {self.step}, {self.quantity} (max |diff| {self.max_diff:.2e})"


@dataclass
class Diagnosis:
    """A pitfall whose mutant the implementation matches."""

    pitfall: str
    mutant: str
    explanation: str

    def __str__(self) -> str:
        return f"{self.pitfall}: {self.explanation}"


@dataclass
class CaseResult:
    """The verdict on one case."""

    case: str
    passed: bool
    max_diff: float
    first_divergence: Divergence | None = None
    diagnoses: list[Diagnosis] = field(default_factory=list)
    nearest: str | None = None
    error: str | None = None

    @property
    def summary(self) -> str:
        """One line: the diagnosis, or the nearest mutant as a hint."""
        if self.passed:
            return ""
        if self.diagnoses:
            return "; ".join(str(d) for d in self.diagnoses)
        return f"no known pitfall matches{f' (nearest: {self.nearest})' if self.nearest else ''}"


@dataclass
class Report:
    """The verdicts on all cases of one run, with what was run."""

    optimizer: str
    implementation: str
    adapter: str
    results: list[CaseResult]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    def to_dict(self) -> dict:
        """Plain data for JSON; an infinite difference becomes the string ``"inf"``."""
        return _json_safe({**asdict(self), "passed": self.passed})

    def format(self) -> str:
        """A readable table, one case a line, diagnoses indented below failures."""
        lines = [
            f"crosscheck  optimizer={self.optimizer}  implementation={self.implementation}"
            f"  adapter={self.adapter}",
            f"{'case':40s} {'result':6s} {'max |diff|':>10s}  first divergence",
        ]
        for r in self.results:
            where = str(r.first_divergence) if r.first_divergence else "-"
            verdict = "pass" if r.passed else "FAIL"
            lines.append(f"{r.case:40s} {verdict:6s} {r.max_diff:10.2e}  {where}")
            if r.summary:
                lines.append(f"    diagnosis: {r.summary}")
        n = sum(r.passed for r in self.results)
        lines.append(f"{n} of {len(self.results)} cases pass.")
        return "\n".join(lines)


def _json_safe(value):
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    return value


def _diff(got: np.ndarray, want: np.ndarray, atol: float, rtol: float) -> tuple[float, bool]:
    """``(max |got - want|, agree)``; a NaN/finite mismatch is an infinite difference."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return np.inf, False
    nan_got, nan_want = np.isnan(got), np.isnan(want)
    if np.any(nan_got != nan_want):
        return np.inf, False
    finite = ~nan_want
    if not np.any(finite):
        return 0.0, True
    with np.errstate(invalid="ignore"):  # inf - inf
        delta = np.abs(got[finite] - want[finite])
    delta = np.where(got[finite] == want[finite], 0.0, delta)  # equal infinities agree
    ok = bool(np.all(delta <= atol + rtol * np.abs(want[finite])))
    return float(np.max(delta)), ok


def _quantities(got: Trajectory, want: Trajectory, t: int) -> Iterator[tuple[str, Any, Any]]:
    """The compared quantities of step ``t``, in the order the step computes them."""
    for e in range(int(want.grad_evals[t])):
        yield (
            f"gradient evaluation {e + 1}: the point",
            np.concatenate([got.eval_points[k][t, e].ravel() for k in want.params]),
            np.concatenate([want.eval_points[k][t, e].ravel() for k in want.params]),
        )
        yield (
            f"gradient evaluation {e + 1}: the loss",
            got.eval_losses[t, e],
            want.eval_losses[t, e],
        )
    yield (
        "the params after the step",
        np.concatenate([got.params[k][t].ravel() for k in want.params]),
        np.concatenate([want.params[k][t].ravel() for k in want.params]),
    )


def first_divergence(
    got: Trajectory, want: Trajectory, atol: float = ATOL, rtol: float = RTOL
) -> Divergence | None:
    """The first place where ``got`` disagrees with ``want``, or None if they agree.

    A ``got`` with fewer steps (a run that raised) diverges where it stopped.
    """
    for t in range(min(got.steps, want.steps)):
        n_got, n_want = int(got.grad_evals[t]), int(want.grad_evals[t])
        if n_got != n_want:
            return Divergence(t, f"{n_got} gradient evaluations, expected {n_want}", np.inf)
        for quantity, a, b in _quantities(got, want, t):
            delta, ok = _diff(a, b, atol, rtol)
            if not ok:
                return Divergence(t, quantity, delta)
    if got.steps != want.steps:
        return Divergence(min(got.steps, want.steps), "the run stopped here", np.inf)
    return None


def _non_finite_at(trajectory: Trajectory, t: int) -> bool:
    """Step ``t`` of ``trajectory`` has a NaN or inf loss or params."""
    losses = trajectory.eval_losses[t, : int(trajectory.grad_evals[t])]
    values = [losses, *(p[t] for p in trajectory.params.values())]
    return not all(np.all(np.isfinite(v)) for v in values)


def _matches(got: Trajectory, mutant: Trajectory, atol: float, rtol: float) -> bool:
    """``got`` agrees with ``mutant``; a run that raised agrees if it stopped exactly
    where the mutant turns NaN (e.g. a division by a zero norm) and agreed before."""
    divergence = first_divergence(got, mutant, atol, rtol)
    if divergence is None:
        return True
    stopped = got.steps < mutant.steps and divergence.step == got.steps
    return stopped and _non_finite_at(mutant, got.steps)


def max_difference(got: Trajectory, want: Trajectory) -> float:
    """Max ``|got - want|`` over the params after every step (inf on a NaN mismatch)."""
    if got.steps != want.steps:
        return np.inf
    return max(_diff(got.params[k], want.params[k], 0.0, 0.0)[0] for k in want.params)


def _applicable(case: Case) -> list[Mutant]:
    return [
        m
        for m in mutants_for(case.optimizer)
        if m.restore == "keep" or case.restore_before_step is not None
    ]


def diagnose(
    case: Case, got: Trajectory, atol: float = ATOL, rtol: float = RTOL
) -> tuple[list[Diagnosis], str | None]:
    """The pitfalls whose mutants ``got`` matches, and the nearest mutant if none does."""
    found, nearest, nearest_diff = [], None, np.inf
    for mutant in _applicable(case):
        trajectory = run_reference(case, mutant.cls, mutant.restore)
        if first_divergence(trajectory, case.reference, atol, rtol) is None:
            continue  # this case cannot tell this mutant from the reference
        if _matches(got, trajectory, atol, rtol):
            found.append(
                Diagnosis(
                    mutant.pitfall, mutant.name, f"{PITFALLS[mutant.pitfall]} ({mutant.detail})"
                )
            )
            continue
        delta = max_difference(got, trajectory)
        if delta < nearest_diff:
            nearest, nearest_diff = f"{mutant.name}, max |diff| {delta:.2e}", delta
    return found, (None if found else nearest)


def check_case(
    case: Case, got: Trajectory, atol: float = ATOL, rtol: float = RTOL, error: str | None = None
) -> CaseResult:
    """The verdict on ``got`` for ``case``: pass/fail, first divergence, diagnosis.

    ``error``: the exception of a run that raised; ``got`` then holds the steps done.
    """
    if case.reference is None:
        raise ValueError(f"case {case.name!r} has no reference trajectory")
    divergence = first_divergence(got, case.reference, atol, rtol)
    if error is not None and (divergence is None or divergence.step == got.steps):
        divergence = Divergence(got.steps, f"raised {error}", np.inf)
    result = CaseResult(case.name, divergence is None, max_difference(got, case.reference))
    result.error = error
    if divergence is not None:
        result.first_divergence = divergence
        result.diagnoses, result.nearest = diagnose(case, got, atol, rtol)
    return result
