"""Mutant reference optimizers: the known pitfalls, each introduced on purpose.

A failing implementation is diagnosed by re-running the reference with one pitfall
built in (or two, see :func:`pairs`) and checking whether the implementation's
trajectory matches that mutant's (see :mod:`minimsam.crosscheck.compare`). Most
mutants are the update of their reference optimizer (``minimsam.optim``) written
once with a few class-level *knobs* (``norm``, ``sign``, ``decay_at``, ...), the
reference values being the defaults; a mutant class sets one knob, marked
``# PITFALL``, so two mutants that set different knobs combine into one class. The
state-loss pitfalls change the run, not the optimizer
(:data:`~minimsam.crosscheck.reference.RESTORE_MODES`).

The pitfalls (FORMAT.md lists them with the cases that expose each):

``weight_decay_placement``
    Coupled decay taken at the other point (SAM: at ``w + e`` instead of ``w``;
    MSAM: at ``w`` instead of ``w - rho u``; NAG: at ``w`` instead of the look-ahead
    point), or decoupled decay on the other side of the Adam step (AdamW decays
    before, AdamW-MSAM after).
``weight_decay_outside_momentum``
    The decay left out of the momentum and subtracted on its own, without the
    lr: ``w_{t+1} = w_t - eta v_{t+1} - lam w_t``.
``perturbation_sign``
    SAM perturbed along ``-g`` (descent), MSAM along ``+v`` (a step back),
    AdamW-MSAM along ``+m``.
``per_tensor_norm``
    The perturbation normalised tensor by tensor, ``rho x_k / ||x_k||``, instead of
    by the global norm over all parameters.
``rho_drift``
    The memory-free form stores ``1 / (||v|| + EPS)`` and removes the old
    perturbation with the *current* rho (the official MSAM code). When rho changes
    between steps, ``w`` shifts by ``(rho_new - rho_old) * v / ||v||`` for good, and
    the gradient is taken with the previous step's rho.
``rho_lag``
    The perturbation of step ``t`` made with ``rho[t-1]`` and undone exactly: a
    memory-free optimizer that perturbs at the end of a step, before the scheduler
    sets the next rho (AdamW-MSAM written like the official code does this).
``rho_schedule_ignored``
    SAM whose rho stays at ``rho[0]``: the schedule never reaches the perturbation
    (``optax.contrib.sam`` with its default ``reset_state=True`` re-initialises the
    adversarial optimizer, and with it the schedule's step count, every step).
``first_momentum``
    The first momentum buffer set to ``(1 + mu) d`` (initialised to ``d``, then
    updated with ``d`` again) instead of ``d``.
``missing_epsilon``
    Normalising by ``||.||`` instead of ``||.|| + EPS``: NaN as soon as the vector is
    zero (MSAM and AdamW-MSAM on step 0, SAM on a zero gradient); otherwise the
    difference is about ``1e-12`` relative and not a failure.
``state_not_saved``
    The optimizer state is not in the checkpoint: the run continues from a fresh
    optimizer (zero buffers, step count 0), at ``w`` or, for a memory-free
    optimizer, at the perturbed point it was holding.
``lr_lost_on_restore``
    The state is restored, but the lr schedule no longer reaches the optimizer that
    uses it (a SAM wrapper whose ``load_state_dict`` replaces its param groups, so
    the inner optimizer keeps its own): the lr stays at its constructor value
    ``lr[0]`` from the restore on.
``bn_stats_both_passes``
    (batch norm) SAM's running statistics updated by both forward passes, the second
    at ``w + e``: they move twice per step, once with perturbed weights. The gradients
    are the reference's (training mode normalises with batch statistics), so only the
    recorded statistics, and the evaluation, show it.
``bn_second_pass_eval``
    (batch norm) SAM's second pass in evaluation mode (``model.eval()``): it
    normalises with the running statistics, so the gradient at ``w + e`` is that of
    another function.
``bn_no_reestimation``
    (batch norm) MSAM evaluated with the running statistics its training left, which
    come from the perturbed points ``w - rho u``, without re-estimating them at the
    unperturbed weights first. A pitfall of the evaluation, not of a step: only the
    case's evaluation logits show it.
``float32_norm``
    A *precision* mutant, not a bug: the norm of the perturbation computed in
    float32. It differs from the reference by about ``1e-9``; it is used to name the
    likely cause of a "matches up to precision" verdict, never as a diagnosis.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np

from minimsam import optim
from minimsam.backend import get_backend
from minimsam.optim.adamw import adam_moments, adam_step
from minimsam.optim.base import EPS, add, axpy, global_norm, scale, zeros_like

__all__ = ["MUTANTS", "PITFALLS", "Mutant", "combine", "mutants_for", "pairs"]

PITFALLS: dict[str, str] = {
    "weight_decay_placement": "weight decay applied at the wrong point",
    "weight_decay_outside_momentum": "weight decay subtracted outside the momentum and without "
    "the lr (w - lr v - lam w)",
    "perturbation_sign": "perturbation with the wrong sign",
    "per_tensor_norm": "perturbation normalised per tensor, not by the global norm over all "
    "parameters",
    "rho_drift": "old perturbation removed with the current rho, not the rho that applied it "
    "(the official MSAM code's drift under a rho schedule)",
    "rho_lag": "rho applied one step late: the perturbation of step t made with rho[t-1]",
    "rho_schedule_ignored": "the rho schedule never reaches the perturbation: rho stays at rho[0]",
    "first_momentum": "first momentum buffer set to (1 + mu) d instead of d",
    "missing_epsilon": "normalisation by ||.|| without + EPS (NaN on a zero vector)",
    "state_not_saved": "optimizer state not saved and restored with the checkpoint",
    "lr_lost_on_restore": "after the restore the lr schedule no longer reaches the optimizer "
    "(lr stays at its constructor value)",
    "bn_stats_both_passes": "batch-norm running statistics updated in both SAM passes, not "
    "only the first",
    "bn_second_pass_eval": "SAM's second pass run in evaluation mode (normalised with the "
    "running statistics), not training mode without updating them",
    "bn_no_reestimation": "batch-norm statistics not re-estimated at the unperturbed weights "
    "before evaluation",
    "float32_norm": "the norm computed in float32 (a precision difference, not a bug)",
}


# ----------------------------------------------------------------------------- shared pieces


def _float32_norm(tree):
    """``||tree||`` with the squares summed and rooted in float32, returned as float64."""
    xp = get_backend().xp
    total = None
    for x in tree.values():
        flat = x.reshape(-1).astype(xp.float32)
        sq = xp.vdot(flat, flat)
        total = sq if total is None else total + sq
    return xp.sqrt(total).astype(xp.float64)


def _normalised(tree, coef, norm: str, eps: float):
    """``coef * x / (||x|| + eps)``: the global norm, a float32 one, or each tensor's own."""
    if norm == "per-tensor":  # PITFALL (when chosen): x_k / ||x_k||
        return {k: coef * x / (global_norm({k: x}) + eps) for k, x in tree.items()}
    size = _float32_norm(tree) if norm == "float32" else global_norm(tree)
    return scale(coef / (size + eps), tree)


