"""Nesterov's accelerated gradient in the classical look-ahead form (Sutskever et al. 2013).

Reference: docs/optimizers.md#nag; Momentum-SAM paper (Becker et al., arXiv 2401.12033),
Sec. 2.3, Eq. 4, where NAG is MSAM's perturbation along ``-v_t`` with the small
radius ``eta * mu * ||v_t||``.
"""

from __future__ import annotations

from minimsam.optim.base import (
    Optimizer,
    axpy,
    check_nonnegative,
    check_unit_interval,
    zeros_like,
)

__all__ = ["NAG"]


class NAG(Optimizer):
    """NAG(lr, momentum=0.9, weight_decay=0): the gradient is taken at the look-ahead point.

    One step, with ``g(x)`` the gradient returned by ``grad_fn`` at ``x``::

        a_t     = w_t - eta * mu * v_t                    (look-ahead point)
        d       = g(a_t) + lam * a_t
        v_{t+1} = mu * v_t + d
        w_{t+1} = w_t - eta * v_{t+1}

    Under the change of variables ``p_t = w_t - eta * mu * v_t`` (for a constant
    ``eta``) the iterates ``p_t`` are exactly those of ``SGD(nesterov=True)``, which
    stores and evaluates the look-ahead point. Here the params are ``w_t``, and
    :meth:`eval_params` returns them.

    State: ``{"step": t, "momentum": v}``.
    Trace names: ``w``, ``lookahead`` (``a_t``), ``grad`` (``g(a_t)``), ``momentum``
    (``v_{t+1}``), ``w_next``.

    Args:
        lr: learning rate ``eta`` >= 0, a number or a schedule ``t -> eta``.
        momentum: ``mu`` in [0, 1).
        weight_decay: ``lam`` >= 0, coupled, taken at the look-ahead point.
        check_finite: raise ``FloatingPointError`` on a non-finite loss or gradient.
    """

    def __init__(
        self, lr, momentum: float = 0.9, weight_decay: float = 0.0, check_finite: bool = True
    ):
        super().__init__(check_finite)
        self.lr = check_nonnegative("lr", lr, schedulable=True)
        self.momentum = check_unit_interval("momentum", momentum)
        self.weight_decay = check_nonnegative("weight_decay", weight_decay)

    def init_buffers(self, params):
        return {"momentum": zeros_like(params)}

    def update(self, w, state, grad, t, trace):
        lr, mu, v = self.hyper("lr", t), self.momentum, state["momentum"]
        a = axpy(-lr * mu, v, w)  # a_t = w_t - eta mu v_t
        g = grad(a)
        d = axpy(self.weight_decay, a, g)  # d = g(a_t) + lam a_t
        trace(w=w, lookahead=a, grad=g)
        del a  # freed before the new buffers exist: NAG's peak memory is SGD's
        v_next = axpy(mu, v, d)  # v_{t+1} = mu v_t + d
        w_next = axpy(-lr, v_next, w)  # w_{t+1} = w_t - eta v_{t+1}
        trace(momentum=v_next, w_next=w_next)
        return w_next, {"momentum": v_next}
