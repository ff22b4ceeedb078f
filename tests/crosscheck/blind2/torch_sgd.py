"""SGD with momentum as PyTorch optimizers: one correct in a flat-vector form, two broken.

The kit builds them as ``Name(params, lr=..., momentum=..., weight_decay=..., nesterov=...)``
and drives them with ``step(closure)``.
"""

import torch
from torch.nn.utils import parameters_to_vector, vector_to_parameters


class _SGDBase(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(params, defaults)

    def _direction(self, group, p, state):
        """Coupled decay, momentum buffer, Nesterov: the vector multiplied by -lr."""
        d = p.grad.add(p, alpha=group["weight_decay"])
        if group["momentum"] == 0:
            return d
        buf = state.setdefault("momentum_buffer", torch.zeros_like(p))
        buf.mul_(group["momentum"]).add_(d)
        return d.add(buf, alpha=group["momentum"]) if group["nesterov"] else buf

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(self._direction(group, p, self.state[p]), alpha=-group["lr"])
        return loss


class SGDDecoupledDecay(_SGDBase):
    """Broken: weight decay shrinks the weights after the momentum step (AdamW style)
    instead of being added to the gradient before the buffer."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, mu, lam = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if mu != 0:
                    buf = state.setdefault("momentum_buffer", torch.zeros_like(p))
                    buf.mul_(mu).add_(p.grad)
                    step = buf
                else:
                    step = p.grad
                p.mul_(1 - lr * lam)
                p.add_(step, alpha=-lr)
        return loss


class SGDNesterovIgnored(_SGDBase):
    """Broken: takes ``nesterov`` (so the constructor accepts it) but never uses it."""

    def _direction(self, group, p, state):
        d = p.grad.add(p, alpha=group["weight_decay"])
        if group["momentum"] == 0:
            return d
        buf = state.setdefault("momentum_buffer", torch.zeros_like(p))
        return buf.mul_(group["momentum"]).add_(d)


class SGDFlatVector(_SGDBase):
    """Correct, written unusually: the whole model as one flat vector per group, with
    the momentum buffer kept flat in the state of the group's first parameter."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            w = parameters_to_vector(params)
            g = torch.cat([p.grad.reshape(-1) for p in params])
            d = g + group["weight_decay"] * w
            mu = group["momentum"]
            if mu != 0:
                state = self.state[params[0]]
                v = state.get("flat_momentum", torch.zeros_like(w)) * mu + d
                state["flat_momentum"] = v
                d = d + mu * v if group["nesterov"] else v
            vector_to_parameters(w - group["lr"] * d, params)
        return loss