def _momentum(mu, v, d, t: int, first: str):
    """``v_{t+1} = mu v_t + d``; the ``first_momentum`` pitfall makes ``v_1 = (1 + mu) d``."""
    if first == "one-plus-mu" and t == 0:
        return scale(1.0 + mu, d)  # PITFALL (when chosen): the buffer starts at d, then + d
    return axpy(mu, v, d)


def _scalar(value: float):
    """A 0-d float64 array on the active backend (state entries are arrays, not floats)."""
    return get_backend().xp.asarray(value, dtype=np.float64)


class _Knobs:
    """A reference update written with class-level knobs; the defaults are the reference.

    A mutant subclass sets one knob; two mutants of the same base that set different
    knobs combine by inheriting from both (:func:`combine`).
    """

    KNOBS: tuple[str, ...] = ()

    @classmethod
    def knobs_set(cls) -> set[str]:
        """The knobs this class or its bases (below the knob base) change."""
        changed = set()
        for klass in cls.__mro__:
            if "KNOBS" in klass.__dict__:
                break
            changed |= set(klass.__dict__) & set(cls.KNOBS)
        return changed


# ----------------------------------------------------------------------------- SGD, NAG


class _SGDWith(_Knobs, optim.SGD):
    """The SGD update (torch.optim.SGD) with knobs ``first_momentum`` and ``decay``."""

    KNOBS = ("first_momentum", "decay")
    first_momentum, decay = "zero", "coupled"

    def update(self, w, state, grad, t, trace):
        lr, mu, lam = self.hyper("lr", t), self.momentum, self.weight_decay
        g = grad(w)
        d = g if self.decay == "outside" else axpy(lam, w, g)
        if mu == 0:
            w_next, buffers = axpy(-lr, d, w), {}
        else:
            v_next = _momentum(mu, state["momentum"], d, t, self.first_momentum)
            direction = axpy(mu, v_next, d) if self.nesterov else v_next
            w_next, buffers = axpy(-lr, direction, w), {"momentum": v_next}
        if self.decay == "outside":
            w_next = axpy(-lam, w, w_next)  # PITFALL (when chosen): - lam w, no lr
        return w_next, buffers


