"""Momentum-SAM on top of AdamW: the perturbation follows Adam's first moment.

Reference: docs/optimizers.md#adamwmsam; Momentum-SAM paper (Becker et al., arXiv 2401.12033),
which says MSAM works the same way for Adam's running mean, and the official code's
``adamW_msam.py`` (ViT runs).
"""

from __future__ import annotations

from minimsam.optim.adamw import adam_moments, adam_step, check_betas
from minimsam.optim.base import (
    Optimizer,
    axpy,
    check_nonnegative,
    over_norm,
    scale,
    tensorwise,
    zeros_like,
)

__all__ = ["AdamWMSAM"]


class AdamWMSAM(Optimizer):
    """AdamWMSAM(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, rho=1.0).

    One step (the step's count is ``k = t + 1``), with ``g(x)`` the gradient at ``x``::

        c_t     = rho / (||m_t|| + EPS)                   (c_0 m_0 = 0 since m_0 = 0)
        wp_t    = w_t - c_t * m_t                         (perturbed point)
        g       = g(wp_t)                                 (no weight decay in the gradient)
        m_{t+1} = b1 * m_t + (1 - b1) * g
        s_{t+1} = b2 * s_t + (1 - b2) * g**2
        w       = w_t - (eta / (1 - b1**k)) * m_{t+1} / (sqrt(s_{t+1}) / sqrt(1 - b2**k) + eps)
        w_{t+1} = w * (1 - eta * lam)                     (decoupled decay AFTER the Adam step)

    The perturbation follows the raw first moment ``m`` (not bias-corrected, not
    preconditioned). The decay comes after the Adam step, as in the official code,
    whereas :class:`~minimsam.optim.AdamW` (torch semantics) decays before it: with
    ``rho = 0`` this class is "AdamW with decay last", equal to ``AdamW`` only if
    ``lam = 0``. The params are ``w_t`` (unperturbed); :meth:`eval_params` returns them.

    State: ``{"step": t, "m": m, "s": s}``.
    Trace names: ``w``, ``w_perturbed`` (``wp_t``), ``grad``, ``m``, ``s`` (the new
    moments), ``w_adam`` (``w``, before the decay), ``w_next``.

    Args:
        lr: learning rate ``eta`` >= 0, a number or a schedule ``t -> eta``.
        betas: ``(b1, b2)``, each in [0, 1).
        eps: ``eps`` >= 0, added to the bias-corrected ``sqrt(s)``.
        weight_decay: ``lam`` >= 0, decoupled (scaled by ``eta``).
        rho: perturbation radius >= 0, a number or a schedule ``t -> rho``.
        check_finite: raise ``FloatingPointError`` on a non-finite loss or gradient.
    """

    def __init__(
        self,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        rho=1.0,
        check_finite: bool = True,
    ):
        super().__init__(check_finite)
        self.lr = check_nonnegative("lr", lr, schedulable=True)
        self.betas = check_betas(betas)
        self.eps = check_nonnegative("eps", eps)
        self.weight_decay = check_nonnegative("weight_decay", weight_decay)
        self.rho = check_nonnegative("rho", rho, schedulable=True)

    def init_buffers(self, params):
        return {"m": zeros_like(params), "s": zeros_like(params)}

    def update(self, w, state, grad, t, trace):
        lr, rho = self.hyper("lr", t), self.hyper("rho", t)
        wp = axpy(over_norm(-rho, state["m"]), state["m"], w)  # wp_t = w_t - c_t m_t
        g = grad(wp)
        trace(w=w, w_perturbed=wp, grad=g)
        del wp  # freed before the new buffers exist

        def adam_then_decay(w, m, s, g):  # elementwise: run one tensor at a time (tensorwise)
            m, s = adam_moments(m, s, g, self.betas)
            w_adam = adam_step(w, m, s, lr, self.betas, self.eps, k=t + 1)
            w_next = scale(1 - lr * self.weight_decay, w_adam)  # w_{t+1} = w (1 - eta lam)
            return w_next, m, s, w_adam

        w_next, m, s, w_adam = tensorwise(adam_then_decay, w, state["m"], state["s"], g)
        trace(m=m, s=s, w_adam=w_adam, w_next=w_next)
        return w_next, {"m": m, "s": s}
