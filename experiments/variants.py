"""Perturbation variants of SGD with momentum, for the experiments (not in docs/optimizers.md).

The Momentum-SAM paper (Becker et al., arXiv 2401.12033) takes the gradient at a
point shifted along the momentum and varies how that shift is made: a negative radius,
i.e. a step back along ``+v`` (Sec. 4.1, Fig. 2), and an ablation that turns MSAM into
NAG one change at a time (Appendix A.2, Fig. A.1).
:class:`PerturbedMomentum` implements all of them with one update rule, so that the
experiments in ``experiments/`` can sweep them. It is an experiment tool:
:class:`~minimsam.optim.MSAM` is the optimizer to use, and it (rightly) rejects a
negative ``rho``.
"""

from __future__ import annotations

import math
import numbers

from minimsam.optim.base import (
    EPS,
    Optimizer,
    check_nonnegative,
    check_unit_interval,
    global_norm,
)
from minimsam.optim.variants import MSAMVariant

__all__ = ["PERTURBATIONS", "PerturbedMomentum"]

PERTURBATIONS = ("msam", "unnormalized", "lr-scaled")


def _check_signed(name: str, value):
    """A finite real number of either sign, or a schedule ``t -> value`` (checked per step)."""
    if callable(value):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number or a schedule t -> value, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite (allowed range (-inf, inf)), got {value}")
    return float(value)


class PerturbedMomentum(MSAMVariant):
    """SGD with momentum whose gradient is taken at ``w_t + eps_t``, a shift along ``v_t``.

    One step, with ``g(x)`` the gradient returned by ``grad_fn`` at ``x``::

        eps_t   = -rho * v_t / (||v_t|| + EPS)      perturbation="msam"
                = -rho * v_t                        perturbation="unnormalized"
                = -rho * eta_t * mu * v_t           perturbation="lr-scaled"
        wp_t    = w_t + eps_t                       (perturbed point)
        d       = g(wp_t) + lam * wp_t              (weight decay at the perturbed point)
        v_{t+1} = mu * v_t + d
        w_{t+1} = w_t - eta_t * v_{t+1}

    ``rho`` is signed. ``rho > 0`` shifts along ``-v`` (further in the direction of the
    last update); ``rho < 0`` shifts along ``+v``, a step back towards earlier iterates,
    which the paper shows hurts (Fig. 2A). Identities the tests check:

    - ``"msam"`` with ``rho >= 0`` is :class:`~minimsam.optim.MSAM` (same arithmetic);
    - ``"lr-scaled"`` with ``rho = 1`` is :class:`~minimsam.optim.NAG`: its look-ahead
      ``a_t = w_t - eta_t mu v_t`` and its weight decay ``lam * a_t`` at that point;
    - ``rho = 0`` is SGD with momentum (``optim.SGD(lr, momentum, weight_decay)``).

    The ablation of Fig. A.1 goes MSAM -> "unnormalized" (drop the normalisation) ->
    "lr-scaled" (tie the radius to the learning rate again) -> ``rho = 1`` (NAG). The
    paper gives no formula for its lr-scaled variant; ``-rho eta mu v`` is the one for
    which ``rho = 1`` is NAG (inferred, not stated in the paper).

    ``v_0 = 0``, so step 0 has no perturbation in every form. ``info.loss`` is the loss
    at ``wp_t``; the params are ``w_t`` (unperturbed), which :meth:`eval_params` returns.

    State: ``{"step": t, "momentum": v}``.
    Trace names: ``w``, ``w_perturbed`` (``wp_t``), ``grad`` (``g(wp_t)``), ``momentum``
    (``v_{t+1}``), ``w_next`` (``w_{t+1}``).

    Args:
        lr: learning rate ``eta`` >= 0, a number or a schedule ``t -> eta``.
        momentum: ``mu`` in [0, 1).
        rho: signed radius (a finite number of either sign, or a schedule ``t -> rho``).
        weight_decay: ``lam`` >= 0, coupled, taken at the perturbed point.
        perturbation: one of ``PERTURBATIONS``: ``"msam"``, ``"unnormalized"``,
            ``"lr-scaled"``.
        check_finite: raise ``FloatingPointError`` on a non-finite loss or gradient.
    """

    def __init__(
        self,
        lr,
        momentum: float = 0.9,
        rho=0.3,
        weight_decay: float = 0.0,
        perturbation: str = "msam",
        check_finite: bool = True,
    ):
        Optimizer.__init__(self, check_finite)  # not MSAM's: its rho must be >= 0
        self.store_perturbed = False
        self.lr = check_nonnegative("lr", lr, schedulable=True)
        self.momentum = check_unit_interval("momentum", momentum)
        self.rho = _check_signed("rho", rho)
        self.weight_decay = check_nonnegative("weight_decay", weight_decay)
        if perturbation not in PERTURBATIONS:
            raise ValueError(
                f"perturbation must be one of {', '.join(PERTURBATIONS)}, got {perturbation!r}"
            )
        self.perturbation = perturbation

    def signed_rho(self, t: int) -> float:
        """``rho`` at step ``t`` (a schedule is called; its value may be negative)."""
        if not callable(self.rho):
            return self.rho
        return _check_signed(f"rho (schedule value at step {t})", self.rho(t))

    def perturbation_scale(self, v, lr: float, rho: float):
        """The factor ``c`` with ``eps_t = c * v_t`` (a number or a 0-d device array)."""
        if self.perturbation == "msam":
            return -rho / (global_norm(v) + EPS)
        if self.perturbation == "unnormalized":
            return -rho
        return -rho * lr * self.momentum  # "lr-scaled": rho = 1 gives NAG's -eta mu

    @property
    def norm(self) -> str:
        """The knob of :class:`~minimsam.optim.variants.MSAMVariant`: unnormalised unless "msam"."""
        return "global" if self.perturbation == "msam" else "none"

    @property
    def radius(self) -> str:
        return "rho-lr-mu" if self.perturbation == "lr-scaled" else "rho"  # rho = 1: -eta mu

    def rho_at(self, t: int) -> float:
        return self.signed_rho(t)