class SGDFirstMomentum(_SGDWith):
    """SGD whose first momentum buffer is ``(1 + mu) d``."""

    first_momentum = "one-plus-mu"  # PITFALL


class SGDDecayOutside(_SGDWith):
    """SGD with ``w - lr v - lam w`` (the decay outside the momentum, without lr)."""

    decay = "outside"  # PITFALL


class _NAGWith(_Knobs, optim.NAG):
    """The look-ahead NAG update with knobs ``decay_at`` and ``first_momentum``."""

    KNOBS = ("decay_at", "first_momentum")
    decay_at, first_momentum = "lookahead", "zero"

    def update(self, w, state, grad, t, trace):
        lr, mu, v = self.hyper("lr", t), self.momentum, state["momentum"]
        a = axpy(-lr * mu, v, w)
        d = axpy(self.weight_decay, w if self.decay_at == "w" else a, grad(a))
        v_next = _momentum(mu, v, d, t, self.first_momentum)
        return axpy(-lr, v_next, w), {"momentum": v_next}


class NAGDecayAtW(_NAGWith):
    """NAG with the weight decay taken at ``w`` (reference: at the look-ahead point)."""

    decay_at = "w"  # PITFALL


class NAGFirstMomentum(_NAGWith):
    """NAG whose first momentum buffer is ``(1 + mu) d``."""

    first_momentum = "one-plus-mu"  # PITFALL


# ----------------------------------------------------------------------------- SAM


class _SAMWith(_Knobs, optim.SAM):
    """The SAM update with knobs for each pitfall (defaults: the reference)::

    e = sign * rho g(w) / (norm(g(w)) + norm_eps);  d = g(w + e) + lam * (decay point)
    v = mu v + d  (first_momentum);  w = w - eta v  (- lam w if decay == "outside")
    """

    KNOBS = ("sign", "norm_eps", "norm", "decay_at", "decay", "first_momentum", "rho_fixed")
    sign, norm_eps, norm, decay_at = 1.0, EPS, "global", "w"
    decay, first_momentum, rho_fixed = "coupled", "zero", False

    def update(self, w, state, grad, t, trace):
        lr, rho = self.hyper("lr", t), self.hyper("rho", 0 if self.rho_fixed else t)
        mu, lam = self.momentum, self.weight_decay
        g1 = grad(w)
        wp = add(w, _normalised(g1, self.sign * rho, self.norm, self.norm_eps))
        g2 = grad(wp)
        d = g2 if self.decay == "outside" else axpy(lam, wp if self.decay_at == "wp" else w, g2)
        v_next = _momentum(mu, state["momentum"], d, t, self.first_momentum)
        w_next = axpy(-lr, v_next, w)
        if self.decay == "outside":
            w_next = axpy(-lam, w, w_next)
        return w_next, {"momentum": v_next}


