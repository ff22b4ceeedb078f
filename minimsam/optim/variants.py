"""Every optimizer's update written once with *knobs*: the reference, and its known mistakes.

Each class below is the update of one optimizer of :mod:`minimsam.optim` with a few
class-level knobs. At the defaults it IS that optimizer, bit for bit (the tests check
this over many steps with weight decay, schedules and a zero gradient); setting a knob
builds one known mistake in (a line marked ``# KNOB``). The cross-check kit, the
exercise grader and the experiments all take their variants from here::

    Broken = variant(MSAMVariant, sign=+1.0)          # MSAM perturbed along +v
    Broken(lr=0.1, rho=0.3).step(params, state, grad_fn)

The knobs (each class lists its own in ``KNOBS``):

``carry``
    False: every step sees zero buffers (``v_t = 0``), as when a step starts from a
    fresh buffer or returns the one it was given; the step count goes on.
``decay``
    ``"coupled"`` (reference), ``"none"`` (weight decay ignored), ``"outside"``
    (``w - eta v - lam w``: outside the momentum, without ``eta``), ``"beside"``
    (SGD: ``w - eta (v_{t+1} + lam w)``, the momentum fed with ``g`` alone).
``decay_at``
    Where coupled decay is taken (SAM: ``"w"`` or ``"wp"``; MSAM: ``"wp"`` or ``"w"``;
    NAG: ``"lookahead"`` or ``"w"``).
``first_momentum``
    ``"one-plus-mu"``: the first buffer is ``(1 + mu) d`` (set to ``d``, then ``+ d``).
``sign``
    The perturbation's sign (SAM ``+1``, MSAM and AdamW-MSAM ``-1``); ``0`` is no
    perturbation at all (the gradient taken at ``w``).
``norm``, ``norm_eps``
    ``"global"`` (reference), ``"per-tensor"``, ``"float32"`` (rounding only) or
    ``"none"`` (MSAM: unnormalised); ``norm_eps=0`` drops the ``+ EPS``.
``radius``
    MSAM: ``"rho"`` (reference) or ``"rho-lr-mu"`` (the radius tied to ``eta mu``;
    with ``norm="none"`` and ``rho = 1`` this is NAG's look-ahead).
``rho_fixed``, ``rho_lag``
    The perturbation made with ``rho[0]`` on every step, or with ``rho[t-1]``.
``grad_at``, ``step_from``, ``returns``, ``form``
    NAG's variable: the gradient at ``w``; the update started from the look-ahead
    point; the next look-ahead point returned; or ``form="torch"``, the update of
    ``SGD(nesterov=True)`` applied to ``w``.
``decay_last``, ``decay_first``
    AdamW decaying after the Adam step; AdamW-MSAM decaying before it.
"""

from __future__ import annotations

import numpy as np

from minimsam import optim
from minimsam.backend import get_backend
from minimsam.optim.adamw import adam_moments, adam_step
from minimsam.optim.base import EPS, axpy, global_norm, scale, zeros_like
from minimsam.optim.flat import Flat

#: A params-sized buffer of a state: a dict of arrays, or on a device the Flat of the
#: step's one-buffer-per-dtype layout (:mod:`minimsam.optim.flat`).
Buffer = (dict, Flat)

__all__ = [
    "VARIANTS",
    "AdamWMSAMUndoWithCurrentRho",
    "AdamWMSAMVariant",
    "AdamWVariant",
    "MSAMUndoWithCurrentRho",
    "MSAMVariant",
    "NAGVariant",
    "SAMVariant",
    "SGDVariant",
    "variant",
]


# ----------------------------------------------------------------------------- shared pieces


def float32_norm(tree):
    """``||tree||`` with the squares summed and rooted in float32, returned as float64."""
    xp = get_backend().xp
    total = None
    for x in tree.values():
        flat = x.reshape(-1).astype(xp.float32)
        sq = xp.vdot(flat, flat)
        total = sq if total is None else total + sq
    return xp.sqrt(total).astype(xp.float64)


def shifted(w, x, coef, norm: str, eps: float):
    """``w + coef * x / (||x|| + eps)``, with the global norm (the reference), a float32
    one, each tensor's own (``"per-tensor"``), or none (``w + coef * x``)."""
    if norm == "none":
        return axpy(coef, x, w)
    if norm == "per-tensor":  # KNOB: x_k / ||x_k||
        return {k: axpy(coef / (global_norm({k: x[k]}) + eps), {k: x[k]}, {k: w[k]})[k] for k in w}
    size = float32_norm(x) if norm == "float32" else global_norm(x)
    return axpy(coef / (size + eps), x, w)


