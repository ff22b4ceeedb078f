"""Stochastic gradient descent with momentum, Nesterov momentum and coupled weight decay.

Reference: the semantics of ``torch.optim.SGD`` with dampening 0 (docs/optimizers.md#sgd);
Momentum-SAM paper (Becker et al., arXiv 2401.12033), Sec. 2.3.
"""

from __future__ import annotations

from minimsam.optim.base import (
    Optimizer,
    axpy,
    check_nonnegative,
    check_unit_interval,
    zeros_like,
)

__all__ = ["SGD"]


class SGD(Optimizer):
    """SGD(lr, momentum=0, weight_decay=0, nesterov=False), as ``torch.optim.SGD``.

    One step, with ``g(x)`` the gradient returned by ``grad_fn`` at ``x``::

        d       = g(w_t) + lam * w_t                      (coupled weight decay)
        v_{t+1} = mu * v_t + d                            (only if mu > 0; v_0 = 0)
        d       = d + mu * v_{t+1}  if nesterov  else  v_{t+1}      (mu > 0)
        w_{t+1} = w_t - eta * d

    State: ``{"step": t, "momentum": v}``; with ``momentum=0`` there is no buffer
    (as in PyTorch) and the state is ``{"step": t}``.

    Trace names: ``w``, ``grad`` (``g(w_t)``), ``momentum`` (``v_{t+1}``, if mu > 0),
    ``direction`` (the final ``d``), ``w_next``.

    Args:
        lr: learning rate ``eta`` >= 0, a number or a schedule ``t -> eta``.
        momentum: ``mu`` in [0, 1).
        weight_decay: ``lam`` >= 0, added to the gradient (L2 regularisation).
        nesterov: use the Nesterov form ``d + mu * v_{t+1}`` (needs ``momentum > 0``).
        check_finite: raise ``FloatingPointError`` on a non-finite loss or gradient.
    """

    def __init__(
        self,
        lr,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        check_finite: bool = True,
    ):
        super().__init__(check_finite)
        self.lr = check_nonnegative("lr", lr, schedulable=True)
        self.momentum = check_unit_interval("momentum", momentum)
        self.weight_decay = check_nonnegative("weight_decay", weight_decay)
        if nesterov not in (True, False):
            raise ValueError(f"nesterov must be True or False, got {nesterov!r}")
        if nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum in (0, 1), got momentum=0")
        self.nesterov = bool(nesterov)

    def init_buffers(self, params):
        return {"momentum": zeros_like(params)} if self.momentum > 0 else {}

    def update(self, w, state, grad, t, trace):
        lr, mu = self.hyper("lr", t), self.momentum
        g = grad(w)
        d = axpy(self.weight_decay, w, g)  # d = g(w_t) + lam w_t
        if mu == 0:
            w_next = axpy(-lr, d, w)  # w_{t+1} = w_t - eta d
            trace(w=w, grad=g, direction=d, w_next=w_next)
            return w_next, {}
        v_next = axpy(mu, state["momentum"], d)  # v_{t+1} = mu v_t + d
        direction = axpy(mu, v_next, d) if self.nesterov else v_next
        w_next = axpy(-lr, direction, w)  # w_{t+1} = w_t - eta d
        trace(w=w, grad=g, momentum=v_next, direction=direction, w_next=w_next)
        return w_next, {"momentum": v_next}