class SAMDecayAtPerturbed(_SAMWith):
    """SAM with the weight decay taken at ``w + e`` (reference: at ``w``)."""

    decay_at = "wp"  # PITFALL: lam * (w + e)


class SAMSignFlipped(_SAMWith):
    """SAM with the perturbation ``-e`` (a descent step)."""

    sign = -1.0  # PITFALL: w - e


class SAMNoEps(_SAMWith):
    """SAM with ``e = rho g / ||g||``."""

    norm_eps = 0.0  # PITFALL: no + EPS


class SAMPerTensor(_SAMWith):
    """SAM with ``e_k = rho g_k / (||g_k|| + EPS)`` for each tensor ``k``."""

    norm = "per-tensor"  # PITFALL


class SAMRhoFixed(_SAMWith):
    """SAM whose rho stays at ``rho[0]`` (the schedule never reaches the perturbation)."""

    rho_fixed = True  # PITFALL


class SAMFloat32Norm(_SAMWith):
    """SAM whose ``||g||`` is computed in float32 (a precision mutant)."""

    norm = "float32"  # PRECISION


class SAMFirstMomentum(_SAMWith):
    """SAM whose first momentum buffer is ``(1 + mu) d``."""

    first_momentum = "one-plus-mu"  # PITFALL


class SAMDecayOutside(_SAMWith):
    """SAM with ``w - lr v - lam w``."""

    decay = "outside"  # PITFALL


# ----------------------------------------------------------------------------- MSAM


class _MSAMWith(_Knobs, optim.MSAM):
    """The MSAM update with knobs for each pitfall (defaults: the reference)::

    wp = w + sign * rho_(t or t-1) v / (norm(v) + norm_eps);  d = g(wp) + lam * (decay point)
    v = mu v + d  (first_momentum);  w = w - eta v  (- lam w if decay == "outside")
    """

    KNOBS = ("sign", "norm_eps", "norm", "decay_at", "decay", "first_momentum", "rho_lag")
    sign, norm_eps, norm, decay_at = -1.0, EPS, "global", "wp"
    decay, first_momentum, rho_lag = "coupled", "zero", False

    def update(self, w, state, grad, t, trace):
        lr, mu, lam, v = self.hyper("lr", t), self.momentum, self.weight_decay, state["momentum"]
        rho = self.hyper("rho", t - 1 if self.rho_lag and t > 0 else t)
        wp = add(w, _normalised(v, self.sign * rho, self.norm, self.norm_eps))
        g = grad(wp)
        d = g if self.decay == "outside" else axpy(lam, w if self.decay_at == "w" else wp, g)
        v_next = _momentum(mu, v, d, t, self.first_momentum)
        w_next = axpy(-lr, v_next, w)
        if self.decay == "outside":
            w_next = axpy(-lam, w, w_next)
        return w_next, {"momentum": v_next}


class MSAMDecayAtW(_MSAMWith):
    """MSAM with the weight decay taken at ``w`` (reference: at ``w - rho u``)."""

    decay_at = "w"  # PITFALL


class MSAMSignFlipped(_MSAMWith):
    """MSAM perturbed along ``+v``."""

    sign = 1.0  # PITFALL: w + rho u


class MSAMNoEps(_MSAMWith):
    """MSAM with ``u = v / ||v||`` (NaN on step 0, where ``v = 0``)."""

    norm_eps = 0.0  # PITFALL: no + EPS


class MSAMPerTensor(_MSAMWith):
    """MSAM with ``u_k = v_k / (||v_k|| + EPS)`` for each tensor ``k``."""

    norm = "per-tensor"  # PITFALL


class MSAMFloat32Norm(_MSAMWith):
    """MSAM whose ``||v||`` is computed in float32 (a precision mutant)."""

    norm = "float32"  # PRECISION


class MSAMFirstMomentum(_MSAMWith):
    """MSAM whose first momentum buffer is ``(1 + mu) d``."""

    first_momentum = "one-plus-mu"  # PITFALL


