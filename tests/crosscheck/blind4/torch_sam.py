"""SAM on SGD-momentum in the first_step/second_step style (fourth blind set, README.md)."""

import torch


class _TwoStepSAM(torch.optim.Optimizer):
    def __init__(self, params, lr=0.1, momentum=0.9, weight_decay=0.0, rho=0.05):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, rho=rho))

    def _grad_norm(self):
        squares = [p.grad.pow(2).sum() for g in self.param_groups for p in g["params"]]
        return torch.stack(squares).sum().sqrt()

    def _ascent_grad(self, p, group):
        return p.grad

    def _ascent(self, p, group, norm):
        return group["rho"] * self._ascent_grad(p, group) / (norm + 1e-12)

    @torch.no_grad()
    def first_step(self):
        norm = self._grad_norm()
        for group in self.param_groups:
            for p in group["params"]:
                e = self._ascent(p, group, norm)
                self.state[p]["e"] = e
                p.add_(e)

    def _restore(self, p):
        p.sub_(self.state[p]["e"])

    def _buffer(self, p):
        state = self.state[p]
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(p)
        return state["momentum_buffer"]

    @torch.no_grad()
    def second_step(self):
        for group in self.param_groups:
            mu, lr, wd = group["momentum"], group["lr"], group["weight_decay"]
            for p in group["params"]:
                self._restore(p)
                buf = self._buffer(p)
                buf.mul_(mu).add_(p.grad + wd * p)
                p.sub_(lr * buf)


class SAMTwoStep(_TwoStepSAM):
    pass


class SAMNoRestore(_TwoStepSAM):
    """Keeps a copy of the weights to go back to, but takes it after the climb."""

    @torch.no_grad()
    def first_step(self):
        super().first_step()
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["old_p"] = p.clone()

    def _restore(self, p):
        p.copy_(self.state[p]["old_p"])


class SAMPerParamNorm(_TwoStepSAM):
    def _ascent(self, p, group, norm):
        return group["rho"] * p.grad / (p.grad.norm() + 1e-12)


class SAMDecayInAscent(_TwoStepSAM):
    """Adds the weight decay to p.grad before the ascent (a loop that folds decay in first)."""

    @torch.no_grad()
    def first_step(self):
        for group in self.param_groups:
            for p in group["params"]:
                p.grad.add_(p, alpha=group["weight_decay"])
        super().first_step()


class SAMAdaptive(_TwoStepSAM):
    """Scales the ascent by |w| (the adaptive variant's switch left on)."""

    def _grad_norm(self):
        squares = [(p.abs() * p.grad).pow(2).sum() for g in self.param_groups for p in g["params"]]
        return torch.stack(squares).sum().sqrt()

    def _ascent_grad(self, p, group):
        return p.pow(2) * p.grad


class SAMBufferById(_TwoStepSAM):
    """Keeps the momentum buffers in its own dict keyed by id(p)."""

    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        self._buffers = {}

    def _buffer(self, p):
        if id(p) not in self._buffers:
            self._buffers[id(p)] = torch.zeros_like(p)
        return self._buffers[id(p)]
