"""Find the equation a wrong step gets wrong, and say how, from the numbers alone.

The reference knows every intermediate of a step (MSAM: ``u``, ``w~``, ``g``, ``d``,
``v_{t+1}``, ``w_{t+1}``; docs/optimizers.md). An implementation shows some of them:
the points it passes to ``grad_fn``, the params it returns and, for a step function,
the buffers it returns. :func:`localise` walks the steps of a run and, on each, the
shown quantities in the order the step computes them, each recomputed from the
implementation's *own* inputs of that step (its ``w_t`` and ``v_t``). The first one
that differs while everything before it agrees is the equation that is wrong::

    step 1: the point you pass to grad_fn, w~_t = w_t - rho_t u_t, agrees;
    v_{t+1} = mu v_t + d_t, d_t = g(w~_t) + lam w~_t, does not: yours is
    mu v_t + g(w~_t) + lam w_t, so lam w_t stands where the equation has lam w~_t

The difference is then described from the numbers, without a list of known bugs:
the value is written as a short combination (up to three terms) of the step's named
vectors (``w_t``, ``v_t``, ``g(w~_t)``, ``v_{t+1}``, ...) with coefficients recognised
as the step's scalars (``lr``, ``mu``, ``1 - mu``, ``rho / ||v_t||``, ...), and
compared term by term with the equation's own combination: a sign flipped, a factor,
a term missing or extra, one vector in place of another, a NaN and where it appeared,
a perturbation normalised tensor by tensor or along the equation's with another length,
an input scaled by a factor no scalar names (a clipped gradient). Where the numbers show
it, the mistake is placed behind the first wrong output: a point made right (the decay
is taken there) but not given to ``grad_fn`` sits in ``d_t``; one vector standing for
``w_t`` in the decay and in the update is a step that carries on from it, ``w_{t+1}``.
A failing run in which nothing differs by the tolerance is walked again at float64's
rounding.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from minimsam.crosscheck import describe, problems
from minimsam.crosscheck.case import Case, Trajectory
from minimsam.crosscheck.describe import PRECISION, SCALAR_RTOL
from minimsam.crosscheck.reference import run_reference, shifted
from minimsam.optim.base import EPS

__all__ = [
    "EQUATIONS",
    "Equation",
    "Location",
    "checks_every_equation",
    "from_memory_free",
    "localise",
    "memory_free_symbol",
    "reference_steps",
]

AGREE_ATOL, AGREE_RTOL = 1e-10, 1e-8  # as the comparison of trajectories


@dataclass(frozen=True)
class Equation:
    """One shown quantity of a step: its symbol, the equation that makes it, how it is shown.

    ``shown`` is ``"point 1"``, ``"point 2"`` (the points passed to ``grad_fn``),
    ``"w"`` (the params returned) or the name of a returned buffer (``"v"``, ``"m"``...).
    """

    symbol: str
    text: str
    shown: str

    def words(self, you: bool) -> str:
        """What the implementation shows, in its own terms."""
        if self.shown.startswith("point"):
            call = f" (call {self.shown[-1]})" if self.shown != "point 1" else ""
            return f"the point {'you pass' if you else 'passed'} to grad_fn{call}"
        if not you:
            return "the params after the step" if self.shown == "w" else f"the {self.shown} kept"
        return f"the {_output_name(self.shown)} you return"


_W_NEXT = Equation("w_{t+1}", "w_{t+1} = w_t - lr v_{t+1}", "w")
_M_NEXT = Equation("m_{t+1}", "m_{t+1} = b1 m_t + (1 - b1) g", "m")
_S_NEXT = Equation("s_{t+1}", "s_{t+1} = b2 s_t + (1 - b2) g^2", "s")
_ADAM = "A_{t+1} = m_{t+1} / ((1 - b1^k) (sqrt(s_{t+1} / (1 - b2^k)) + eps))"
_AT_W = Equation("x_t", "the gradient is taken at w_t", "point 1")


def _momentum_method(*points: Equation, d: str) -> tuple[Equation, ...]:
    """The gradient point(s), ``v_{t+1} = mu v_t + d_t`` with this ``d_t``, ``w_{t+1}``."""
    return (*points, Equation("v_{t+1}", f"v_{{t+1}} = mu v_t + d_t, d_t = {d}", "v"), _W_NEXT)


EQUATIONS: dict[str, tuple[Equation, ...]] = {
    "sgd": _momentum_method(_AT_W, d="g(w_t) + lam w_t"),
    "nag": _momentum_method(
        Equation("a_t", "a_t = w_t - lr mu v_t (the look-ahead point)", "point 1"),
        d="g(a_t) + lam a_t",
    ),
    "sam": _momentum_method(
        Equation("x_t", "the first gradient is taken at w_t", "point 1"),
        Equation("w_t + e_t", "w_t + e_t, e_t = rho_t g(w_t) / (||g(w_t)|| + EPS)", "point 2"),
        d="g(w_t + e_t) + lam w_t",
    ),
    "msam": _momentum_method(
        Equation("w~_t", "w~_t = w_t - rho_t u_t, u_t = v_t / (||v_t|| + EPS)", "point 1"),
        d="g(w~_t) + lam w~_t",
    ),
    "adamw": (
        _AT_W,
        _M_NEXT,
        _S_NEXT,
        Equation("w_{t+1}", f"w_{{t+1}} = w_t (1 - lr lam) - lr A_{{t+1}}, {_ADAM}", "w"),
    ),
    "adamw-msam": (
        Equation("w~_t", "w~_t = w_t - c_t m_t, c_t = rho_t / (||m_t|| + EPS)", "point 1"),
        _M_NEXT,
        _S_NEXT,
        Equation("w_{t+1}", f"w_{{t+1}} = (w_t - lr A_{{t+1}}) (1 - lr lam), {_ADAM}", "w"),
    ),
}
_NEXT_PERTURBED = "the next perturbed point w_{t+1} - rho u_{t+1}"
_BUFFERS = ("v", "m", "s")
BUFFER = {o: tuple(e.shown for e in eqs if e.shown in _BUFFERS) for o, eqs in EQUATIONS.items()}
"""The buffers a step of each optimizer returns (``v``; AdamW's ``m`` and ``s``)."""


# ----------------------------------------------------------------------------- one step


def _flat(tree: dict, keys, index=()) -> np.ndarray:
    """The params-shaped ``tree`` (each array at ``index``: a step, a step and a call) as one
    float64 vector, in the order of ``keys``."""
    return np.concatenate([np.asarray(tree[k][index], dtype=np.float64).ravel() for k in keys])


def _layout(case: Case) -> tuple[list[str], list[int]]:
    """The case's param names and where each one's part of a flat vector ends (less the last)."""
    keys = list(case.init)
    return keys, list(itertools.accumulate(int(np.size(case.init[k])) for k in keys))[:-1]


class _Step:
    """The reference's intermediates of one step, from given inputs, as flat vectors.

    ``vectors`` maps display names to flat vectors (the basis the differences are
    described in); ``outputs`` maps each shown quantity (``"point 1"``, ``"v"``, ``"w"``)
    to its expected value; ``scalars`` names the step's numbers.
    """

    def __init__(self, optimizer, w, buffers, grad, hp, t, split):
        self.split, self.vectors, self.outputs, self.hp, self.grad = split, {}, {}, hp, grad
        self.decay_at = None  # the point the weight decay is taken at, where it is a point
        self.scalars = _base_scalars(hp)
        getattr(self, "_" + optimizer.replace("-", "_"))(w, buffers, grad, hp, t)

    def _momentum(self, w, v, g, hp, decay_point):
        lr, mu, lam = hp["lr"], hp["momentum"], hp["weight_decay"]
        d = g + lam * decay_point
        v_next = mu * v + d
        if hp.get("nesterov"):
            w_next = w - lr * (d + mu * v_next)
        else:  # at momentum 0, v_{t+1} = d_t
            w_next = w - lr * v_next
        self.outputs.update({"v": v_next, "w": w_next})
        self.vectors.update({"v_{t+1}": v_next, "w_{t+1}": w_next})
        self.scalars.update(_norm_scalars("v_{t+1}", np.linalg.norm(v_next), hp["rho"])
                            if "rho" in hp else {})  # fmt: skip

    def _at(self, w, b, grad, hp, name: str, x):
        """One gradient, at the point ``x`` named ``name``, taken and decayed there."""
        g = grad(x)
        self.outputs["point 1"] = x
        self.vectors.update({"w_t": w, "v_t": b["v"], f"g({name})": g})
        self.vectors.update({name: x, "g(w_t)": grad(w)} if name != "w_t" else {})
        self._momentum(w, b["v"], g, hp, x)
        self.decay_at = x if name != "w_t" else None

    def _sgd(self, w, b, grad, hp, t):
        self._at(w, b, grad, hp, "w_t", w)
        if hp["momentum"] == 0:  # no buffer at momentum 0 (as in PyTorch): w_{t+1} = w_t - lr d_t
            del self.outputs["v"], self.vectors["v_{t+1}"]

    def _nag(self, w, b, grad, hp, t):
        self._at(w, b, grad, hp, "a_t", w - hp["lr"] * hp["momentum"] * b["v"])

    def _sam(self, w, b, grad, hp, t):
        v, g1 = b["v"], grad(w)
        n1 = np.linalg.norm(g1)
        wp = w + hp["rho"] / (n1 + EPS) * g1
        g2 = grad(wp)
        self.scalars.update(_norm_scalars("g(w_t)", n1, hp["rho"]))
        self.outputs.update({"point 1": w, "point 2": wp})
        self.vectors.update({"w_t": w, "v_t": v, "g(w_t + e_t)": g2, "g(w_t)": g1,
                             "w_t + e_t": wp})  # fmt: skip
        self._momentum(w, v, g2, hp, w)

    def _along(self, w, b, name: str, hp):
        """``w - rho b / (||b|| + EPS)``, and the scalars of that normalisation."""
        norm = np.linalg.norm(b)
        self.scalars.update(_norm_scalars(name, norm, hp["rho"], hp.get("rho_prev")))
        return w - hp["rho"] / (norm + EPS) * b

    def _msam(self, w, b, grad, hp, t):
        self._at(w, b, grad, hp, "w~_t", self._along(w, b["v"], "v_t", hp))
        w_next, v_next = self.outputs["w"], self.outputs["v"]
        self.vectors[_NEXT_PERTURBED] = w_next - hp["rho"] / (np.linalg.norm(v_next) + EPS) * v_next

    def _adam(self, w, b, x, g, hp, t, decay_first):
        lr, lam, eps, (b1, b2), k = hp["lr"], hp["weight_decay"], hp["eps"], hp["betas"], t + 1
        m, s = b["m"], b["s"]
        m_next, s_next = b1 * m + (1 - b1) * g, b2 * s + (1 - b2) * g * g
        adam = m_next / (1 - b1**k) / (np.sqrt(s_next) / math.sqrt(1 - b2**k) + eps)
        w_next = (1 - lr * lam) * w - lr * adam if decay_first else (w - lr * adam) * (1 - lr * lam)
        self.outputs.update({"point 1": x, "m": m_next, "s": s_next, "w": w_next})
        self.vectors.update({"w_t": w, "m_t": m, "s_t": s, "g": g, "g^2": g * g,
                             "A_{t+1}": adam, "m_{t+1}": m_next, "w_{t+1}": w_next})  # fmt: skip
        self.scalars.update({"b1": b1, "(1 - b1)": 1 - b1, "b2": b2, "(1 - b2)": 1 - b2,
                             "||m_{t+1}||": np.linalg.norm(m_next)})  # fmt: skip

    def _adamw(self, w, b, grad, hp, t):
        self._adam(w, b, w, grad(w), hp, t, decay_first=True)

    def _adamw_msam(self, w, b, grad, hp, t):
        wp = self._along(w, b["m"], "m_t", hp)
        self._adam(w, b, wp, grad(wp), hp, t, decay_first=False)
        self.vectors["w~_t"] = wp


def _base_scalars(hp) -> dict[str, float]:
    lr, lam, mu, rho = hp["lr"], hp["weight_decay"], hp.get("momentum"), hp.get("rho")
    out = {"lr": lr, "lam": lam}
    if mu is not None:
        out.update({"mu": mu, "(1 - mu)": 1 - mu, "(1 + mu)": 1 + mu, "lr mu": lr * mu})
    out.update({} if rho is None else {"rho": rho})
    out.update({} if hp.get("rho_prev") in (None, rho) else {"rho_{t-1}": hp["rho_prev"]})
    return {**out, "lr lam": lr * lam, "(1 - lr lam)": 1 - lr * lam}


def _norm_scalars(of: str, norm: float, rho: float, rho_prev=None) -> dict[str, float]:
    """The scalars a normalisation of ``of`` makes (and makes by mistake). Where the radius
    changed since the last step, the current one is written ``rho_t``, apart from ``rho_{t-1}``."""
    scheduled = rho_prev not in (None, rho)
    out = {f"{'rho_t' if scheduled else 'rho'}/||{of}||": rho / (norm + EPS)}
    out.update({f"1/||{of}||": 1.0 / (norm + EPS), f"rho/||{of}||^2": rho / (norm * norm + EPS)})
    out[f"||{of}||"] = norm
    return out | ({f"rho_{{t-1}}/||{of}||": rho_prev / (norm + EPS)} if scheduled else {})


# ----------------------------------------------------------------------------- describing


def _hint(equation: Equation, got_combo, step: _Step) -> str:
    """A sentence for the patterns whose cause the combination alone does not say."""
    names = {None} if got_combo is None else set(got_combo)
    given = f"{equation.shown}_t"  # the buffer the step was given (v_t, m_t, s_t)
    if names == {_NEXT_PERTURBED}:
        return (
            " This is the memory-free form of the paper's Algorithm 1 (it returns the "
            "perturbed point for the next step); grade it with form='memory-free'."
        )
    if names == {"w_t"} and equation.shown.startswith("point"):
        return (" The gradient is taken at w_t itself, as if the shift were zero (a v_t that is "
                "always 0, or a missing shift, does this).")  # fmt: skip
    if equation.shown in _BUFFERS and (
        (names == {given} and got_combo[given] == "1")
        or (not names and given in step.vectors and not step.vectors[given].any())
    ):
        return " That is the buffer you were given: the new one is not returned."
    return ""


def _output_name(shown: str) -> str:
    return "w_next" if shown == "w" else f"{shown}_next"


def _describe(equation: Equation, got, want, step: _Step, keys):
    """What is different about ``got``, from the numbers: ``(text, got_combo, want_combo)``."""
    if not np.all(np.isfinite(got)):
        i = int(np.flatnonzero(~np.isfinite(got))[0])  # entry i of the flat vector: its param's
        k = int(np.searchsorted(step.split, i, side="right"))
        key, entry = keys[k], i - ([0, *step.split][k])
        # a point normalises the step's given vectors; the params, in the memory-free form,
        # the new buffer (the next perturbation)
        zero = [n for n, v in step.scalars.items() if n.startswith("||") and v == 0
                and ("_{t+1}" in n) != equation.shown.startswith("point")]  # fmt: skip
        why = f" ({zero[0]} = 0 here: a division by a norm needs + EPS)" if zero else ""
        return f"it holds NaN or inf, first at [{key!r}][{entry}]{why}", None, None
    swapped = [o for o in step.outputs if o not in (equation.shown, "point 1")
               and _agree(got, step.outputs[o])]  # fmt: skip
    if swapped:
        text = f"yours is the expected {_output_name(swapped[0])}: are the outputs swapped?"
        return text, None, None
    # own: the output checked itself; later: the outputs computed after it, which describe a
    # value only when nothing earlier does (a value that IS a later output: outputs swapped)
    own, point = {equation.symbol}, equation.shown.startswith("point")
    later = _OUTPUTS if point else set() if equation.shown == "w" else {"w_{t+1}", _NEXT_PERTURBED}
    upstream = describe.basis({n: x for n, x in step.vectors.items() if n not in own | later})
    basis = describe.basis({n: x for n, x in step.vectors.items() if n not in own})
    in_text = sorted(step.scalars, key=lambda n: n.strip("()") not in equation.text)
    scalars = {n: step.scalars[n] for n in in_text}
    got_combo = describe.combination(got, upstream, scalars) or describe.combination(
        got, basis, scalars
    )
    want_combo = describe.combination(want, upstream, scalars)
    shift = point and describe.Shift(got, want, step.vectors["w_t"], step.scalars, step.split,
                                     upstream)  # fmt: skip
    unexplained = got_combo in (None, want_combo)
    relative = float(np.linalg.norm(got - want) / (np.linalg.norm(want) or 1.0))
    if unexplained and shift and "(by one factor)" in shift.words:  # not a rounding
        text = shift.words
    elif unexplained and relative <= PRECISION:
        text = (f"yours differs by {relative:.1e} of its size, the rounding of float32: "
                "computed in single precision (float32)")  # fmt: skip
    elif got_combo is not None and (set(got_combo) == {_NEXT_PERTURBED} or (
            len(got_combo) == 1 and set(got_combo) <= later)):  # fmt: skip
        text = f"yours is {next(iter(got_combo))}"
    elif got_combo is not None:
        text = f"yours is {describe.show(got_combo)}"
        if want_combo is not None:
            text += f", the equation gives {describe.show(want_combo)}"
            diff = describe.compare(got_combo, want_combo, scalars)
            text += f": {diff}" if diff else ""
        if shift and shift.elsewhere:
            text += " (a shift of length rho along another direction)"
    elif shift and shift.words:
        text = shift.words
    elif want_combo and (
        scaled := describe.input_scaled(got - want, upstream, want_combo, step.scalars)
    ):
        text = scaled
    elif (ratio := describe.constant_ratio(got, want)) is not None:
        name = describe.name_scalar(ratio, step.scalars) or f"{ratio:.6g}"
        text = f"yours is {name} times the expected value"
    else:
        text = "it is not a short combination of this step's quantities"
    hint = _hint(equation, got_combo, step)
    return text + ("." + hint if hint else ""), got_combo, want_combo


_OUTPUTS = {"v_{t+1}", "w_{t+1}", "m_{t+1}", _NEXT_PERTURBED}

# ----------------------------------------------------------------------------- the walk


@dataclass
class Location:
    """The first equation whose output differs while its inputs agree, and how it differs."""

    case: str
    step: int
    equation: Equation
    agreed: list[Equation] = field(default_factory=list)
    finding: str = ""
    you: bool = True
    memory_free: bool = False  # the value is the next perturbed point (Algorithm 1's form)
    symbol: str = ""  # the equation of docs/optimizers.md the difference sits in (its left side)
    kept_in_float32: bool = False  # a buffer rounded where it is stored (its entries are float32)

    def __str__(self) -> str:
        agreed = "; ".join(f"{e.words(self.you)}, {e.text}" for e in self.agreed)
        head = f"step {self.step}: " + (f"{agreed}, agrees; " if agreed else "")
        words = self.equation.words(self.you)
        return f"{head}{words}, {self.equation.text}, does not: {self.finding}"


def _agree(a, b, atol=AGREE_ATOL, rtol=AGREE_RTOL) -> bool:
    with np.errstate(invalid="ignore"):
        same = (a == b) | (np.abs(a - b) <= atol + rtol * np.abs(b))
    return bool(np.all(same | (np.isnan(a) & np.isnan(b))))


def _hyperparameters(case: Case, t: int) -> dict:
    before = {"rho_prev": case.rho[t - 1]} if case.rho is not None and t > 0 else {}
    return {"weight_decay": 0.0, **case.hyperparameters, **case.hyperparameters_at(t), **before}


def localise(case: Case, got: Trajectory, you: bool = True, form="standard") -> Location | None:
    """The first step and equation where ``got`` leaves the equations, or None.

    Each step is recomputed from the implementation's own inputs: ``w_t`` is the params
    ``got`` recorded after step ``t - 1``; the buffers are those ``got`` recorded (a step
    function's returned ``v``, named as in :data:`BUFFER`) or, when it recorded none,
    the reference's, carried from step 0. ``you`` words the report for a student;
    ``form="memory-free"``: the params are those the returned perturbed point stands for
    (the exercises' runner). Batch-norm cases are not localised (None).
    """
    if case.has_stats or case.optimizer not in EQUATIONS:
        return None
    # nothing differs by the trajectories' tolerance, yet the case fails (a loss differs):
    # a point differs below it; look again at float64's rounding
    found = _walk(case, got, you, form) or _walk(case, got, you, form, (1e-14, 1e-12))
    return found and next(filter(None, (_recounted(case, got, found, *c) for c in _COUNTS)), found)


_COUNTS = (("2t + 1 (lr) and 2t (rho): a count of calls, two a step", 2, 1, 0), ("2t", 2, 0, 0),
           ("2t + 1", 2, 1, 1), ("t + 1", 1, 1, 1))  # fmt: skip
"""Other counts a schedule may be read at: ``lr[a t + b]``, ``rho[a t + c]``."""
_READS_RHO = {"sam": "e_t", "msam": "w~_t", "adamw-msam": "c_t"}


def _recounted(case, got, found: Location, words: str, a: int, b: int, c: int):
    """``found``, said as a schedule read at another count, when that explains the whole run;
    placed in the first equation that reads it (AdamW's lr: its decay ``w'_t``, where lam > 0)."""
    at = lambda values, b: values and [values[min(a * t + b, case.steps - 1)]  # noqa: E731
                                       for t in range(case.steps)]  # fmt: skip
    lr, rho = at(case.lr, b), at(case.rho, c)
    same = (lr, rho) == (case.lr, case.rho) or (not rho and b != c)  # (no rho: one of each)
    if same or _walk(replace(case, lr=lr, rho=rho), got, False):
        return None
    symbol = _READS_RHO.get(case.optimizer) if rho != case.rho else None
    decay_first = case.optimizer == "adamw" and case.hyperparameters.get("weight_decay")
    symbol = symbol or ("w'_t" if case.optimizer == "adamw-msam" or decay_first else "w_{t+1}")
    which = "lr and rho are the schedules' values" if case.rho else "lr is the schedule's value"
    finding = f"every step's {which} at step {words}, not at "
    return replace(found, finding=finding + "step t: read at another count", symbol=symbol)


def _walk(case: Case, got: Trajectory, you: bool, form="standard", tolerance=()):
    keys, kept = _layout(case)[0], _named_buffers(got.buffers, BUFFER[case.optimizer])
    found = (_check_step(case, got, t, step, (keys, you, kept, form, tolerance))
             for t, step in enumerate(_steps(case, got, kept)))  # fmt: skip
    return next(filter(None, found), None)


def _steps(case: Case, got: Trajectory | None = None, kept=None):
    """The reference's intermediates of each step, from the inputs ``got`` recorded (its
    params after the last step, and its buffers ``kept`` when it recorded them all) or,
    without ``got``, from the reference's own (no batch norm)."""
    (keys, split), names = _layout(case), BUFFER[case.optimizer]
    w = _flat(case.init, keys)
    buffers = {b: np.zeros_like(w) for b in names}
    for t in range(case.steps if got is None else got.steps):
        hp = _hyperparameters(case, t)
        step = _Step(case.optimizer, w, buffers, _grad(case, t, keys, split), hp, t, split)
        yield step
        w = step.outputs["w"] if got is None else _flat(got.params, keys, t)
        own = kept and all(b in kept for b in names)
        buffers = {b: _flat(kept[b], keys, t) if own else step.outputs.get(b, buffers[b])
                   for b in names}  # fmt: skip


def checks_every_equation(case: Case) -> bool:
    """Whether :func:`localise` checks every equation of ``case``'s step: not for SGD at
    momentum 0, which has no buffer (``v_{t+1}`` is not checked; a mistake there shows
    only in ``w_{t+1}``)."""
    return not (case.optimizer == "sgd" and case.hyperparameters.get("momentum") == 0)


def _grad(case: Case, t: int, keys, split) -> Callable[[np.ndarray], np.ndarray]:
    fn = problems.grad_fn(case.model, case.batches, t)
    shapes = [np.shape(case.init[k]) for k in keys]

    def grad(x: np.ndarray) -> np.ndarray:
        if not np.all(np.isfinite(x)):
            return np.full_like(x, np.nan)
        tree = {k: part.reshape(s) for k, part, s in zip(keys, np.split(x, split), shapes)}
        return _flat(fn(tree)[1], keys)

    return grad


_ALIASES = {
    "v": ("v", "momentum", "momentum_buffer", "trace", "velocity", "buf"),
    "m": ("m", "exp_avg", "mu", "m1"),
    "s": ("s", "exp_avg_sq", "nu", "m2"),
}
"""What implementations call the buffers: torch.optim's ``momentum_buffer``, ``exp_avg``,
``exp_avg_sq``; optax's ``trace``, ``mu``, ``nu`` (the last part of a state path)."""


def _named_buffers(recorded: dict, names) -> dict:
    """The recorded buffers that are ``names`` (``"v"``, or ``"m"`` and ``"s"``), by alias;
    a name two recorded buffers could be is left out (no guess)."""
    hits = {b: [k for k in recorded if k.rsplit(".", 1)[-1] in _ALIASES[b]] for b in names}
    return {b: recorded[found[0]] for b, found in hits.items() if len(found) == 1}


def _shown(got: Trajectory, t: int, equation: Equation, keys, kept, points, want):
    """What ``got`` shows of ``equation`` at step ``t`` (None: nothing). More calls to
    ``grad_fn`` than the step makes: the first of the last point's calls that differs."""
    if equation.shown.startswith("point"):
        e, calls = int(equation.shown[-1]) - 1, int(got.grad_evals[t])
        if equation.shown == points[-1] and calls > len(points):
            tried = [_flat(got.eval_points, keys, (t, c)) for c in range(e, calls)]
            return next((x for x in tried if not _agree(x, want)), tried[-1])
        return None if e >= int(got.grad_evals[t]) else _flat(got.eval_points, keys, (t, e))
    if equation.shown == "w":
        return _flat(got.params, keys, t)
    return _flat(kept[equation.shown], keys, t) if equation.shown in kept else None


def _check_step(case, got, t, step, how) -> Location | None:
    (keys, you, kept, form, tolerance), agreed = how, []
    points = [e.shown for e in EQUATIONS[case.optimizer] if e.shown.startswith("point")]
    for equation in EQUATIONS[case.optimizer]:
        if equation.shown not in step.outputs:
            continue
        want = step.outputs[equation.shown]
        value = _shown(got, t, equation, keys, kept, points, want)
        if value is None:
            continue
        if _agree(value, want, *tolerance):
            agreed.append(equation)
            continue
        finding, got_combo, want_combo = _describe(equation, value, want, step, keys)
        memory_free = equation.shown == "w" and "memory-free form" in finding
        w_prime = (case.optimizer, equation.shown) == ("adamw-msam", "w")  # w'_t (1 - lr lam)
        undecayed = w_prime and _describe(equation, value / step.scalars["(1 - lr lam)"],
                                          want, step, keys)[1]  # fmt: skip
        symbol = _refine(case.optimizer, equation, finding, got_combo, want_combo, undecayed)
        symbol = memory_free_symbol(symbol) if form == "memory-free" else symbol
        params = _flat(got.params, keys, t)
        if equation.shown == "v" and (x := _carried_on(step, got_combo, want_combo, value, params)):
            finding += (f"; and w_next is {x} - lr v_{{t+1}}: the step carries on from {x} "
                        "(it is not undone), in the decay and in the update")  # fmt: skip
            symbol = "w_{t+1}"
        if equation.shown == "point 1" and _decayed_at_the_point(step, value, kept, keys, t):
            finding = finding.split(" The gradient is taken at w_t itself")[0] + (
                f" Yet v_{{t+1}} takes its weight decay at {equation.symbol}, lam "
                f"{equation.symbol}, and its gradient at the point passed: {equation.symbol} "
                "is made right, and the gradient is taken at another point."
            )
            symbol = "d_t"
        stored = equation.shown in _BUFFERS and _float32(value) > _float32(params)
        stored &= "precision" in finding
        if stored:  # rounded where it is kept, not where d_t is made
            finding += "; it holds float32 numbers, the params do not: it is kept in float32"
            symbol = equation.symbol
        if form == "memory-free" and equation.shown == "w":
            v = kept["v"]
            held = _held(case, got, keys, v)  # no step moves its point back: an undo cancels
            equation, finding, symbol = _memory_free(value, step, _flat(v, keys, t), held)
        return Location(
            case.name,
            t,
            equation,
            agreed,
            finding,
            you,
            memory_free,
            symbol,
            kept_in_float32=stored,
        )
    return None


def _float32(x) -> bool:
    """Whether every entry of ``x`` is a float32 number (a value stored in single precision)."""
    return bool(np.all(x == x.astype(np.float32)))


def _decayed_at_the_point(step: _Step, x, kept, keys, t) -> bool:
    """Whether your ``v_{t+1}`` is ``mu v_t + g(x) + lam p``: the gradient at your point
    ``x``, the decay at the equation's point ``p`` (NAG's ``a_t``, MSAM's ``w~_t``), so
    that ``p`` was made right and only ``g`` was taken elsewhere (told only when lam > 0)."""
    mu, lam, p = step.hp.get("momentum"), step.hp["weight_decay"], step.decay_at
    if "v" not in kept or not lam or p is None:
        return False
    return _agree(_flat(kept["v"], keys, t), mu * step.vectors["v_t"] + step.grad(x) + lam * p)


def _carried_on(step: _Step, got_combo, want_combo, v_next, w_next) -> str | None:
    """The vector that stands for ``w_t`` everywhere after the gradient: in ``v_{t+1}``'s
    decay term (``got_combo`` has it where ``want_combo`` has ``w_t``) and in ``w_{t+1} = x -
    lr v_{t+1}``, with your own ``v_{t+1}``. One wrong input to both, not two wrong equations."""
    if got_combo is None or want_combo is None or step.hp.get("nesterov"):
        return None
    extra, missing = set(got_combo) - set(want_combo), set(want_combo) - set(got_combo)
    if missing != {"w_t"} or len(extra) != 1 or got_combo[(x := extra.pop())] != want_combo["w_t"]:
        return None
    return x if _agree(w_next, step.vectors[x] - step.hp["lr"] * v_next) else None


def memory_free_symbol(symbol: str) -> str:
    """In the memory-free form the point passed to ``grad_fn`` is the one the last step
    returned: a normalisation placed at ``u_t`` sits in that step's ``c_{t+1}``."""
    return "c_{t+1}" if symbol == "u_t" else symbol


_C_NEXT = "c_{t+1} = rho / (||v_{t+1}|| + EPS) (the point returned)"
_RETURNED = Equation("w~_{t+1}", f"w~_{{t+1}} = w_{{t+1}} - c_{{t+1}} v_{{t+1}}, {_C_NEXT}", "w")


def _held(case: Case, got: Trajectory, keys, v) -> bool:
    """Whether every point passed to ``grad_fn`` is the last one less ``lr v_{t+1}``: the
    point held is never moved back nor perturbed again (plain momentum SGD on it)."""
    x = [_flat(got.eval_points, keys, (t, 0)) for t in range(got.steps)]
    lr_v = [case.lr[t] * _flat(v, keys, t) for t in range(got.steps)]
    return all(_agree(x[t + 1], x[t] - lr_v[t]) for t in range(got.steps - 1))


def _memory_free(value, step: _Step, v_next, held: bool) -> tuple[Equation, str, str]:
    """The point a memory-free step returned, ``w~_{t+1} = w_{t+1} - c_{t+1} v_{t+1}``
    (``value`` less ``rho u_{t+1}``, the shift the runner added), described, and where it
    goes wrong: the undo ``w_t = w~_t + c_t v_t`` (an extra term along ``v_t``), else the
    next perturbation ``c_{t+1}`` where the ``w_{t+1}`` term holds (the undo again where the
    point is ``held``: an undo made with ``v_{t+1}`` cancels the next perturbation; the
    equation itself, ``w~_{t+1}``, where only the sign of ``c_{t+1} v_{t+1}`` is flipped),
    else ``w_{t+1}``."""
    point = value - step.scalars["rho"] / (np.linalg.norm(v_next) + EPS) * v_next
    outputs_first = sorted(step.vectors.items(), key=lambda item: item[0] not in _OUTPUTS)
    basis = describe.basis({n: x for n, x in outputs_first if n != _NEXT_PERTURBED})
    got, want = (describe.combination(x, basis, step.scalars)
                 for x in (point, step.vectors[_NEXT_PERTURBED]))  # fmt: skip
    changed = _changed(got, want)
    if got is None or want is None or changed is None:
        return _RETURNED, "it is not a short combination of this step's quantities", "w_{t+1}"
    text = f"yours is {describe.show(got)}, the equation gives {describe.show(want)}: "
    text += describe.compare(got, want, step.scalars)
    if changed <= {"v_t", "w_t", "w~_t"}:
        return _RETURNED, text + " (the perturbation applied at step t is not undone)", "w_t"
    applied = [k for k, c in want.items() if "||v_{t+1}||" in c]  # c_{t+1} v_{t+1}'s term
    if changed == set(applied) and applied[0] not in got:  # c_{t+1} v_{t+1} left out
        why = (" (and every point you pass to grad_fn is the last one less lr v_{t+1}: an undo "
               "w_t = w~_t + c_t v_t made with v_{t+1} cancels the next perturbation, as would a "
               "next perturbation along v_t)" if held else " (the next perturbation is not "
               "applied)")  # fmt: skip
        return _RETURNED, text + why, "w_t" if held else "c_{t+1}"
    if changed == set(applied) and "flipped" in text:
        return _RETURNED, text + " (the next perturbation is applied with +)", "w~_{t+1}"
    return _RETURNED, text, "w_{t+1}" if "w_{t+1}" in changed else "c_{t+1}"


_SLOTS = ["w", "v", "m", "s"]  # the order a step returns its outputs in
_NORMALISES = {"sam": "e_t", "msam": "u_t", "adamw-msam": "c_t"}  # where a norm divides
_NORM_WORDS = ("NaN", "another direction", "tensor by tensor", "division by the norm",
               "squared norm", "the normalisation is wrong")  # fmt: skip


def _changed(got: dict | None, want: dict | None) -> set[str] | None:
    """The vectors whose term differs between two combinations (None: unknown)."""
    if got is None or want is None:
        return None
    return {k for k in set(got) | set(want) if got.get(k) != want.get(k)}


def _scaled_alike(got: dict, want: dict, changed: set[str]) -> bool:
    """Every changed term is in both and scaled by one common factor (``d_t`` as a whole)."""
    if not changed <= set(got) & set(want):
        return False
    ratios = [got[k].value / want[k].value for k in changed]
    unchanged = [k for k in want if k not in changed and k != "v_t"]
    return not unchanged and bool(np.allclose(ratios, ratios[0], rtol=SCALAR_RTOL))


def _refine(optimizer: str, equation: Equation, text: str, got, want, undecayed=None) -> str:
    """The equation of docs/optimizers.md (its left side) the difference sits in: a shown
    quantity's equation text holds several (MSAM's point: ``u_t`` and ``w~_t``).
    ``undecayed``: the value over ``1 - lr lam`` as a combination (AdamW-MSAM's ``w'_t``)."""
    shown, changed = equation.shown, _changed(got, want)
    if "single precision" in text:  # rounding shows first in the first equation computed
        defined = [part.split(" = ")[0] for part in equation.text.split(", ") if " = " in part]
        first = "w'_t" if shown == "w" and optimizer.startswith("adamw") else defined[-1]
        return first if defined else equation.symbol
    uniform = "every term" in text or "whole value" in text or got == {}
    if "are the outputs swapped" in text:  # the first return slot holding a wrong value
        other = next(o for o in _SLOTS if f"expected {_output_name(o)}:" in text)
        first = min(shown, other, key=_SLOTS.index)
        return next(e.symbol for e in EQUATIONS[optimizer] if e.shown == first)
    if "placed before is still there" in text:
        return "w_t"  # the undo w_t = w~_t + c_t v_t (the memory-free form's) is not made
    normalised = shown.startswith("point") and any(w in text for w in _NORM_WORDS)
    if optimizer in _NORMALISES and (normalised or "needs + EPS" in text):
        return _NORMALISES[optimizer]  # a shift rho long along another vector: its norm
    if optimizer == "adamw-msam" and changed == {"m_t"} and "flipped" not in text:
        return "c_t"  # m_t's coefficient is c_t, whole (MSAM's rho_t stands in w~_t)
    if shown.startswith("point") and optimizer in ("msam", "adamw-msam"):
        return "w~_t"
    if shown == "point 2":
        return "e_t"
    scaled = re.search(r"with (\S+) multiplied by", text)
    if scaled and scaled[1].startswith("g(") and not optimizer.startswith("adamw"):
        return "d_t"  # the gradient enters the step in d_t
    if shown == "v" and changed is not None and not uniform and "v_t" not in changed and changed:
        return "v_{t+1}" if _scaled_alike(got, want, changed) else "d_t"  # (1 - mu) d: in v
    if shown == "m" and changed is not None and not uniform and changed - {"m_t", "g"}:
        return "gamma_t"
    if shown == "w" and optimizer == "adamw-msam":  # w_{t+1} = w'_t (1 - lr lam)
        kept = got is None or (not uniform and undecayed is not None)  # the decay applied
        return "w'_t" if kept else "w_{t+1}"
    if shown == "w" and optimizer == "adamw":  # w_t's coefficient is w'_t's decay
        decay = got is not None and want is not None and "A_{t+1}" in set(got) & set(want)
        w_t = (decay and "w_t" in (changed or ())) or re.search(r"^w_t is multiplied by 1 -", text)
        return "w'_t" if w_t else "w_{t+1}"
    return equation.symbol


def reference_steps(case: Case) -> list[_Step]:
    """The reference's steps on ``case`` (no batch norm), each from its own inputs."""
    return list(_steps(case))


def from_memory_free(case: Case, got: Trajectory) -> Trajectory:
    """``got`` with its params read as the memory-free form's perturbed points, turned
    into the weights they stand for: ``w_{t+1} = w~_{t+1} + rho_{t+1} b_{t+1} / (||b_{t+1}||
    + EPS)``, ``b`` the reference's momentum (MSAM) or first moment (AdamW-MSAM) and
    ``rho_{t+1}`` the next step's (the last step's for the last step). An error in the
    buffer shows in the next step's gradient point."""
    if case.optimizer not in ("msam", "adamw-msam"):
        raise ValueError(f"the memory-free form is MSAM's or AdamW-MSAM's, not {case.optimizer}'s")
    name = "momentum" if case.optimizer == "msam" else "m"
    reference = run_reference(case, record_buffers=True).buffers[name]
    params = {k: np.array(v, dtype=np.float64) for k, v in got.params.items()}
    for t in range(min(got.steps, case.steps)):
        b, rho = {k: reference[k][t] for k in params}, case.rho[min(t + 1, case.steps - 1)]
        for k, w in shifted({k: params[k][t] for k in params}, b, rho).items():
            params[k][t] = w
    return replace(got, params=params)
