"""Compare a trajectory with the reference, find the first divergence, diagnose it.

Two trajectories *agree* when, at every step, they made the same number of gradient
evaluations and every evaluation point, loss and params-after-the-step satisfies
``|got - want| <= atol + rtol * |want|`` elementwise, with NaN agreeing only with NaN.
The first disagreement, in the order of a step (evaluation points and losses in
call order, then the params after the step, then the running statistics of a
batch-norm case), is the *first divergence*; a batch-norm case's evaluation logits
are compared last, after the final step.

Each case gets one verdict: ``pass``, ``FAIL``, ``precision`` ("matches up to
precision") or ``not driven``; FORMAT.md ("Verdicts") says when. A FAIL names each
pitfall whose mutant (:mod:`minimsam.crosscheck.mutants`; one, then every buildable pair)
the run agrees with, and the first equation that does not hold
(:mod:`minimsam.crosscheck.localise`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from minimsam.crosscheck.case import Case, Trajectory
from minimsam.crosscheck.localise import (
    Location,
    from_memory_free,
    localise,
    memory_free_symbol,
    reference_steps,
)
from minimsam.crosscheck.mutants import PITFALLS, Mutant, mutants_for, pairs
from minimsam.crosscheck.reference import run_reference

__all__ = [
    "ATOL",
    "PRECISION_RATIO",
    "PRECISION_RTOL",
    "RTOL",
    "CaseResult",
    "Diagnosis",
    "Divergence",
    "NotDriven",
    "Report",
    "check_case",
    "check_form",
    "compared",
    "exposed_pitfalls",
    "first_divergence",
    "json_safe",
    "max_difference",
    "mutant_trajectory",
    "required_rtol",
]

ATOL, RTOL = 1e-10, 1e-8  # float64 rounding over 10 steps stays below 1e-13 on these cases
PRECISION_RATIO = 1e3  # the nearest mutant is at least this much farther than the reference
PRECISION_RTOL = 1e-6  # and it is at most this times the largest param: rounding, not algebra
DIAGNOSED = ("bug", "step")  # the mutants tried one by one (pairs: "bug" only)
FORMS = ("standard", "memory-free")
"""How an implementation holds MSAM's (and AdamW-MSAM's) weights: ``w_t`` (standard), or
the perturbed point ``w~_t = w_t - rho_t u_t`` (memory-free, the paper's Algorithm 1)."""


def check_form(form: str) -> None:
    """A one-line ValueError unless ``form`` is one of :data:`FORMS`."""
    if form not in FORMS:
        raise ValueError(f"form must be one of {', '.join(FORMS)}, got {form!r}")


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
class NotDriven:
    """Why the runner could not drive the optimizer, what it found, what might fit."""

    reason: str
    found: list[str] = field(default_factory=list)
    fits: list[str] = field(default_factory=list)


@dataclass
class Precision:
    """A "matches up to precision" verdict: the likely cause and the rtol that accepts it."""

    cause: str
    rtol: float
    nearest_mutant_diff: float


@dataclass
class CaseResult:
    """The verdict on one case: ``pass``, ``FAIL``, ``precision`` or ``not driven``."""

    case: str
    passed: bool
    max_diff: float
    first_divergence: Divergence | None = None
    diagnoses: list[Diagnosis] = field(default_factory=list)
    nearest: str | None = None
    error: str | None = None
    verdict: str = ""
    precision: Precision | None = None
    not_driven: NotDriven | None = None
    location: str | None = None  # the first equation that does not hold (localise)
    equation: str | None = None  # the docs/optimizers.md equation it sits in (its left side)
    located: Location | None = field(default=None, repr=False)  # both, as localise found it

    def __post_init__(self):
        if not self.verdict:
            self.verdict = "pass" if self.passed else "FAIL"

    @property
    def summary(self) -> str:
        """One line: the diagnosis, or the nearest mutant as a hint."""
        if self.passed:
            return ""
        if self.not_driven is not None:
            return f"could not drive this optimizer: {self.not_driven.reason}"
        if self.precision is not None:
            p = self.precision
            return (
                f"matches up to precision (max |diff| {self.max_diff:.1e}, nearest mutant "
                f"{p.nearest_mutant_diff:.1e}); likely cause: {p.cause}; --rtol {p.rtol:.0e} "
                "accepts it"
            )
        if self.diagnoses:
            return "; ".join(str(d) for d in self.diagnoses)
        hint = f" (nearest: {self.nearest})" if self.nearest else ""
        return f"no known pitfall matches{hint}"

    def details(self) -> list[str]:
        """Further lines for the report: the equation that does not hold, or what was found
        and which adapters might fit."""
        if self.not_driven is None:
            return [f"where: {self.location}"] if self.location else []
        lines = [f"found: {f}" for f in self.not_driven.found]
        if self.not_driven.fits:
            lines.append("adapters that might fit: " + ", ".join(self.not_driven.fits))
        return lines


@dataclass
class Report:
    """The verdicts on all cases of one run, with what was run."""

    optimizer: str
    implementation: str
    adapter: str
    results: list[CaseResult]
    skipped: list[str] = field(default_factory=list)  # cases the runner cannot replay
    skip_reason: str = ""
    missing: list[str] = field(default_factory=list)  # cases a trajectory file lacks

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results) and not self.missing

    def to_dict(self) -> dict:
        """Plain data for JSON; an infinite difference becomes the string ``"inf"``."""
        data = asdict(self)
        for result in data["results"]:
            del result["located"]  # said by "location" and "equation"
        return json_safe({**data, "passed": self.passed})

    def format(self) -> str:
        """A readable table, one case a line, diagnoses indented below failures."""
        lines = [
            f"crosscheck  optimizer={self.optimizer}  implementation={self.implementation}"
            f"  adapter={self.adapter}",
            f"{'case':40s} {'result':10s} {'max |diff|':>10s}  first divergence",
        ]
        for r in self.results:
            where = str(r.first_divergence) if r.first_divergence else "-"
            diff = "-" if r.verdict == "not driven" else f"{r.max_diff:.2e}"
            lines.append(f"{r.case:40s} {r.verdict:10s} {diff:>10s}  {where}")
            if r.summary:
                label = "diagnosis" if r.verdict == "FAIL" else "verdict"
                lines.append(f"    {label}: {r.summary}")
            lines += [f"    {line}" for line in r.details()]
        lines.append(self.tally())
        return "\n".join(lines)

    def tally(self) -> str:
        """The last line: how many cases pass, and the other verdicts."""
        n = sum(r.passed for r in self.results)
        text = f"{n} of {len(self.results)} cases pass."
        if self.missing:
            total = len(self.results) + len(self.missing)
            gone = ", ".join(self.missing)
            text = (f"{len(self.results)} of {total} cases checked; missing: {gone} (name "
                    f"the cases meant with --case). {text}")  # fmt: skip
        precise = [r for r in self.results if r.verdict == "precision"]
        if precise:
            rtol = max(r.precision.rtol for r in precise)
            text += f" {len(precise)} match up to precision (--rtol {rtol:.0e} accepts them)."
        stuck = sum(r.verdict == "not driven" for r in self.results)
        if stuck:
            text += f" {stuck} could not be driven: no verdict on the algorithm there."
        if self.skipped:
            text += f" Skipped {', '.join(self.skipped)}: {self.skip_reason}."
        return text