class MSAMDecayOutside(_MSAMWith):
    """MSAM with ``w - lr v - lam w`` (the gradient alone in the momentum)."""

    decay = "outside"  # PITFALL


class MSAMRhoLag(_MSAMWith):
    """MSAM whose step-``t`` perturbation uses ``rho[t-1]``, undone exactly."""

    rho_lag = True  # PITFALL


class MSAMUndoWithCurrentRho(optim.MSAM):
    """The official code's memory-free MSAM (docs/optimizers.md#msam): params hold ``wp``.

    State: ``momentum`` ``v``, ``inv = 1 / (||v|| + EPS)`` and ``rho_applied``. A step::

        d         = g(wp_t) + lam * wp_t
        w_t       = wp_t + rho_t * inv_t * v_t          (PITFALL: the current rho)
        v_{t+1}   = mu * v_t + d ;  w_{t+1} = w_t - eta * v_{t+1}
        wp_{t+1}  = w_{t+1} - rho_t * inv_{t+1} * v_{t+1}

    so ``wp_t`` was made with ``rho_{t-1}``; ``eval_params = wp + rho_applied * inv * v``
    (the official ``move_back_from_momentumAscent``).
    """

    def init_buffers(self, params):
        buffers = {"momentum": zeros_like(params)}
        return {**buffers, "inv": _scalar(0.0), "rho_applied": _scalar(0.0)}

    def update(self, wp, state, grad, t, trace):
        lr, rho, mu, v = self.hyper("lr", t), self.hyper("rho", t), self.momentum, state["momentum"]
        d = axpy(self.weight_decay, wp, grad(wp))
        w = axpy(rho * state["inv"], v, wp)  # PITFALL: undo with rho_t, not rho_{t-1}
        v_next = axpy(mu, v, d)
        w_next = axpy(-lr, v_next, w)
        inv = 1.0 / (global_norm(v_next) + EPS)
        wp_next = axpy(-rho * inv, v_next, w_next)
        return wp_next, {"momentum": v_next, "inv": inv, "rho_applied": _scalar(rho)}

    def eval_params(self, params, state):
        return axpy(state["rho_applied"] * state["inv"], state["momentum"], params)


# ----------------------------------------------------------------------------- AdamW(-MSAM)


class AdamWDecayLast(optim.AdamW):
    """AdamW that decays after the Adam step (torch.optim.AdamW decays before it)."""

    def update(self, w, state, grad, t, trace):
        lr = self.hyper("lr", t)
        m, s = adam_moments(state["m"], state["s"], grad(w), self.betas)
        w_adam = adam_step(w, m, s, lr, self.betas, self.eps, k=t + 1)
        return scale(1 - lr * self.weight_decay, w_adam), {"m": m, "s": s}  # PITFALL: decay last


class _AdamWMSAMWith(_Knobs, optim.AdamWMSAM):
    """The AdamW-MSAM update with knobs (defaults: the reference)::

    wp = w + sign * rho_(t or t-1) m / (norm(m) + norm_eps);  m, s from g(wp)
    w = Adam step from w, decayed after it (or before, if decay_first)
    """

    KNOBS = ("sign", "norm_eps", "norm", "decay_first", "rho_lag")
    sign, norm_eps, norm, decay_first, rho_lag = -1.0, EPS, "global", False, False

    def update(self, w, state, grad, t, trace):
        lr, lam = self.hyper("lr", t), self.weight_decay
        rho = self.hyper("rho", t - 1 if self.rho_lag and t > 0 else t)
        wp = add(w, _normalised(state["m"], self.sign * rho, self.norm, self.norm_eps))
        m, s = adam_moments(state["m"], state["s"], grad(wp), self.betas)
        if self.decay_first:
            w = scale(1 - lr * lam, w)
        w_next = adam_step(w, m, s, lr, self.betas, self.eps, k=t + 1)
        if not self.decay_first:
            w_next = scale(1 - lr * lam, w_next)
        return w_next, {"m": m, "s": s}


