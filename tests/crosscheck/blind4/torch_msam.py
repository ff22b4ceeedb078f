"""Momentum-SAM as torch.optim.Optimizers (fourth blind set, see README.md).

MSAMStep and its variants keep the unperturbed weights in the params and move to the
perturbed point only around the closure. MSAMMemoryFree and MSAMInverseNorm keep the
perturbed point in the params, as the paper's Algorithm 1, and give eval_params().
"""

import torch

EPS = 1e-12


class _MSAM(torch.optim.Optimizer):
    def __init__(self, params, lr=0.1, momentum=0.9, weight_decay=0.0, rho=0.3):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, rho=rho))

    def _params(self):
        return [p for g in self.param_groups for p in g["params"]]

    def _buffer(self, p):
        state = self.state[p]
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(p)
        return state["momentum_buffer"]

    def _momentum_norm(self):
        return torch.stack([self._buffer(p).pow(2).sum() for p in self._params()]).sum().sqrt()


class MSAMStep(_MSAM):
    """Standard form: params hold w; step(closure) evaluates at w - rho v/(||v|| + EPS)."""

    def _offset(self, p, group, norm):
        return group["rho"] * self._buffer(p) / (norm + EPS)

    def _decay_point(self, w, w_tilde):
        return w_tilde

    def _evaluate(self, closure):
        with torch.enable_grad():
            return closure()

    @torch.no_grad()
    def step(self, closure=None):
        norm, saved = self._momentum_norm(), {}
        for group in self.param_groups:
            for p in group["params"]:
                saved[p] = p.clone()
                p.sub_(self._offset(p, group, norm))
        loss = self._evaluate(closure)
        for group in self.param_groups:
            mu, lr, wd = group["momentum"], group["lr"], group["weight_decay"]
            for p in group["params"]:
                d = p.grad + wd * self._decay_point(saved[p], p)
                buf = self._buffer(p)
                buf.mul_(mu).add_(d)
                p.copy_(saved[p] - lr * buf)
        return loss


class MSAMDecayAtW(MSAMStep):
    def _decay_point(self, w, w_tilde):
        return w


class MSAMPerParamNorm(MSAMStep):
    def _offset(self, p, group, norm):
        buf = self._buffer(p)
        return group["rho"] * buf / (buf.norm() + EPS)


class MSAMGradBeforePerturb(MSAMStep):
    """Computes the loss and gradient first, then perturbs (closure called too early)."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = self._evaluate(closure)
        self._evaluate = lambda c: loss
        try:
            return super().step(closure)
        finally:
            del self._evaluate


class MSAMMemoryFree(_MSAM):
    """Params hold w~ = w - c v; the applied scale c is stored in the state."""

    def _scale(self):
        return (
            self.state["scale"] if "scale" in self.state else torch.zeros((), dtype=torch.float64)
        )

    @torch.no_grad()
    def eval_params(self):
        c = self._scale()
        return {p: p + c * self._buffer(p) for p in self._params()}

    @torch.no_grad()
    def step(self, closure=None):
        # re-place the point with this step's rho (the scheduler may have changed it)
        rho = self.param_groups[0]["rho"]
        c_old, c_new = self._scale(), rho / (self._momentum_norm() + EPS)
        for p in self._params():
            p.add_((c_old - c_new) * self._buffer(p))
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            mu, lr, wd = group["momentum"], group["lr"], group["weight_decay"]
            for p in group["params"]:
                d = p.grad + wd * p
                buf = self._buffer(p)
                p.add_(c_new * buf)  # back to w
                buf.mul_(mu).add_(d)
                p.sub_(lr * buf)
        c_next = rho / (self._momentum_norm() + EPS)
        for p in self._params():
            p.sub_(c_next * self._buffer(p))
        self.state["scale"] = torch.as_tensor(c_next, dtype=torch.float64)
        return loss


class MSAMInverseNorm(_MSAM):
    """Params hold w~; stores 1/(||v|| + EPS) and multiplies it by the current rho."""

    def _inverse_norm(self):
        return self.state.get("inverse_norm", torch.zeros((), dtype=torch.float64))

    @torch.no_grad()
    def eval_params(self):
        c = self.param_groups[0]["rho"] * self._inverse_norm()
        return {p: p + c * self._buffer(p) for p in self._params()}

    @torch.no_grad()
    def step(self, closure=None):
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            mu, lr, wd, rho = group["momentum"], group["lr"], group["weight_decay"], group["rho"]
            for p in group["params"]:
                d = p.grad + wd * p
                buf = self._buffer(p)
                p.add_(rho * self._inverse_norm() * buf)  # move back
                buf.mul_(mu).add_(d)
                p.sub_(lr * buf)
        inverse = 1.0 / (self._momentum_norm() + EPS)
        rho = self.param_groups[0]["rho"]
        for p in self._params():
            p.sub_(rho * inverse * self._buffer(p))  # move up
        self.state["inverse_norm"] = inverse
        return loss