def json_safe(value):
    """``value`` with every non-finite float a string (strict JSON has no NaN, no inf)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    return value


def _deltas(got, want) -> tuple[np.ndarray, np.ndarray] | None:
    """``(|got - want|, |want|)`` over the entries where ``want`` is not NaN (equal
    infinities differ by 0); None if the shapes or the places of NaN differ."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape or np.any(np.isnan(got) != np.isnan(want)):
        return None
    finite = ~np.isnan(want)
    with np.errstate(invalid="ignore"):  # inf - inf
        delta = np.abs(got[finite] - want[finite])
    return np.where(got[finite] == want[finite], 0.0, delta), np.abs(want[finite])


def _diff(got: np.ndarray, want: np.ndarray, atol: float, rtol: float) -> tuple[float, bool]:
    """``(max |got - want|, agree)``; a NaN/finite mismatch is an infinite difference."""
    deltas = _deltas(got, want)
    if deltas is None:
        return np.inf, False
    delta, size = deltas
    if not delta.size:
        return 0.0, True
    return float(np.max(delta)), bool(np.all(delta <= atol + rtol * size))


def _flat(tree: dict, at, names) -> np.ndarray:
    """``tree[k][at]`` for every ``k`` in ``names``, flattened into one vector."""
    return np.concatenate([np.asarray(tree[k][at]).ravel() for k in names])