def momentum(mu, v, d, t: int, first: str):
    """``v_{t+1} = mu v_t + d``; ``first="one-plus-mu"`` makes ``v_1 = (1 + mu) d``."""
    if first == "one-plus-mu" and t == 0:
        return scale(1.0 + mu, d)  # KNOB: the buffer starts at d, then + d
    return axpy(mu, v, d)


def _scalar(value: float):
    """A 0-d float64 array on the active backend (state entries are arrays, not floats)."""
    return get_backend().xp.asarray(value, dtype=np.float64)


class Knobs:
    """A reference update written with class-level knobs; the defaults are the reference."""

    KNOBS: tuple[str, ...] = ("carry",)
    carry = True

    @classmethod
    def knobs_set(cls) -> set[str]:
        """The knobs this class or its bases (below the knob base) change."""
        changed = set()
        for klass in cls.__mro__:
            if "KNOBS" in klass.__dict__:
                break
            changed |= set(klass.__dict__) & set(cls.KNOBS)
        return changed

    @classmethod
    def knob_base(cls) -> type:
        return next(k for k in cls.__mro__ if "KNOBS" in k.__dict__)

    def buffers(self, state):
        """The state's buffers, or zeros of their shape when ``carry`` is off."""
        if self.carry:
            return state
        return {k: zeros_like(b) if isinstance(b, Buffer) else b for k, b in state.items()}


def variant(base: type, **knobs) -> type:
    """``base`` with some knobs set: a new class named after them."""
    unknown = set(knobs) - set(base.KNOBS)
    if unknown:
        raise ValueError(f"{base.__name__} has no knob {sorted(unknown)}; knobs: {base.KNOBS}")
    name = base.__name__ + "".join(f"_{k}={v}" for k, v in sorted(knobs.items()))
    return type(name, (base,), dict(knobs))


# ----------------------------------------------------------------------------- SGD, NAG


class SGDVariant(Knobs, optim.SGD):
    """The SGD update (torch.optim.SGD): ``d = g(w) + lam w``, ``v = mu v + d``,
    ``w - eta v`` (``w - eta (d + mu v)`` with Nesterov; ``w - eta d`` without momentum)."""

    KNOBS = ("carry", "first_momentum", "decay")
    first_momentum, decay = "zero", "coupled"

    def update(self, w, state, grad, t, trace):
        lr, mu, lam = self.hyper("lr", t), self.momentum, self.weight_decay
        g = grad(w)
        coupled = self.decay == "coupled" or (self.decay == "beside" and mu == 0)
        d = axpy(lam, w, g) if coupled else g  # KNOB: decay
        if mu == 0:
            w_next, buffers = axpy(-lr, d, w), {}
        else:
            v_next = momentum(mu, self.buffers(state)["momentum"], d, t, self.first_momentum)
            direction = axpy(mu, v_next, d) if self.nesterov else v_next
            if self.decay == "beside":
                direction = axpy(lam, w, direction)  # KNOB: eta (v + lam w)
            w_next, buffers = axpy(-lr, direction, w), {"momentum": v_next}
        if self.decay == "outside":
            w_next = axpy(-lam, w, w_next)  # KNOB: - lam w, no lr
        return w_next, buffers


class NAGVariant(Knobs, optim.NAG):
    """The look-ahead NAG update: ``a = w - eta mu v``, ``d = g(a) + lam a``,
    ``v = mu v + d``, ``w - eta v``."""

    KNOBS = ("carry", "decay", "decay_at", "first_momentum", "grad_at", "step_from", "returns",
             "form")  # fmt: skip
    decay, decay_at, first_momentum = "coupled", "lookahead", "zero"
    grad_at, step_from, returns, form = "lookahead", "w", "w", "lookahead"

    def update(self, w, state, grad, t, trace):
        lr, mu, v = self.hyper("lr", t), self.momentum, self.buffers(state)["momentum"]
        lam = 0.0 if self.decay == "none" else self.weight_decay
        if self.form == "torch":  # KNOB: SGD(nesterov=True)'s update on w
            d = axpy(lam, w, grad(w))
            v_next = axpy(mu, v, d)
            return axpy(-lr, axpy(mu, v_next, d), w), {"momentum": v_next}
        a = axpy(-lr * mu, v, w)
        p = w if self.grad_at == "w" else a  # KNOB: grad_at
        d = axpy(lam, w if self.decay_at == "w" else p, grad(p))
        v_next = momentum(mu, v, d, t, self.first_momentum)
        w_next = axpy(-lr, v_next, a if self.step_from == "lookahead" else w)
        if self.returns == "lookahead":
            w_next = axpy(-lr * mu, v_next, w_next)  # KNOB: the next look-ahead point
        return w_next, {"momentum": v_next}


