"""Hand-written PyTorch AdamW-MSAM, params hold the unperturbed w; ``step(closure)``."""

import math

import torch

EPS = 1e-12


class AdamWMSAM(torch.optim.Optimizer):
    """w~ = w - rho m/(||m|| + EPS); Adam moments with g(w~); Adam step from w; then
    w *= 1 - lr wd (decay after the step)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, rho=1.0):
        super().__init__(
            params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, rho=rho)
        )

    def _state(self, p):
        st = self.state[p]
        if "exp_avg" not in st:
            st["step"] = torch.tensor(0.0, dtype=torch.float64)
            st["exp_avg"] = torch.zeros_like(p)
            st["exp_avg_sq"] = torch.zeros_like(p)
        return st

    def _denominator(self, s, k, b2, eps):
        return s.sqrt() / math.sqrt(1 - b2**k) + eps

    def _decay_on_perturbed(self, p, lr, wd):
        pass

    def _decay_after(self, p, lr, wd):
        p.mul_(1 - lr * wd)

    @torch.no_grad()
    def step(self, closure):
        for group in self.param_groups:
            ms = [self._state(p)["exp_avg"] for p in group["params"]]
            norm = torch.sqrt(sum((m * m).sum() for m in ms))
            group["_scale"] = group["rho"] / (norm + EPS)
            for p, m in zip(group["params"], ms):
                p.sub_(group["_scale"] * m)
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                st = self._state(p)
                m, s = st["exp_avg"], st["exp_avg_sq"]
                g = p.grad.clone()
                self._decay_on_perturbed(p, lr, wd)
                p.add_(group["_scale"] * m)
                st["step"] += 1
                k = int(st["step"].item())
                m.mul_(b1).add_((1 - b1) * g)
                s.mul_(b2).add_((1 - b2) * g * g)
                p.sub_(lr / (1 - b1**k) * m / self._denominator(s, k, b2, eps))
                self._decay_after(p, lr, wd)
        return loss


class AdamWMSAMNoSecondBiasCorrection(AdamWMSAM):
    """AdamW-MSAM that bias-corrects the first moment but not the second."""

    def _denominator(self, s, k, b2, eps):
        return s.sqrt() + eps


class AdamWMSAMDecayOnPerturbed(AdamWMSAM):
    """AdamW-MSAM that decays the weights while they still hold the perturbed point,
    before moving back and before the Adam step."""

    def _decay_on_perturbed(self, p, lr, wd):
        p.mul_(1 - lr * wd)

    def _decay_after(self, p, lr, wd):
        pass


class AdamWMSAMCounterPerParam(AdamWMSAM):
    """AdamW-MSAM with one step counter for the whole optimizer, incremented inside the
    loop over parameters, so k grows by the number of parameters each step."""

    def _state(self, p):
        st = super()._state(p)
        st["step"] = self.__dict__.setdefault(
            "_shared_step", torch.tensor(0.0, dtype=torch.float64)
        )
        return st
