"""SGD and NAG as ``torch.optim.Optimizer`` subclasses with ``step(closure)``.

Blind set 6 (see README.md): the classes named ``Correct*`` follow docs/optimizers.md
in unusual but equal arithmetic; every other class carries one realistic mistake,
described in its docstring and in MANIFEST.json.
"""

from __future__ import annotations

import torch
from torch.optim import Optimizer


class _ClosureOptimizer(Optimizer):
    """Shared constructor: lr, momentum, weight_decay (and nesterov for SGD)."""

    def __init__(self, params, lr, momentum=0.9, weight_decay=0.0, nesterov=False):
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(params, defaults)

    def _buffer(self, p):
        state = self.state[p]
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(p)
        return state["momentum_buffer"]


# ----------------------------------------------------------------------------- SGD


class SGDDecayOutsideBuffer(_ClosureOptimizer):
    """SGD where the L2 term is added to the step, after the momentum buffer
    (``v = mu v + g``; ``w -= lr (v + lam w)``), as some Keras-style code does."""

    @torch.no_grad()
    def step(self, closure):
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            lr, mu, lam = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                g = p.grad
                if mu != 0:
                    v = self._buffer(p)
                    v.mul_(mu).add_(g)
                    g = v.add(g, alpha=mu) if group["nesterov"] else v
                p.add_(g + lam * p, alpha=-lr)
        return loss


class SGDNesterovStaleBuffer(_ClosureOptimizer):
    """Nesterov SGD whose look-ahead term uses the buffer *before* this step's update:
    ``w -= lr (d + mu v_t)`` instead of ``mu v_{t+1}`` (the new buffer is written after)."""

    @torch.no_grad()
    def step(self, closure):
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            lr, mu, lam = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                d = p.grad.add(p, alpha=lam)
                if mu == 0:
                    p.add_(d, alpha=-lr)
                    continue
                v = self._buffer(p)
                if group["nesterov"]:
                    p.add_(d + mu * v, alpha=-lr)
                    v.mul_(mu).add_(d)
                else:
                    v.mul_(mu).add_(d)
                    p.add_(v, alpha=-lr)
        return loss


class CorrectSGDFlat(_ClosureOptimizer):
    """Correct: all parameters as one flat vector (``torch.cat``), one flat buffer kept in
    the state of the first parameter, results written back with ``copy_``."""

    @torch.no_grad()
    def step(self, closure):
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            params = group["params"]
            lr, mu, lam = group["lr"], group["momentum"], group["weight_decay"]
            w = torch.cat([p.reshape(-1) for p in params])
            d = torch.cat([p.grad.reshape(-1) for p in params]) + lam * w
            if mu != 0:
                state = self.state[params[0]]
                if "flat_momentum" not in state:
                    state["flat_momentum"] = torch.zeros_like(w)
                v = state["flat_momentum"]
                v.mul_(mu).add_(d)
                direction = d + mu * v if group["nesterov"] else v
            else:
                direction = d
            w = w - lr * direction
            offset = 0
            for p in params:
                p.copy_(w[offset : offset + p.numel()].view_as(p))
                offset += p.numel()
        return loss


# ----------------------------------------------------------------------------- NAG


class NAGTorchNesterovCoordinates(_ClosureOptimizer):
    """NAG written as PyTorch's ``nesterov=True`` update, so the params hold the look-ahead
    coordinate ``p_t = w_t - lr mu v_t`` instead of ``w_t``."""

    @torch.no_grad()
    def step(self, closure):
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            lr, mu, lam = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                d = p.grad.add(p, alpha=lam)
                v = self._buffer(p)
                v.mul_(mu).add_(d)
                p.add_(d.add(v, alpha=mu), alpha=-lr)
        return loss


class NAGDecayAtW(_ClosureOptimizer):
    """NAG that adds the L2 term at ``w_t`` (kept as a copy) rather than at the look-ahead
    point where the gradient is taken."""

    @torch.no_grad()
    def step(self, closure):
        saved = {}
        for group in self.param_groups:
            for p in group["params"]:
                saved[p] = p.clone()
                p.add_(self._buffer(p), alpha=-group["lr"] * group["momentum"])
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            lr, mu, lam = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                w = saved[p]
                v = self._buffer(p)
                v.mul_(mu).add_(p.grad).add_(w, alpha=lam)
                p.copy_(w - lr * v)
        return loss


class NAGUndoWithNewBuffer(_ClosureOptimizer):
    """NAG that moves to the look-ahead in place and moves back *after* updating the
    buffer, so the undo adds ``lr mu v_{t+1}`` where ``lr mu v_t`` was subtracted."""

    @torch.no_grad()
    def step(self, closure):
        for group in self.param_groups:
            for p in group["params"]:
                p.add_(self._buffer(p), alpha=-group["lr"] * group["momentum"])
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            lr, mu, lam = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                v = self._buffer(p)
                v.mul_(mu).add_(p.grad).add_(p, alpha=lam)
                p.add_(v, alpha=lr * mu)  # back to w ... with the new buffer
                p.add_(v, alpha=-lr)
        return loss


class CorrectNAGFromLookahead(_ClosureOptimizer):
    """Correct: steps from the look-ahead point, using
    ``w_{t+1} = w_t - lr v_{t+1} = a_t + lr mu v_t - lr (mu v_t + d_t) = a_t - lr d_t``."""

    @torch.no_grad()
    def step(self, closure):
        for group in self.param_groups:
            for p in group["params"]:
                p.sub_(group["lr"] * group["momentum"] * self._buffer(p))
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            lr, mu, lam = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                d = p.grad + lam * p
                self._buffer(p).mul_(mu).add_(d)
                p.sub_(lr * d)
        return loss
