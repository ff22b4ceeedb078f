"""Hand-written PyTorch MSAM, params hold the unperturbed w; ``step(closure)``."""

import torch

EPS = 1e-12


class MSAM(torch.optim.Optimizer):
    """u = v/(||v|| + EPS); w~ = w - rho u; d = g(w~) + wd w~; v = mu v + d; w -= lr v."""

    def __init__(self, params, lr, momentum=0.9, rho=0.3, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, rho=rho, weight_decay=weight_decay))

    def _buffer(self, p):
        state = self.state[p]
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(p)
        return state["momentum_buffer"]

    def _norm(self, bufs):
        return torch.sqrt(sum((b * b).sum() for b in bufs))

    def _restore_scale(self, group, norm):
        return group["rho"] / (norm + EPS)

    @torch.no_grad()
    def step(self, closure):
        for group in self.param_groups:
            bufs = [self._buffer(p) for p in group["params"]]
            norm = self._norm(bufs)
            group["_applied"] = group["rho"] / (norm + EPS)
            group["_norm"] = norm
            for p, b in zip(group["params"], bufs):
                p.sub_(group["_applied"] * b)
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
            back = self._restore_scale(group, group["_norm"])
            for p in group["params"]:
                buf = self._buffer(p)
                d = p.grad + wd * p
                p.add_(back * buf)
                buf.mul_(mu).add_(d)
                p.sub_(lr * buf)
        return loss


class MSAMSumOfNorms(MSAM):
    """MSAM that takes the 'global' norm as the sum of the per-parameter norms."""

    def _norm(self, bufs):
        return sum(b.norm() for b in bufs)


class MSAMRestoreWithoutEps(MSAM):
    """MSAM that perturbs with rho/(||v|| + EPS) but moves back with rho/||v||."""

    def _restore_scale(self, group, norm):
        return group["rho"] / norm


class MSAMStateById(MSAM):
    """MSAM that keeps its momentum in its own dict keyed by ``id(p)``, outside
    ``self.state``: ``state_dict()`` does not save it, so a restored optimizer starts
    again from v = 0."""

    def __init__(self, params, lr, momentum=0.9, rho=0.3, weight_decay=0.0):
        super().__init__(params, lr, momentum, rho, weight_decay)
        self._momentum = {}

    def _buffer(self, p):
        if id(p) not in self._momentum:
            self._momentum[id(p)] = torch.zeros_like(p)
        return self._momentum[id(p)]


class MSAMEpsInsideSqrt(MSAM):
    """MSAM that adds EPS to the squared norm: sqrt(||v||^2 + EPS) (and no EPS after)."""

    def _norm(self, bufs):
        return torch.sqrt(sum((b * b).sum() for b in bufs) + EPS) - EPS