def _quantities(got: Trajectory, want: Trajectory, t: int) -> Iterator[tuple[str, Any, Any]]:
    """The compared quantities of step ``t``, in the order the step computes them."""
    names = list(want.params)
    for e in range(int(want.grad_evals[t])):
        point = f"gradient evaluation {e + 1}: the point"
        yield point, _flat(got.eval_points, (t, e), names), _flat(want.eval_points, (t, e), names)
        loss = f"gradient evaluation {e + 1}: the loss"
        yield loss, got.eval_losses[t, e], want.eval_losses[t, e]
    yield "the params after the step", _flat(got.params, t, names), _flat(want.params, t, names)
    if want.stats:  # a run that recorded no statistics diverges there (a shape mismatch)
        have = all(k in got.stats and len(got.stats[k]) > t for k in want.stats)
        stats = _flat(got.stats, t, want.stats) if have else np.zeros(0)
        yield "the running statistics after the step", stats, _flat(want.stats, t, want.stats)


def _logits(trajectory: Trajectory) -> np.ndarray:
    """A batch-norm case's evaluation logits; empty if the run recorded none (a mismatch)."""
    return np.zeros(0) if trajectory.eval_logits is None else trajectory.eval_logits


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
    if want.eval_logits is not None:  # a batch-norm case: compared after the last step
        delta, ok = _diff(_logits(got), want.eval_logits, atol, rtol)
        if not ok:
            return Divergence(want.steps, "the evaluation logits after the last step", delta)
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
    """Max ``|got - want|`` over the params after every step, and over the running
    statistics and evaluation logits of a batch-norm case (inf on a NaN mismatch)."""
    if got.steps != want.steps:
        return np.inf
    deltas = [_diff(got.params[k], want.params[k], 0.0, 0.0)[0] for k in want.params]
    deltas += [_diff(got.stats.get(k, np.zeros(0)), want.stats[k], 0, 0)[0] for k in want.stats]
    if want.eval_logits is not None:
        deltas.append(_diff(_logits(got), want.eval_logits, 0.0, 0.0)[0])
    return max(deltas)


def _applicable(case: Case, candidates=None) -> list[Mutant]:
    candidates = mutants_for(case.optimizer, DIAGNOSED) if candidates is None else candidates
    return [m for m in candidates if m.applies_to(case)]


_CACHE: dict[tuple, Trajectory] = {}
_CACHE_LIMIT = 4096


def _fingerprint(case: Case) -> str:
    """Identifies a case's data (cases are rebuilt or re-read, so not by identity)."""
    digest = hashlib.sha256(case.name.encode())
    for k in sorted(case.reference.params):
        digest.update(np.ascontiguousarray(case.reference.params[k]).tobytes())
    return digest.hexdigest()


def mutant_trajectory(case: Case, mutant: Mutant) -> Trajectory:
    """The mutant's trajectory on ``case``: from the catalogue if shipped, else run (cached)."""
    if mutant.name in case.mutants:
        return case.mutants[mutant.name]
    key = (_fingerprint(case), mutant.name, mutant.restore, mutant.bn, mutant.reestimate)
    if key not in _CACHE:
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        _CACHE[key] = run_reference(
            case, mutant.cls, mutant.restore, bn=mutant.bn, reestimate=mutant.reestimate
        )
    return _CACHE[key]


