"""Sharpness-Aware Minimization (Foret et al. 2021) on an SGD-momentum base.

Reference: docs/optimizers.md#sam; Momentum-SAM paper (Becker et al., arXiv 2401.12033),
Sec. 2.2, Eq. 2, and the official code's ``sam.py``.
"""

from __future__ import annotations

from minimsam.optim.base import (
    Optimizer,
    axpy,
    check_nonnegative,
    check_unit_interval,
    over_norm,
    scale,
    zeros_like,
)

__all__ = ["SAM"]


class SAM(Optimizer):
    """SAM(lr, momentum=0.9, rho=0.05, weight_decay=0): two gradient evaluations per step.

    One step, with ``g(x)`` the gradient returned by ``grad_fn`` at ``x``::

        g1      = g(w_t)
        e_t     = rho * g1 / (||g1|| + EPS)         (ascent step; data-loss gradient only)
        d       = g(w_t + e_t) + lam * w_t          (weight decay at the UNperturbed point)
        v_{t+1} = mu * v_t + d
        w_{t+1} = w_t - eta * v_{t+1}

    ``||.||`` is the global norm over all parameters. A zero gradient gives ``e_t = 0``
    (no NaN). ``info.loss`` is the loss at ``w_t``, the first call.

    State: ``{"step": t, "momentum": v}``; the ascent vector ``e_t`` is transient.
    Trace names: ``w``, ``grad_at_w`` (``g1``), ``ascent`` (``e_t``), ``w_perturbed``
    (``w_t + e_t``), ``grad_at_perturbed``, ``momentum`` (``v_{t+1}``), ``w_next``.

    Args:
        lr: learning rate ``eta`` >= 0, a number or a schedule ``t -> eta``.
        momentum: ``mu`` in [0, 1).
        rho: perturbation radius >= 0, a number or a schedule ``t -> rho``.
        weight_decay: ``lam`` >= 0, coupled, taken at ``w_t``.
        check_finite: raise ``FloatingPointError`` on a non-finite loss or gradient.
    """

    def __init__(
        self,
        lr,
        momentum: float = 0.9,
        rho=0.05,
        weight_decay: float = 0.0,
        check_finite: bool = True,
    ):
        super().__init__(check_finite)
        self.lr = check_nonnegative("lr", lr, schedulable=True)
        self.momentum = check_unit_interval("momentum", momentum)
        self.rho = check_nonnegative("rho", rho, schedulable=True)
        self.weight_decay = check_nonnegative("weight_decay", weight_decay)

    def init_buffers(self, params):
        return {"momentum": zeros_like(params)}

    def update(self, w, state, grad, t, trace):
        lr, rho, mu = self.hyper("lr", t), self.hyper("rho", t), self.momentum
        g1 = grad(w)
        ascent = over_norm(rho, g1)  # e_t = ascent * g1 = rho g1 / (||g1|| + EPS)
        wp = axpy(ascent, g1, w)  # w_t + e_t, in one pass
        if trace.points is not None:  # e_t itself is only materialised when traced
            trace(w=w, grad_at_w=g1, ascent=scale(ascent, g1), w_perturbed=wp)
        g2 = grad(wp)
        del wp  # freed before the new buffers exist
        d = axpy(self.weight_decay, w, g2)  # d = g(w_t + e_t) + lam w_t
        v_next = axpy(mu, state["momentum"], d)  # v_{t+1} = mu v_t + d
        w_next = axpy(-lr, v_next, w)  # w_{t+1} = w_t - eta v_{t+1}
        trace(grad_at_perturbed=g2, momentum=v_next, w_next=w_next)
        return w_next, {"momentum": v_next}
