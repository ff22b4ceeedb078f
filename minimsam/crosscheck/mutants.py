"""Mutant reference optimizers: the known pitfalls, each introduced on purpose.

A failing implementation is diagnosed by re-running the reference with one pitfall
built in and checking whether the implementation's trajectory matches that
mutant's (see :mod:`minimsam.crosscheck.compare`). Each mutant class is the update
of its reference optimizer (``minimsam.optim``) with one line changed, marked
``# PITFALL``; the state-loss pitfalls change the run, not the optimizer
(:data:`~minimsam.crosscheck.reference.RESTORE_MODES`).

The pitfalls (docs/optimizers.md, "Common implementation mistakes"):

``weight_decay_placement``
    Coupled decay taken at the other point (SAM: at ``w + e`` instead of ``w``;
    MSAM: at ``w`` instead of ``w - rho u``; NAG: at ``w`` instead of the look-ahead
    point), or decoupled decay on the other side of the Adam step (AdamW decays
    before, AdamW-MSAM after).
``perturbation_sign``
    SAM perturbed along ``-g`` (descent), MSAM along ``+v`` (a step back),
    AdamW-MSAM along ``+m``.
``rho_drift``
    The memory-free form stores ``1 / (||v|| + EPS)`` and removes the old
    perturbation with the *current* rho (the official MSAM code). When rho changes
    between steps, ``w`` shifts by ``(rho_new - rho_old) * v / ||v||`` for good, and
    the gradient is taken with the previous step's rho.
``missing_epsilon``
    Normalising by ``||.||`` instead of ``||.|| + EPS``: NaN as soon as the vector is
    zero (MSAM and AdamW-MSAM on step 0, SAM on a zero gradient); otherwise the
    difference is about ``1e-12`` relative and not a failure.
``state_not_saved``
    The optimizer state is not in the checkpoint: the run continues from a fresh
    optimizer (zero buffers, step count 0), at ``w`` or, for a memory-free
    optimizer, at the perturbed point it was holding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minimsam import optim
from minimsam.backend import get_backend
from minimsam.optim.adamw import adam_moments, adam_step
from minimsam.optim.base import EPS, axpy, global_norm, scale, zeros_like

__all__ = ["MUTANTS", "PITFALLS", "Mutant", "mutants_for"]

PITFALLS: dict[str, str] = {
    "weight_decay_placement": "weight decay applied at the wrong point",
    "perturbation_sign": "perturbation with the wrong sign",
    "rho_drift": "old perturbation removed with the current rho, not the rho that applied it "
    "(the official MSAM code's drift under a rho schedule)",
    "missing_epsilon": "normalisation by ||.|| without + EPS (NaN on a zero vector)",
    "state_not_saved": "optimizer state not saved and restored with the checkpoint",
}


# ----------------------------------------------------------------------------- SAM


class SAMDecayAtPerturbed(optim.SAM):
    """SAM with the weight decay taken at ``w + e`` (reference: at ``w``)."""

    def update(self, w, state, grad, t, trace):
        lr, rho, mu = self.hyper("lr", t), self.hyper("rho", t), self.momentum
        g1 = grad(w)
        wp = axpy(rho / (global_norm(g1) + EPS), g1, w)
        d = axpy(self.weight_decay, wp, grad(wp))  # PITFALL: lam * (w + e)
        v_next = axpy(mu, state["momentum"], d)
        return axpy(-lr, v_next, w), {"momentum": v_next}


class SAMSignFlipped(optim.SAM):
    """SAM with the perturbation ``-e`` (a descent step)."""

    def update(self, w, state, grad, t, trace):
        lr, rho, mu = self.hyper("lr", t), self.hyper("rho", t), self.momentum
        g1 = grad(w)
        wp = axpy(-rho / (global_norm(g1) + EPS), g1, w)  # PITFALL: w - e
        d = axpy(self.weight_decay, w, grad(wp))
        v_next = axpy(mu, state["momentum"], d)
        return axpy(-lr, v_next, w), {"momentum": v_next}


class SAMNoEps(optim.SAM):
    """SAM with ``e = rho g / ||g||``."""

    def update(self, w, state, grad, t, trace):
        lr, rho, mu = self.hyper("lr", t), self.hyper("rho", t), self.momentum
        g1 = grad(w)
        wp = axpy(rho / global_norm(g1), g1, w)  # PITFALL: no + EPS
        d = axpy(self.weight_decay, w, grad(wp))
        v_next = axpy(mu, state["momentum"], d)
        return axpy(-lr, v_next, w), {"momentum": v_next}


# ----------------------------------------------------------------------------- MSAM


class _MSAMWith(optim.MSAM):
    """The MSAM step with the perturbed point and the decay point as hooks."""

    def perturbed(self, w, v, rho):
        return axpy(-rho / (global_norm(v) + EPS), v, w)

    def decay_point(self, w, wp):
        return wp

    def update(self, w, state, grad, t, trace):
        lr, rho, mu, v = self.hyper("lr", t), self.hyper("rho", t), self.momentum, state["momentum"]
        wp = self.perturbed(w, v, rho)
        d = axpy(self.weight_decay, self.decay_point(w, wp), grad(wp))
        v_next = axpy(mu, v, d)
        return axpy(-lr, v_next, w), {"momentum": v_next}


class MSAMDecayAtW(_MSAMWith):
    """MSAM with the weight decay taken at ``w`` (reference: at ``w - rho u``)."""

    def decay_point(self, w, wp):
        return w  # PITFALL


class MSAMSignFlipped(_MSAMWith):
    """MSAM perturbed along ``+v``."""

    def perturbed(self, w, v, rho):
        return axpy(rho / (global_norm(v) + EPS), v, w)  # PITFALL: w + rho u


class MSAMNoEps(_MSAMWith):
    """MSAM with ``u = v / ||v||`` (NaN on step 0, where ``v = 0``)."""

    def perturbed(self, w, v, rho):
        return axpy(-rho / global_norm(v), v, w)  # PITFALL: no + EPS


def _scalar(value: float):
    """A 0-d float64 array on the active backend (state entries are arrays, not floats)."""
    return get_backend().xp.asarray(value, dtype=np.float64)


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


class _AdamWMSAMWith(optim.AdamWMSAM):
    """The AdamW-MSAM step with the perturbed point and the decay order as hooks."""

    decay_first = False

    def perturbed(self, w, m, rho):
        return axpy(-rho / (global_norm(m) + EPS), m, w)

    def update(self, w, state, grad, t, trace):
        lr, rho, lam = self.hyper("lr", t), self.hyper("rho", t), self.weight_decay
        wp = self.perturbed(w, state["m"], rho)
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

    def perturbed(self, w, m, rho):
        return axpy(rho / (global_norm(m) + EPS), m, w)  # PITFALL: w + c m


class AdamWMSAMNoEps(_AdamWMSAMWith):
    """AdamW-MSAM with ``c = rho / ||m||`` (NaN on step 0, where ``m = 0``)."""

    def perturbed(self, w, m, rho):
        return axpy(-rho / global_norm(m), m, w)  # PITFALL: no + EPS


class AdamWMSAMUndoWithCurrentRho(optim.AdamWMSAM):
    """Memory-free AdamW-MSAM that stores ``inv = 1 / (||m|| + EPS)`` and undoes with ``rho_t``."""

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


class NAGDecayAtW(optim.NAG):
    """NAG with the weight decay taken at ``w`` (reference: at the look-ahead point)."""

    def update(self, w, state, grad, t, trace):
        lr, mu, v = self.hyper("lr", t), self.momentum, state["momentum"]
        a = axpy(-lr * mu, v, w)
        d = axpy(self.weight_decay, w, grad(a))  # PITFALL: lam * w
        v_next = axpy(mu, v, d)
        return axpy(-lr, v_next, w), {"momentum": v_next}


# ----------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Mutant:
    """One pitfall built into one optimizer: a class (None: the reference) and a restore mode."""

    name: str
    pitfall: str
    cls: type | None = None
    restore: str = "keep"
    detail: str = ""


_LOST = Mutant("state-lost", "state_not_saved", restore="lose",
               detail="the run continued from a fresh optimizer at w")  # fmt: skip
_LOST_PERTURBED = Mutant("state-lost-perturbed", "state_not_saved", restore="lose-perturbed",
                         detail="the run continued from a fresh optimizer at the perturbed "
                         "point the old one held")  # fmt: skip

MUTANTS: dict[str, tuple[Mutant, ...]] = {
    "sgd": (_LOST,),
    "nag": (
        Mutant("decay-at-w", "weight_decay_placement", NAGDecayAtW,
               detail="decay at w, not at the look-ahead point w - lr mu v"),
        _LOST,
    ),
    "sam": (
        Mutant("decay-at-perturbed", "weight_decay_placement", SAMDecayAtPerturbed,
               detail="decay at w + e, not at w"),
        Mutant("sign-flipped", "perturbation_sign", SAMSignFlipped,
               detail="perturbed to w - e (descent), not w + e"),
        Mutant("no-eps", "missing_epsilon", SAMNoEps, detail="e = rho g / ||g||"),
        _LOST,
    ),
    "msam": (
        Mutant("decay-at-w", "weight_decay_placement", MSAMDecayAtW,
               detail="decay at w, not at the perturbed point w - rho u"),
        Mutant("sign-flipped", "perturbation_sign", MSAMSignFlipped,
               detail="perturbed along +v, not -v"),
        Mutant("undo-current-rho", "rho_drift", MSAMUndoWithCurrentRho,
               detail="undo with rho_t * v / ||v|| after perturbing with rho_{t-1}"),
        Mutant("no-eps", "missing_epsilon", MSAMNoEps, detail="u = v / ||v||"),
        _LOST,
        _LOST_PERTURBED,
    ),
    "adamw": (
        Mutant("decay-last", "weight_decay_placement", AdamWDecayLast,
               detail="decoupled decay after the Adam step, not before (torch.optim.AdamW)"),
        _LOST,
    ),
    "adamw-msam": (
        Mutant("decay-first", "weight_decay_placement", AdamWMSAMDecayFirst,
               detail="decoupled decay before the Adam step, not after (official code)"),
        Mutant("sign-flipped", "perturbation_sign", AdamWMSAMSignFlipped,
               detail="perturbed along +m, not -m"),
        Mutant("undo-current-rho", "rho_drift", AdamWMSAMUndoWithCurrentRho,
               detail="undo with rho_t * m / ||m|| after perturbing with rho_{t-1}"),
        Mutant("no-eps", "missing_epsilon", AdamWMSAMNoEps, detail="c = rho / ||m||"),
        _LOST,
        _LOST_PERTURBED,
    ),
}  # fmt: skip


def mutants_for(optimizer: str) -> tuple[Mutant, ...]:
    """The mutants of one optimizer name (a key of :data:`MUTANTS`)."""
    if optimizer not in MUTANTS:
        raise ValueError(f"unknown optimizer {optimizer!r}; known: {list(MUTANTS)}")
    return MUTANTS[optimizer]