def exposed_pitfalls(case: Case) -> list[str]:
    """The pitfalls ``case`` tells apart from the reference: those of the bug mutants whose
    trajectory leaves the reference's (FORMAT.md, "Pitfalls the cases expose")."""
    usable = [m for m in mutants_for(case.optimizer) if m.applies_to(case)]
    leave = [m for m in usable if first_divergence(mutant_trajectory(case, m), case.reference)]
    return list(dict.fromkeys(m.pitfall for m in leave))


def _diagnosis(mutant: Mutant) -> list[Diagnosis]:
    details = mutant.detail.split("; and ")  # a pair joins its two details so
    return [
        Diagnosis(p, mutant.name, f"{PITFALLS[p]} ({d})") for p, d in zip(mutant.pitfalls, details)
    ]


def _search(case, got, candidates, atol, rtol):
    """``(matching mutants, nearest name, nearest max |diff|)`` among ``candidates``."""
    found, nearest, nearest_diff = [], None, np.inf
    for mutant in _applicable(case, candidates):
        trajectory = mutant_trajectory(case, mutant)
        if first_divergence(trajectory, case.reference, atol, rtol) is None:
            continue  # this case cannot tell this mutant from the reference
        if _matches(got, trajectory, atol, rtol):
            found.append(mutant)
            continue
        delta = max_difference(got, trajectory)
        if delta < nearest_diff and _can_hint(case, got, mutant, delta):
            nearest, nearest_diff = f"{mutant.name}, max |diff| {delta:.2e}", delta
    return found, nearest, nearest_diff


def _can_hint(case: Case, got: Trajectory, mutant: Mutant, delta: float) -> bool:
    """A "nearest" hint only for a pitfall this case is built to show, and only when the
    run is closer to it than to the reference."""
    shown = set(mutant.pitfalls) <= set(case.pitfalls)
    return shown and delta < max_difference(got, case.reference)


def required_rtol(got: Trajectory, want: Trajectory, atol: float = ATOL) -> float:
    """The smallest rtol at which ``got`` agrees with ``want`` (with ``atol``); inf if
    none does (a NaN mismatch, another number of evaluations, a difference at a zero)."""
    if got.steps != want.steps or np.any(got.grad_evals != want.grad_evals):
        return np.inf
    pairs = [(a, b) for t in range(want.steps) for _, a, b in _quantities(got, want, t)]
    if want.eval_logits is not None:
        pairs.append((_logits(got), want.eval_logits))
    needed = 0.0
    for a, b in pairs:
        deltas = _deltas(a, b)
        if deltas is None:
            return np.inf
        delta, size = deltas
        over = delta > atol
        if np.any(over & (size == 0)):
            return np.inf
        if np.any(over):
            needed = max(needed, float(np.max((delta[over] - atol) / size[over])))
    return needed


def _rounded_up(value: float) -> float:
    """The next power of ten at or above ``value`` (tolerances are given that way)."""
    return 10.0 ** math.ceil(math.log10(value) - 1e-9)


def _precision_cause(case: Case, got: Trajectory, divergence: Divergence) -> str:
    """The float32 norm if the run stays exact until a perturbation is applied (step 0's
    first evaluation agrees) and differs about as much as the float32-norm mutant;
    otherwise rounding elsewhere."""
    generic = "rounding elsewhere (float32 arithmetic or another order of operations)"
    if divergence.step == 0 and divergence.quantity.startswith("gradient evaluation 1"):
        return generic  # wrong before any perturbation: the model or the params' precision
    delta = max_difference(got, case.reference)
    for mutant in mutants_for(case.optimizer, kind="precision"):
        size = max_difference(mutant_trajectory(case, mutant), case.reference)
        if 0 < size and 1e-2 <= delta / size <= 1e2:
            return f"{PITFALLS[mutant.pitfall]} (the {mutant.name} mutant is {size:.1e} away)"
    return generic


