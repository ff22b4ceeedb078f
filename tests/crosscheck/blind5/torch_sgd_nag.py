"""SGD (torch.optim semantics) and NAG (look-ahead form) as ``torch.optim.Optimizer``s.

Correct: ``SGDFlat``, ``NAGLookahead``. The others each carry one mistake (MANIFEST.json).
"""

import torch
from torch.nn.utils import parameters_to_vector
from torch.optim import Optimizer


def _write_flat(vector, params):
    """Copy a flat vector back into the parameters, in place."""
    offset = 0
    for p in params:
        n = p.numel()
        p.copy_(vector[offset : offset + n].view_as(p))
        offset += n


class SGDFlat(Optimizer):
    """d = g + wd w; v = mu v + d; w -= lr (d + mu v if nesterov else v), on one flat vector."""

    def __init__(self, params, lr=0.1, momentum=0.0, weight_decay=0.0, nesterov=False):
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            w = parameters_to_vector(params)
            d = parameters_to_vector([p.grad for p in params]) + group["weight_decay"] * w
            mu = group["momentum"]
            if mu == 0:
                direction = d
            else:
                state = self.state[params[0]]
                v = state.get("flat_velocity")
                v = d.clone() if v is None else v.mul_(mu).add_(d)
                state["flat_velocity"] = v
                direction = d + mu * v if group["nesterov"] else v
            _write_flat(w - group["lr"] * direction, params)
        return loss


class _PerParamSGD(Optimizer):
    """Per-parameter SGD loop; subclasses override ``_update``."""

    def __init__(self, params, lr=0.1, momentum=0.0, weight_decay=0.0, nesterov=False):
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, group, self.state[p])
        return loss

    def _buffer(self, p, state):
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(p)
        return state["momentum_buffer"]


class SGDDampened(_PerParamSGD):
    """Keras-style momentum: the buffer is an average, v = mu v + (1 - mu) d."""

    def _update(self, p, group, state):
        lr, mu = group["lr"], group["momentum"]
        d = p.grad.add(p, alpha=group["weight_decay"])
        if mu == 0:
            p.sub_(lr * d)
            return
        v = self._buffer(p, state)
        v.mul_(mu).add_(d, alpha=1 - mu)
        p.sub_(lr * (d + mu * v) if group["nesterov"] else lr * v)


class SGDDecoupledDecay(_PerParamSGD):
    """Weight decay as a shrink of the weights (AdamW's habit), not added to the gradient."""

    def _update(self, p, group, state):
        lr, mu = group["lr"], group["momentum"]
        p.mul_(1 - lr * group["weight_decay"])
        d = p.grad
        if mu == 0:
            p.sub_(lr * d)
            return
        v = self._buffer(p, state)
        v.mul_(mu).add_(d)
        p.sub_(lr * (d + mu * v) if group["nesterov"] else lr * v)


class SGDLrInVelocity(_PerParamSGD):
    """The velocity carries the learning rate: v = mu v + lr d; w -= v."""

    def _update(self, p, group, state):
        lr, mu = group["lr"], group["momentum"]
        d = p.grad.add(p, alpha=group["weight_decay"])
        if mu == 0:
            p.sub_(lr * d)
            return
        v = self._buffer(p, state)
        v.mul_(mu).add_(d, alpha=lr)
        p.sub_(lr * d + mu * v if group["nesterov"] else v)


class _NAGBase(Optimizer):
    """NAG with the look-ahead taken inside ``step(closure)``; subclasses pick the point."""

    def __init__(self, params, lr=0.1, momentum=0.9, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    def _params(self):
        return [p for g in self.param_groups for p in g["params"]]

    def _velocity(self, p):
        state = self.state[p]
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(p)
        return state["momentum_buffer"]

    def _lookahead(self, p, group):
        """a = w - lr mu v"""
        return p - group["lr"] * group["momentum"] * self._velocity(p)

    def _decay_point(self, lookahead, w):
        return lookahead

    @torch.no_grad()
    def step(self, closure):
        saved = {}
        for group in self.param_groups:
            for p in group["params"]:
                saved[p] = p.clone()
                p.copy_(self._lookahead(p, group))
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            lr, mu = group["lr"], group["momentum"]
            for p in group["params"]:
                w = saved[p]
                d = p.grad + group["weight_decay"] * self._decay_point(p, w)
                v = self._velocity(p)
                v.mul_(mu).add_(d)
                p.copy_(w - lr * v)
        return loss


class NAGLookahead(_NAGBase):
    """a = w - lr mu v; d = g(a) + wd a; v = mu v + d; w -= lr v."""


class NAGLookaheadPlus(_NAGBase):
    """The look-ahead goes the wrong way: a = w + lr mu v."""

    def _lookahead(self, p, group):
        return p + group["lr"] * group["momentum"] * self._velocity(p)


class NAGLookaheadNoLr(_NAGBase):
    """The look-ahead forgets the learning rate: a = w - mu v."""

    def _lookahead(self, p, group):
        return p - group["momentum"] * self._velocity(p)


class NAGDecayAtW(_NAGBase):
    """Weight decay at the current weights: d = g(a) + wd w."""

    def _decay_point(self, lookahead, w):
        return w