class AdamWMSAMDecayFirst(_AdamWMSAMWith):
    """AdamW-MSAM that decays before the Adam step (reference: after, as the official code)."""

    decay_first = True  # PITFALL


class AdamWMSAMSignFlipped(_AdamWMSAMWith):
    """AdamW-MSAM perturbed along ``+m``."""

    sign = 1.0  # PITFALL: w + c m


class AdamWMSAMNoEps(_AdamWMSAMWith):
    """AdamW-MSAM with ``c = rho / ||m||`` (NaN on step 0, where ``m = 0``)."""

    norm_eps = 0.0  # PITFALL: no + EPS


class AdamWMSAMPerTensor(_AdamWMSAMWith):
    """AdamW-MSAM with ``c_k = rho / (||m_k|| + EPS)`` for each tensor ``k``."""

    norm = "per-tensor"  # PITFALL


class AdamWMSAMFloat32Norm(_AdamWMSAMWith):
    """AdamW-MSAM whose ``||m||`` is computed in float32 (a precision mutant)."""

    norm = "float32"  # PRECISION


class AdamWMSAMRhoLag(_AdamWMSAMWith):
    """AdamW-MSAM written like the official code: memory-free, it undoes its
    perturbation exactly but made it at the end of the previous step, with
    ``rho[t-1]``; so step ``t``'s gradient is taken at ``w - rho[t-1] m / ||m||``."""

    rho_lag = True  # PITFALL


class AdamWMSAMUndoWithCurrentRho(optim.AdamWMSAM):
    """Memory-free AdamW-MSAM that stores ``inv = 1 / (||m|| + EPS)`` and undoes with
    ``rho_t``. Not in the registry: AdamW-MSAM code written like the official code
    undoes exactly and only lags rho (:class:`AdamWMSAMRhoLag`); kept for comparison."""

    def init_buffers(self, params):
        buffers = {"m": zeros_like(params), "s": zeros_like(params)}
        return {**buffers, "inv": _scalar(0.0), "rho_applied": _scalar(0.0)}

    def update(self, wp, state, grad, t, trace):
        lr, rho, lam = self.hyper("lr", t), self.hyper("rho", t), self.weight_decay
        g = grad(wp)
        w = axpy(rho * state["inv"], state["m"], wp)  # PITFALL: undo with rho_t, not rho_{t-1}
        m, s = adam_moments(state["m"], state["s"], g, self.betas)
        w_next = scale(1 - lr * lam, adam_step(w, m, s, lr, self.betas, self.eps, k=t + 1))
        inv = 1.0 / (global_norm(m) + EPS)
        wp_next = axpy(-rho * inv, m, w_next)
        return wp_next, {"m": m, "s": s, "inv": inv, "rho_applied": _scalar(rho)}

    def eval_params(self, params, state):
        return axpy(state["rho_applied"] * state["inv"], state["m"], params)


# ----------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Mutant:
    """One pitfall built into one optimizer: a class (None: the reference) and a restore mode.

    ``kind`` is ``"bug"``, or ``"precision"`` for a mutant that only rounds
    differently (used to name the cause of a "matches up to precision" verdict).
    A pair of mutants (:func:`combine`) has both pitfalls in ``pitfall``, joined by "+".
    ``bn`` (a :data:`~minimsam.crosscheck.problems.BN_MODES` entry) and ``reestimate``
    change the batch-norm handling; such a mutant applies to batch-norm cases only.
    """

    name: str
    pitfall: str
    cls: type | None = None
    restore: str = "keep"
    detail: str = ""
    kind: str = "bug"
    bn: str = "reference"
    reestimate: bool = True

    @property
    def pitfalls(self) -> list[str]:
        return self.pitfall.split("+")

    @property
    def needs_stats(self) -> bool:
        """Whether only a batch-norm case can show this mutant."""
        return self.bn != "reference" or not self.reestimate

    def applies_to(self, case) -> bool:
        """Whether ``case`` can run this mutant (a restore, batch norm where needed)."""
        if self.restore != "keep" and case.restore_before_step is None:
            return False
        return case.has_stats or not self.needs_stats