# ----------------------------------------------------------------------------- SAM


class SAMVariant(Knobs, optim.SAM):
    """The SAM update: ``e = sign rho g(w) / (||g(w)|| + EPS)``, ``d = g(w + e) + lam w``,
    ``v = mu v + d``, ``w - eta v``."""

    KNOBS = ("carry", "sign", "norm_eps", "norm", "decay_at", "decay", "first_momentum",
             "rho_fixed")  # fmt: skip
    sign, norm_eps, norm, decay_at = 1.0, EPS, "global", "w"
    decay, first_momentum, rho_fixed = "coupled", "zero", False

    def update(self, w, state, grad, t, trace):
        lr, rho = self.hyper("lr", t), self.hyper("rho", 0 if self.rho_fixed else t)
        mu, lam = self.momentum, self.weight_decay
        g1 = grad(w)
        wp = shifted(w, g1, self.sign * rho, self.norm, self.norm_eps)
        g2 = grad(wp)
        d = g2 if self.decay != "coupled" else axpy(lam, wp if self.decay_at == "wp" else w, g2)
        v_next = momentum(mu, self.buffers(state)["momentum"], d, t, self.first_momentum)
        w_next = axpy(-lr, v_next, w)
        if self.decay == "outside":
            w_next = axpy(-lam, w, w_next)
        return w_next, {"momentum": v_next}


# ----------------------------------------------------------------------------- MSAM


class MSAMVariant(Knobs, optim.MSAM):
    """The MSAM update: ``wp = w + sign rho v / (||v|| + EPS)``, ``d = g(wp) + lam wp``,
    ``v = mu v + d``, ``w - eta v``. Trace names as :class:`~minimsam.optim.MSAM`."""

    KNOBS = ("carry", "sign", "norm_eps", "norm", "radius", "decay_at", "decay",
             "first_momentum", "rho_lag")  # fmt: skip
    sign, norm_eps, norm, radius, decay_at = -1.0, EPS, "global", "rho", "wp"
    decay, first_momentum, rho_lag = "coupled", "zero", False

    def rho_at(self, t: int):
        """The radius of step ``t`` (``rho[t-1]`` with ``rho_lag``)."""
        return self.hyper("rho", t - 1 if self.rho_lag and t > 0 else t)

    def update(self, w, state, grad, t, trace):
        lr, mu, lam = self.hyper("lr", t), self.momentum, self.weight_decay
        v = self.buffers(state)["momentum"]
        coef = self.sign * self.rho_at(t)
        if self.radius == "rho-lr-mu":
            coef = coef * lr * mu  # KNOB: the radius tied to eta mu
        wp = shifted(w, v, coef, self.norm, self.norm_eps)
        g = grad(wp)
        d = g if self.decay != "coupled" else axpy(lam, w if self.decay_at == "w" else wp, g)
        trace(w=w, w_perturbed=wp, grad=g)
        v_next = momentum(mu, v, d, t, self.first_momentum)
        w_next = axpy(-lr, v_next, w)
        if self.decay == "outside":
            w_next = axpy(-lam, w, w_next)
        trace(momentum=v_next, w_next=w_next)
        return w_next, {"momentum": v_next}


class MSAMUndoWithCurrentRho(optim.MSAM):
    """The official code's memory-free MSAM (docs/optimizers.md#msam): params hold ``wp``.

    State: ``momentum`` ``v``, ``inv = 1 / (||v|| + EPS)`` and ``rho_applied``. A step::

        d         = g(wp_t) + lam * wp_t
        w_t       = wp_t + rho_t * inv_t * v_t          (the current rho: a drift)
        v_{t+1}   = mu * v_t + d ;  w_{t+1} = w_t - eta * v_{t+1}
        wp_{t+1}  = w_{t+1} - rho_t * inv_{t+1} * v_{t+1}

    so ``wp_t`` was made with ``rho_{t-1}``; ``eval_params = wp + rho_applied * inv * v``.
    """

    def init_buffers(self, params):
        buffers = {"momentum": zeros_like(params)}
        return {**buffers, "inv": _scalar(0.0), "rho_applied": _scalar(0.0)}

    def update(self, wp, state, grad, t, trace):
        lr, rho, mu, v = self.hyper("lr", t), self.hyper("rho", t), self.momentum, state["momentum"]
        d = axpy(self.weight_decay, wp, grad(wp))
        w = axpy(rho * state["inv"], v, wp)  # undo with rho_t, not rho_{t-1}
        v_next = axpy(mu, v, d)
        w_next = axpy(-lr, v_next, w)
        inv = 1.0 / (global_norm(v_next) + EPS)
        wp_next = axpy(-rho * inv, v_next, w_next)
        return wp_next, {"momentum": v_next, "inv": inv, "rho_applied": _scalar(rho)}

    def eval_params(self, params, state):
        return axpy(state["rho_applied"] * state["inv"], state["momentum"], params)


