"""AdamW and AdamW-MSAM as torch.optim.Optimizers (fourth blind set, see README.md)."""

import torch

EPS = 1e-12


class _Adam(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, **kw):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, **kw))

    def _moments(self, p):
        state = self.state[p]
        if "exp_avg" not in state:
            state["step"] = torch.zeros((), dtype=torch.float64)
            state["exp_avg"] = torch.zeros_like(p)
            state["exp_avg_sq"] = torch.zeros_like(p)
        return state

    def _adam_delta(self, p, group, k):
        """lr/(1 - b1^k) m / (sqrt(s)/sqrt(1 - b2^k) + eps) after updating m and s with p.grad."""
        b1, b2 = group["betas"]
        state = self._moments(p)
        state["exp_avg"].mul_(b1).add_(p.grad, alpha=1 - b1)
        state["exp_avg_sq"].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
        denom = state["exp_avg_sq"].sqrt() / (1 - b2**k) ** 0.5 + group["eps"]
        return group["lr"] / (1 - b1**k) * state["exp_avg"] / denom


class AdamWDecayAfter(_Adam):
    """AdamW, with the decoupled decay applied after the Adam step."""

    @torch.no_grad()
    def step(self, closure=None):
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                state = self._moments(p)
                state["step"] += 1
                p.sub_(self._adam_delta(p, group, float(state["step"])))
                p.mul_(1 - group["lr"] * group["weight_decay"])
        return loss


class AdamWGroupCounter(_Adam):
    """AdamW with one step counter per param group, incremented in the parameter loop."""

    @torch.no_grad()
    def step(self, closure=None):
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            group.setdefault("step", 0)
            for p in group["params"]:
                group["step"] += 1
                p.mul_(1 - group["lr"] * group["weight_decay"])
                p.sub_(self._adam_delta(p, group, group["step"]))
        return loss


class _AdamWMSAM(_Adam):
    """Standard form: params hold w; the gradient is taken at w - rho m/(||m|| + EPS)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, rho=1.0):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, rho=rho)

    def _params(self):
        return [p for g in self.param_groups for p in g["params"]]

    def _scale(self):
        norm = torch.stack([self._moments(p)["exp_avg"].pow(2).sum() for p in self._params()])
        return self.param_groups[0]["rho"] / (norm.sum().sqrt() + EPS)

    def _update(self, p, group, k, w):
        p.copy_(w - self._adam_delta(p, group, k))
        p.mul_(1 - group["lr"] * group["weight_decay"])

    @torch.no_grad()
    def step(self, closure=None):
        c, saved = self._scale(), {}
        for p in self._params():
            saved[p] = p.clone()
            p.sub_(c * self._moments(p)["exp_avg"])
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                state = self._moments(p)
                state["step"] += 1
                self._update(p, group, float(state["step"]), saved[p])
        self._after_step()
        return loss

    def _after_step(self):
        pass


class AdamWMSAMStep(_AdamWMSAM):
    pass


class AdamWMSAMDecayBefore(_AdamWMSAM):
    def _update(self, p, group, k, w):
        p.copy_(w * (1 - group["lr"] * group["weight_decay"]) - self._adam_delta(p, group, k))


class AdamWMSAMStaleRho(_AdamWMSAM):
    """Computes the next perturbation scale at the end of a step, with that step's rho."""

    def _scale(self):
        if "next_scale" in self.state:
            return self.state["next_scale"]
        return super()._scale()

    def _after_step(self):
        self.state["next_scale"] = super()._scale()