_LOST = Mutant(
    "state-lost",
    "state_not_saved",
    restore="lose",
    detail="the run continued from a fresh optimizer at w",
)
_LOST_PERTURBED = Mutant(
    "state-lost-perturbed",
    "state_not_saved",
    restore="lose-perturbed",
    detail="the run continued from a fresh optimizer at the perturbed point the old one held",
)
_LR_LOST = Mutant(
    "lr-lost-on-restore",
    "lr_lost_on_restore",
    restore="lr-lost",
    detail="state restored, but the lr stayed at lr[0] after the restore",
)
_BN_NO_REESTIMATION = Mutant(
    "bn-no-reestimation",
    "bn_no_reestimation",
    reestimate=False,
    detail="evaluated with the statistics of the perturbed forward passes",
)
_FIRST = "the first momentum buffer is (1 + mu) d, not d"
_OUTSIDE = "w - lr v - lam w: the decay outside the momentum, without lr"
_F32 = "the norm computed in float32"
_PER_TENSOR = "each tensor normalised by its own norm"

MUTANTS: dict[str, tuple[Mutant, ...]] = {
    "sgd": (
        Mutant("first-momentum", "first_momentum", SGDFirstMomentum, detail=_FIRST),
        Mutant("decay-outside", "weight_decay_outside_momentum", SGDDecayOutside,
               detail=_OUTSIDE),
        _LOST,
        _LR_LOST,
    ),
    "nag": (
        Mutant("decay-at-w", "weight_decay_placement", NAGDecayAtW,
               detail="decay at w, not at the look-ahead point w - lr mu v"),
        Mutant("first-momentum", "first_momentum", NAGFirstMomentum, detail=_FIRST),
        _LOST,
        _LR_LOST,
    ),
    "sam": (
        Mutant("decay-at-perturbed", "weight_decay_placement", SAMDecayAtPerturbed,
               detail="decay at w + e, not at w"),
        Mutant("sign-flipped", "perturbation_sign", SAMSignFlipped,
               detail="perturbed to w - e (descent), not w + e"),
        Mutant("per-tensor", "per_tensor_norm", SAMPerTensor, detail=_PER_TENSOR),
        Mutant("rho-fixed", "rho_schedule_ignored", SAMRhoFixed,
               detail="rho[0] on every step, e.g. an optimizer state reset that restarts "
               "the rho schedule's step count"),
        Mutant("first-momentum", "first_momentum", SAMFirstMomentum, detail=_FIRST),
        Mutant("decay-outside", "weight_decay_outside_momentum", SAMDecayOutside,
               detail=_OUTSIDE),
        Mutant("no-eps", "missing_epsilon", SAMNoEps, detail="e = rho g / ||g||"),
        Mutant("bn-stats-both-passes", "bn_stats_both_passes", bn="both-passes",
               detail="the second forward pass, at w + e, updated them again"),
        Mutant("bn-second-pass-eval", "bn_second_pass_eval", bn="second-eval",
               detail="the gradient at w + e taken with model.eval()"),
        Mutant("float32-norm", "float32_norm", SAMFloat32Norm, detail=_F32, kind="precision"),
        _LOST,
        _LR_LOST,
    ),
    "msam": (
        Mutant("decay-at-w", "weight_decay_placement", MSAMDecayAtW,
               detail="decay at w, not at the perturbed point w - rho u"),
        Mutant("sign-flipped", "perturbation_sign", MSAMSignFlipped,
               detail="perturbed along +v, not -v"),
        Mutant("per-tensor", "per_tensor_norm", MSAMPerTensor, detail=_PER_TENSOR),
        Mutant("undo-current-rho", "rho_drift", MSAMUndoWithCurrentRho,
               detail="undo with rho_t * v / ||v|| after perturbing with rho_{t-1}"),
        Mutant("rho-lag", "rho_lag", MSAMRhoLag,
               detail="perturbed with rho_{t-1}, undone exactly"),
        Mutant("first-momentum", "first_momentum", MSAMFirstMomentum, detail=_FIRST),
        Mutant("decay-outside", "weight_decay_outside_momentum", MSAMDecayOutside,
               detail=_OUTSIDE),
        Mutant("no-eps", "missing_epsilon", MSAMNoEps, detail="u = v / ||v||"),
        _BN_NO_REESTIMATION,
        Mutant("float32-norm", "float32_norm", MSAMFloat32Norm, detail=_F32, kind="precision"),
        _LOST,
        _LOST_PERTURBED,
        _LR_LOST,
    ),
    "adamw": (
        Mutant("decay-last", "weight_decay_placement", AdamWDecayLast,
               detail="decoupled decay after the Adam step, not before (torch.optim.AdamW)"),
        _LOST,
        _LR_LOST,
    ),
    "adamw-msam": (
        Mutant("decay-first", "weight_decay_placement", AdamWMSAMDecayFirst,
               detail="decoupled decay before the Adam step, not after (official code)"),
        Mutant("sign-flipped", "perturbation_sign", AdamWMSAMSignFlipped,
               detail="perturbed along +m, not -m"),
        Mutant("per-tensor", "per_tensor_norm", AdamWMSAMPerTensor, detail=_PER_TENSOR),
        Mutant("rho-lag", "rho_lag", AdamWMSAMRhoLag,
               detail="perturbed with rho_{t-1} at the end of the previous step, undone "
               "exactly (the official code's form)"),
        Mutant("no-eps", "missing_epsilon", AdamWMSAMNoEps, detail="c = rho / ||m||"),
        Mutant("float32-norm", "float32_norm", AdamWMSAMFloat32Norm, detail=_F32,
               kind="precision"),
        _LOST,
        _LOST_PERTURBED,
        _LR_LOST,
    ),
}  # fmt: skip