# ----------------------------------------------------------------------------- AdamW(-MSAM)


class AdamWVariant(Knobs, optim.AdamW):
    """AdamW (torch.optim.AdamW: the decoupled decay before the Adam step)."""

    KNOBS = ("carry", "decay_last")
    decay_last = False

    def update(self, w, state, grad, t, trace):
        lr, state = self.hyper("lr", t), self.buffers(state)
        g = grad(w)
        decayed = w if self.decay_last else scale(1 - lr * self.weight_decay, w)
        m, s = adam_moments(state["m"], state["s"], g, self.betas)
        w_next = adam_step(decayed, m, s, lr, self.betas, self.eps, k=t + 1)
        if self.decay_last:
            w_next = scale(1 - lr * self.weight_decay, w_next)  # KNOB: decay after the step
        return w_next, {"m": m, "s": s}


class AdamWMSAMVariant(Knobs, optim.AdamWMSAM):
    """AdamW-MSAM: ``wp = w + sign rho m / (||m|| + EPS)``, Adam moments of ``g(wp)``,
    the Adam step from ``w``, the decoupled decay after it."""

    KNOBS = ("carry", "sign", "norm_eps", "norm", "decay", "decay_first", "rho_lag")
    sign, norm_eps, norm, decay = -1.0, EPS, "global", "decoupled"
    decay_first, rho_lag = False, False

    def update(self, w, state, grad, t, trace):
        lr, state = self.hyper("lr", t), self.buffers(state)
        lam = 0.0 if self.decay == "none" else self.weight_decay
        rho = self.hyper("rho", t - 1 if self.rho_lag and t > 0 else t)
        wp = shifted(w, state["m"], self.sign * rho, self.norm, self.norm_eps)
        m, s = adam_moments(state["m"], state["s"], grad(wp), self.betas)
        if self.decay_first:
            w = scale(1 - lr * lam, w)  # KNOB: decay before the step
        w_next = adam_step(w, m, s, lr, self.betas, self.eps, k=t + 1)
        if not self.decay_first:
            w_next = scale(1 - lr * lam, w_next)
        return w_next, {"m": m, "s": s}


class AdamWMSAMUndoWithCurrentRho(optim.AdamWMSAM):
    """Memory-free AdamW-MSAM that stores ``inv = 1 / (||m|| + EPS)`` and undoes with
    ``rho_t`` (for comparison with :class:`MSAMUndoWithCurrentRho`)."""

    def init_buffers(self, params):
        buffers = {"m": zeros_like(params), "s": zeros_like(params)}
        return {**buffers, "inv": _scalar(0.0), "rho_applied": _scalar(0.0)}

    def update(self, wp, state, grad, t, trace):
        lr, rho, lam = self.hyper("lr", t), self.hyper("rho", t), self.weight_decay
        g = grad(wp)
        w = axpy(rho * state["inv"], state["m"], wp)  # undo with rho_t, not rho_{t-1}
        m, s = adam_moments(state["m"], state["s"], g, self.betas)
        w_next = scale(1 - lr * lam, adam_step(w, m, s, lr, self.betas, self.eps, k=t + 1))
        inv = 1.0 / (global_norm(m) + EPS)
        wp_next = axpy(-rho * inv, m, w_next)
        return wp_next, {"m": m, "s": s, "inv": inv, "rho_applied": _scalar(rho)}

    def eval_params(self, params, state):
        return axpy(state["rho_applied"] * state["inv"], state["m"], params)


VARIANTS: dict[str, type] = {
    "sgd": SGDVariant,
    "nag": NAGVariant,
    "sam": SAMVariant,
    "msam": MSAMVariant,
    "adamw": AdamWVariant,
    "adamw-msam": AdamWMSAMVariant,
}
"""The knob class of each optimizer name of ``optim.BY_NAME``."""
