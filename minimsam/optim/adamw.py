"""AdamW: Adam with decoupled weight decay (Loshchilov & Hutter 2019).

Reference: the semantics of ``torch.optim.AdamW`` (docs/optimizers.md#adamw); the base
optimizer of the Momentum-SAM paper's ViT runs (Becker et al., arXiv 2401.12033).
The moment and step helpers here are shared with :mod:`minimsam.optim.adamw_msam`.
"""

from __future__ import annotations

import math

from minimsam.backend import get_backend
from minimsam.optim.base import (
    Optimizer,
    check_nonnegative,
    check_unit_interval,
    scale,
    tensorwise,
    tree_map,
    zeros_like,
)

__all__ = ["AdamW", "adam_moments", "adam_step", "check_betas"]


def check_betas(betas) -> tuple[float, float]:
    """Validate ``betas = (b1, b2)``, each in [0, 1)."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), each in [0, 1), got {betas!r}")
    return (check_unit_interval("betas[0]", betas[0]), check_unit_interval("betas[1]", betas[1]))


def adam_moments(m, s, g, betas):
    """``m <- b1 m + (1 - b1) g``,  ``s <- b2 s + (1 - b2) g**2``  (new dicts)."""
    b1, b2 = betas
    m_next = tree_map(lambda mi, gi: b1 * mi + (1 - b1) * gi, m, g)
    s_next = tree_map(lambda si, gi: b2 * si + (1 - b2) * gi * gi, s, g)
    return m_next, s_next


def adam_step(w, m, s, lr, betas, eps, k):
    """``w - (lr / (1 - b1**k)) * m / (sqrt(s) / sqrt(1 - b2**k) + eps)``; ``k`` counts from 1."""
    xp = get_backend().xp
    b1, b2 = betas
    step_size = lr / (1 - b1**k)
    bc2_sqrt = math.sqrt(1 - b2**k)
    return tree_map(
        lambda wi, mi, si: wi - step_size * mi / (xp.sqrt(si) / bc2_sqrt + eps), w, m, s
    )


class AdamW(Optimizer):
    """AdamW(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2), as ``torch.optim.AdamW``.

    One step (the step's count is ``k = t + 1``), with ``g(x)`` the gradient at ``x``::

        g       = g(w_t)
        w       = w_t * (1 - eta * lam)                   (decoupled decay FIRST)
        m_{t+1} = b1 * m_t + (1 - b1) * g
        s_{t+1} = b2 * s_t + (1 - b2) * g**2
        w_{t+1} = w - (eta / (1 - b1**k)) * m_{t+1} / (sqrt(s_{t+1}) / sqrt(1 - b2**k) + eps)

    Note: :class:`~minimsam.optim.AdamWMSAM` decays AFTER the Adam step (as the official
    MSAM code does), so ``AdamWMSAM(rho=0)`` differs from this class when ``lam > 0``.

    State: ``{"step": t, "m": m, "s": s}``.
    Trace names: ``w``, ``grad``, ``w_decayed`` (``w``), ``m``, ``s`` (the new moments),
    ``w_next``.

    Args:
        lr: learning rate ``eta`` >= 0, a number or a schedule ``t -> eta``.
        betas: ``(b1, b2)``, each in [0, 1).
        eps: ``eps`` >= 0, added to the bias-corrected ``sqrt(s)``.
        weight_decay: ``lam`` >= 0, decoupled (scaled by ``eta``).
        check_finite: raise ``FloatingPointError`` on a non-finite loss or gradient.
    """

    def __init__(
        self,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        check_finite: bool = True,
    ):
        super().__init__(check_finite)
        self.lr = check_nonnegative("lr", lr, schedulable=True)
        self.betas = check_betas(betas)
        self.eps = check_nonnegative("eps", eps)
        self.weight_decay = check_nonnegative("weight_decay", weight_decay)

    def init_buffers(self, params):
        return {"m": zeros_like(params), "s": zeros_like(params)}

    def update(self, w, state, grad, t, trace):
        lr = self.hyper("lr", t)
        g = grad(w)

        def adamw(w, m, s, g):  # elementwise: run one tensor at a time (tensorwise)
            w_decayed = scale(1 - lr * self.weight_decay, w)  # w = w_t (1 - eta lam)
            m, s = adam_moments(m, s, g, self.betas)
            w_next = adam_step(w_decayed, m, s, lr, self.betas, self.eps, k=t + 1)
            return w_next, m, s, w_decayed

        w_next, m, s, w_decayed = tensorwise(adamw, w, state["m"], state["s"], g)
        trace(w=w, grad=g, w_decayed=w_decayed, m=m, s=s, w_next=w_next)
        return w_next, {"m": m, "s": s}
