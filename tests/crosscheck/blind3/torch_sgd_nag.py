"""Hand-written PyTorch SGD-momentum and NAG (look-ahead form), with broken variants.

Each broken class changes one method of a correct base; MANIFEST.json says what and where.
"""

import torch


class _Momentum(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.9, weight_decay=0.0, nesterov=False):
        super().__init__(
            params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
        )

    def _buffer(self, p):
        state = self.state[p]
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(p)
        return state["momentum_buffer"]


class SGDDecoupledDecay(_Momentum):
    """SGD with momentum whose decay shrinks the weights (p *= 1 - lr wd) instead of
    entering the gradient: decoupled, not coupled, decay."""

    @torch.no_grad()
    def step(self, closure):
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                p.mul_(1 - lr * wd)
                if mu == 0:
                    p.sub_(lr * p.grad)
                    continue
                buf = self._buffer(p)
                buf.mul_(mu).add_(p.grad)
                if group["nesterov"]:
                    p.sub_(lr * (p.grad + mu * buf))
                else:
                    p.sub_(lr * buf)
        return loss


class SGDNesterovOldBuffer(_Momentum):
    """SGD whose Nesterov update uses the buffer before it is updated: w -= lr (d + mu v_t)."""

    @torch.no_grad()
    def step(self, closure):
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                d = p.grad + wd * p
                if mu == 0:
                    p.sub_(lr * d)
                    continue
                buf = self._buffer(p)
                old = buf.clone()
                buf.mul_(mu).add_(d)
                p.sub_(lr * (d + mu * old) if group["nesterov"] else lr * buf)
        return loss


class NAG(_Momentum):
    """NAG in the look-ahead form: gradient at a = w - lr mu v, decay at a."""

    def __init__(self, params, lr, momentum=0.9, weight_decay=0.0):
        super().__init__(params, lr, momentum, weight_decay)

    def _shift(self, group, p):
        return group["lr"] * group["momentum"] * self._buffer(p)

    def _decay_point(self, p, shift):
        return p  # called while p holds the look-ahead point a

    @torch.no_grad()
    def step(self, closure):
        shifts = {}
        for group in self.param_groups:
            for p in group["params"]:
                shifts[p] = self._shift(group, p)
                p.sub_(shifts[p])
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                d = p.grad + wd * self._decay_point(p, shifts[p])
                p.add_(shifts[p])
                self._buffer(p).mul_(mu).add_(d)
                p.sub_(lr * self._buffer(p))
            self._after(group)
        return loss

    def _after(self, group):
        pass


class NAGDecayAtW(NAG):
    """NAG whose weight decay is taken at w instead of the look-ahead point."""

    def _decay_point(self, p, shift):
        return p + shift


class NAGStaleLookaheadLr(NAG):
    """NAG that computes the look-ahead shift with the learning rate of the previous
    step (remembered at the end of each step), so the lr schedule is read one step late."""

    def _shift(self, group, p):
        lr = group.get("previous_lr", group["lr"])
        return lr * group["momentum"] * self._buffer(p)

    def _after(self, group):
        group["previous_lr"] = group["lr"]


class SGDWithDampening(_Momentum):
    """SGD with momentum and a dampening of 0.1 left on by default (torch's ``dampening``):
    v = mu v + (1 - 0.1) d."""

    def __init__(self, params, lr, momentum=0.9, weight_decay=0.0, nesterov=False, dampening=0.1):
        super().__init__(params, lr, momentum, weight_decay, nesterov)
        self.dampening = dampening

    @torch.no_grad()
    def step(self, closure):
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                d = p.grad + wd * p
                if mu == 0:
                    p.sub_(lr * d)
                    continue
                buf = self._buffer(p)
                buf.mul_(mu).add_((1 - self.dampening) * d)
                p.sub_(lr * (d + mu * buf) if group["nesterov"] else lr * buf)
        return loss