def _precision(case, got, divergence, nearest_diff, atol, rtol) -> Precision | None:
    """A "matches up to precision" verdict, or None: the largest difference is tiny next
    to the params (:data:`PRECISION_RTOL`) and to the nearest mutant's (:data:`PRECISION_RATIO`)."""
    delta = max_difference(got, case.reference)
    size = max(float(np.max(np.abs(p))) for p in case.reference.params.values())
    if not (np.isfinite(delta) and delta <= PRECISION_RTOL * size):
        return None
    if nearest_diff < PRECISION_RATIO * delta:
        return None
    needed = required_rtol(got, case.reference, atol)
    if not np.isfinite(needed):
        return None
    accept = max(_rounded_up(needed), rtol)
    if first_divergence(got, case.reference, atol, accept) is not None:
        accept *= 10  # the rounded rtol sits exactly on an element's bound
    if _accepts_a_pitfall(case, atol, accept):
        return None  # that tolerance would pass a real bug on this case: no such advice
    return Precision(_precision_cause(case, got, divergence), accept, nearest_diff)


def _accepts_a_pitfall(case: Case, atol: float, rtol: float) -> bool:
    """Whether ``rtol`` lets a pitfall listed for ``case`` pass as the reference."""
    listed = [m for m in _applicable(case) if set(m.pitfalls) <= set(case.pitfalls)]
    for mutant in listed:
        trajectory = mutant_trajectory(case, mutant)
        if first_divergence(trajectory, case.reference, atol, RTOL) is None:
            continue  # the case cannot show it at all
        if first_divergence(trajectory, case.reference, atol, rtol) is None:
            return True
    return False


def _perturbed_params(case: Case, got: Trajectory) -> str | None:
    """``"after step t ... = w - c * b"`` if the params read are the perturbed point: off
    by a multiple of a state buffer the runner read, or, when it read none that fits, of
    the reference's own buffer (state kept where the runner cannot see it), and by exactly
    rho[t] or rho[t + 1] in length, on the first step ``t`` whose params differ (step 0,
    unless the buffer after it is zero: a zero gradient there leaves nothing to perturb)."""
    want = case.reference
    if case.optimizer == "sam" or case.rho is None or got.steps == 0 or want.steps == 0:
        return None  # SAM has no form that keeps a perturbation: it was not undone
    divergence = first_divergence(got, want)  # the params differ, all before them agrees
    if divergence is None or divergence.quantity != "the params after the step":
        return None
    t, names = divergence.step, list(want.params)
    diff = _flat(got.params, t, names) - _flat(want.params, t, names)
    if not np.all(np.isfinite(diff)) or np.linalg.norm(diff) == 0:
        return None
    candidates = [(f"state[{b!r}]", _flat(arrays, t, names)) for b, arrays in got.buffers.items()]
    own = {} if case.has_stats else reference_steps(case)[t].outputs
    candidates += [(f"the reference's {b}_{t + 1}", own[b]) for b in ("v", "m") if b in own]
    for label, b in candidates:
        if b.shape != diff.shape or not np.all(np.isfinite(b)) or b @ b == 0:
            continue
        c = -float(diff @ b) / float(b @ b)
        length = abs(c) * float(np.sqrt(b @ b))  # a perturbation is rho long
        is_rho = any(abs(length - r) <= 1e-6 * r for r in case.rho[t : t + 2])
        if is_rho and np.linalg.norm(diff + c * b) <= 1e-6 * np.linalg.norm(diff):
            unseen = "" if label.startswith("state[") else (
                "; the runner found no state buffer holding it: the optimizer keeps its state "
                "where the runner cannot see it (outside optimizer.state)")  # fmt: skip
            return (
                f"after step {t} the params equal w - c * {label} with c = {c:.3g} (length "
                f"{length:.3g} = rho): the implementation keeps the perturbed point in its "
                f"params, and the runner read that point as the weights{unseen}"
            )
    return None


PERTURBED_FITS = [
    "--form memory-free (the params are the perturbed point of the paper's Algorithm 1)",
    "torch: --adapter move-back-up (it needs a move_back/move_up method pair)",
    "torch: an eval_params() method returning the unperturbed weights (--adapter step)",
    "jax: a transformation with an eval_params(params, state) field",
    "your own adapter whose unperturbed() removes the perturbation (--adapter module:Class)",
]


EVALUATION_FITS = [
    "torch: --adapter two-step for a first_step/second_step SAM, step for step(closure)",
    "jax: --calls-per-step 2 for a SAM in the optax.contrib.sam style (its sync_period)",
]


