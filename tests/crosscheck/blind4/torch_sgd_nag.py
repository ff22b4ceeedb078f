"""SGD and NAG written as torch.optim.Optimizers (fourth blind set, see README.md)."""

import torch


class _Momentum(torch.optim.Optimizer):
    def __init__(self, params, lr=0.1, momentum=0.9, weight_decay=0.0, nesterov=False):
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(params, defaults)

    def _buffer(self, p):
        state = self.state[p]
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(p)
        return state["momentum_buffer"]


class SGDPlain(_Momentum):
    """Heavy-ball SGD, torch semantics (dampening 0), written out."""

    @torch.no_grad()
    def step(self, closure=None):
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            mu, lr, wd = group["momentum"], group["lr"], group["weight_decay"]
            for p in group["params"]:
                d = p.grad + wd * p
                if mu == 0:
                    p.sub_(lr * d)
                    continue
                buf = self._buffer(p)
                buf.mul_(mu).add_(d)
                p.sub_(lr * (d + mu * buf) if group["nesterov"] else lr * buf)
        return loss


class SGDDampened(_Momentum):
    """Momentum as an exponential average of the gradients."""

    @torch.no_grad()
    def step(self, closure=None):
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            mu, lr, wd = group["momentum"], group["lr"], group["weight_decay"]
            for p in group["params"]:
                d = p.grad + wd * p
                buf = self._buffer(p)
                buf.mul_(mu).add_(d, alpha=1 - mu)
                p.sub_(lr * (d + mu * buf) if group["nesterov"] else lr * buf)
        return loss


class SGDDecayAfterMomentum(_Momentum):
    """Momentum on the data gradient; the decay is added to the step."""

    @torch.no_grad()
    def step(self, closure=None):
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            mu, lr, wd = group["momentum"], group["lr"], group["weight_decay"]
            for p in group["params"]:
                buf = self._buffer(p)
                buf.mul_(mu).add_(p.grad)
                direction = p.grad + mu * buf if group["nesterov"] else buf.clone()
                p.sub_(lr * (direction + wd * p))
        return loss


class _NAG(_Momentum):
    """Look-ahead NAG: gradient at a = w - lr mu v, then v = mu v + d, w = w - lr v."""

    def _shift_lr(self, group):
        return group["lr"]

    def _decay_point(self, w, a):
        return a

    @torch.no_grad()
    def step(self, closure=None):
        saved = {}
        for group in self.param_groups:
            shift = self._shift_lr(group) * group["momentum"]
            for p in group["params"]:
                saved[p] = p.clone()
                p.sub_(shift * self._buffer(p))
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            mu, lr, wd = group["momentum"], group["lr"], group["weight_decay"]
            for p in group["params"]:
                a = p.clone()
                d = p.grad + wd * self._decay_point(saved[p], a)
                buf = self._buffer(p)
                buf.mul_(mu).add_(d)
                p.copy_(saved[p] - lr * buf)
            group["last_lr"] = lr
        return loss


class NAGLookahead(_NAG):
    pass


class NAGStaleLr(_NAG):
    """Shifts by the learning rate of the step before (kept in the group after a step)."""

    def _shift_lr(self, group):
        return group.get("last_lr", group["lr"])


class NAGDecayAtW(_NAG):
    def _decay_point(self, w, a):
        return w
