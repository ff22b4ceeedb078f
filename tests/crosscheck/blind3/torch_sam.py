"""Hand-written PyTorch SAM (SGD-momentum base, ``step(closure)`` calls it twice)."""

import contextlib

import torch

from minimsam.torch import running_stats_frozen

EPS = 1e-12


class SAM(torch.optim.Optimizer):
    """e = rho g/(||g|| + EPS); d = g(w + e) + wd w; v = mu v + d; w -= lr v."""

    def __init__(self, params, lr, momentum=0.9, rho=0.05, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, rho=rho, weight_decay=weight_decay))

    def _params(self):
        return [p for group in self.param_groups for p in group["params"]]

    def _ascent_vectors(self, group):
        rho, _wd = group["rho"], group["weight_decay"]
        grads = [p.grad for p in group["params"]]
        norm = torch.sqrt(sum((g * g).sum() for g in grads))
        return [rho * g / (norm + EPS) for g in grads]

    @torch.no_grad()
    def step(self, closure, freeze_bn=None):
        """``freeze_bn``: a model whose batch-norm running statistics the second pass
        must leave as the first pass set them."""
        with torch.enable_grad():
            loss = closure()
        ascent = {}
        for group in self.param_groups:
            for p, e in zip(group["params"], self._ascent_vectors(group)):
                ascent[p] = e
                p.add_(e)
        frozen = (
            running_stats_frozen(freeze_bn) if freeze_bn is not None else contextlib.nullcontext()
        )
        with torch.enable_grad(), frozen:
            closure()
        for group in self.param_groups:
            lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                p.sub_(ascent[p])
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                buf = state["momentum_buffer"]
                buf.mul_(mu).add_(p.grad + wd * p)
                p.sub_(lr * buf)
        return loss


class SAMAscentWithDecay(SAM):
    """SAM whose ascent direction is the gradient plus weight decay."""

    def _ascent_vectors(self, group):
        rho, wd = group["rho"], group["weight_decay"]
        grads = [p.grad + wd * p for p in group["params"]]
        norm = torch.sqrt(sum((g * g).sum() for g in grads))
        return [rho * g / (norm + EPS) for g in grads]


class SAMPerParameterNorm(SAM):
    """SAM that normalises each parameter's gradient by its own norm (p.grad.norm())."""

    def _ascent_vectors(self, group):
        return [group["rho"] * p.grad / (p.grad.norm() + EPS) for p in group["params"]]


class SAMRhoTimesLr(SAM):
    """SAM whose ascent radius is scaled by the learning rate (e = lr rho g/||g||)."""

    def _ascent_vectors(self, group):
        grads = [p.grad for p in group["params"]]
        norm = torch.sqrt(sum((g * g).sum() for g in grads))
        return [group["lr"] * group["rho"] * g / (norm + EPS) for g in grads]


class SAMRhoFromInit(SAM):
    """SAM that keeps the rho it was built with (``self.rho``) and never reads the
    param group's, so a rho schedule is ignored."""

    def __init__(self, params, lr, momentum=0.9, rho=0.05, weight_decay=0.0):
        super().__init__(params, lr, momentum, rho, weight_decay)
        self.rho = rho

    def _ascent_vectors(self, group):
        grads = [p.grad for p in group["params"]]
        norm = torch.sqrt(sum((g * g).sum() for g in grads))
        return [self.rho * g / (norm + EPS) for g in grads]