def compared(case: Case, got: Trajectory, atol: float, rtol: float, error=None) -> CaseResult:
    """Pass or fail, the max difference and the first divergence (where a run that raised
    stopped, if it agreed until then): a :class:`CaseResult` without a diagnosis."""
    divergence = first_divergence(got, case.reference, atol, rtol)
    if error is not None and (divergence is None or divergence.step == got.steps):
        divergence = Divergence(got.steps, f"raised {error}", np.inf)
    result = CaseResult(case.name, divergence is None, max_difference(got, case.reference))
    result.error, result.first_divergence = error, divergence
    return result


def check_case(
    case: Case,
    got: Trajectory,
    atol: float = ATOL,
    rtol: float = RTOL,
    error: str | None = None,
    form: str = "standard",
    not_driven: NotDriven | None = None,
) -> CaseResult:
    """The verdict on ``got`` for ``case``: pass/fail, first divergence, diagnosis, and
    the first equation that does not hold.

    ``error``: the exception of a run that raised; ``got`` then holds the steps done.
    ``form="memory-free"``: the params recorded are the perturbed point
    (:func:`~minimsam.crosscheck.localise.from_memory_free`). ``not_driven``: why the
    runner could not drive the optimizer (the verdict "not driven", none on the algorithm).
    """
    if not_driven is not None:
        return CaseResult(
            case.name, False, np.inf, error=error, verdict="not driven", not_driven=not_driven
        )
    if case.reference is None:
        raise ValueError(f"case {case.name!r} has no reference trajectory")
    check_form(form)
    memory_free = form == "memory-free"  # said by the user: the point is made by c_{t+1}
    if memory_free and _perturbed_params(case, got) is not None:
        got = from_memory_free(case, got)  # only params that are the perturbed point
    result = compared(case, got, atol, rtol, error)
    divergence = result.first_divergence
    if divergence is None:
        return result
    if divergence.step == 0 and "gradient evaluations, expected" in divergence.quantity:
        takes = "two per step: g^(1)_t = g(w_t), g(w_t + e_t)" if case.optimizer == "sam" else "one"
        reason = (
            f"step 0 made {divergence.quantity}: the optimizer was not driven the way "
            f"{case.optimizer} evaluates gradients, or its step takes another number of "
            f"gradients than the equations, which take {takes}"
        )
        result.verdict, result.not_driven = "not driven", NotDriven(reason, [], EVALUATION_FITS)
        return result
    perturbed = _perturbed_params(case, got)
    if perturbed is not None:
        result.verdict, result.not_driven = "not driven", NotDriven(perturbed, [], PERTURBED_FITS)
        return result
    found, nearest, nearest_diff = _search(case, got, None, atol, rtol)
    if not found and error is None:
        result.precision = _precision(case, got, divergence, nearest_diff, atol, rtol)
        if result.precision is not None:  # a mistake below the tolerance is placed too
            result.verdict = "precision"
            return _placed(result, case, got, memory_free)
    if not found and "gradient evaluations, expected" not in divergence.quantity:
        # pairs: every mutant evaluates as the reference does, so a pair cannot match
        # another number of evaluations
        found, pair_nearest, pair_diff = _search(case, got, pairs(case.optimizer), atol, rtol)
        nearest = pair_nearest if pair_diff < nearest_diff else nearest
    result.diagnoses = [d for m in found for d in _diagnosis(m)]
    result.nearest = None if found else nearest
    return _placed(result, case, got, memory_free)


def _placed(result: CaseResult, case: Case, got: Trajectory, memory_free: bool) -> CaseResult:
    result.located = localise(case, got, you=False)
    if result.located is not None:
        symbol = result.located.symbol
        result.location = str(result.located)
        result.equation = memory_free_symbol(symbol) if memory_free else symbol
    if result.precision and result.located is not None and result.located.kept_in_float32:
        cause = f"{result.equation} kept in float32, not the norm computed in float32"
        result.precision.cause = cause  # the localiser saw the buffer's numbers: not the norm
    return result