def mutants_for(optimizer: str, kind: str | None = "bug") -> tuple[Mutant, ...]:
    """The mutants of one optimizer name (a key of :data:`MUTANTS`) of one ``kind``
    (``"bug"``, ``"precision"``, or None for all)."""
    if optimizer not in MUTANTS:
        raise ValueError(f"unknown optimizer {optimizer!r}; known: {list(MUTANTS)}")
    return tuple(m for m in MUTANTS[optimizer] if kind is None or m.kind == kind)


def _knob_base(cls: type) -> type | None:
    return next((k for k in cls.__mro__ if "KNOBS" in k.__dict__ and k is not _Knobs), None)


def combine(a: Mutant, b: Mutant) -> Mutant | None:
    """Both pitfalls in one mutant, or None when they cannot be built together.

    Two optimizer mutants combine when both set knobs of the same base, different
    ones; a restore mode combines with any optimizer mutant; two restore modes do not;
    batch-norm mutants combine like restore modes (one batch-norm change per pair).
    """
    if a.pitfall == b.pitfall or (a.restore != "keep" and b.restore != "keep"):
        return None
    if a.needs_stats and b.needs_stats:
        return None
    if a.cls is not None and b.cls is not None:
        base = _knob_base(a.cls)
        if base is None or base is not _knob_base(b.cls):
            return None
        if a.cls.knobs_set() & b.cls.knobs_set():
            return None
        cls = type(f"{a.cls.__name__}And{b.cls.__name__}", (a.cls, b.cls), {})
    else:
        cls = a.cls or b.cls
    restore = b.restore if a.restore == "keep" else a.restore
    return replace(
        a,
        name=f"{a.name}+{b.name}",
        pitfall=f"{a.pitfall}+{b.pitfall}",
        cls=cls,
        restore=restore,
        detail=f"{a.detail}; and {b.detail}",
        bn=b.bn if a.bn == "reference" else a.bn,
        reestimate=a.reestimate and b.reestimate,
    )


def pairs(optimizer: str) -> list[Mutant]:
    """Every buildable pair of the optimizer's bug mutants (:func:`combine`)."""
    built = (combine(a, b) for a, b in itertools.combinations(mutants_for(optimizer), 2))
    return [m for m in built if m is not None]
