"""AdamW (torch.optim semantics) and AdamW-MSAM (standard form) as ``torch.optim.Optimizer``s.

Correct: ``AdamWRearranged``, ``AdamWMSAMStandard``. The others each carry one mistake.
"""

import math

import torch
from torch.optim import Optimizer

EPS = 1e-12


class AdamWRearranged(Optimizer):
    """w' = w (1 - lr wd); m, s moments; w -= lr/(1-b1^k) m/(sqrt(s)/sqrt(1-b2^k) + eps),
    computed as torch does: step size lr sqrt(1-b2^k)/(1-b1^k), denominator
    sqrt(s) + eps sqrt(1-b2^k)."""

    first_count = 0

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults)

    def _state(self, p):
        state = self.state[p]
        if not state:
            state["step"] = self.first_count
            state["exp_avg"] = torch.zeros_like(p)
            state["exp_avg_sq"] = torch.zeros_like(p)
        return state

    def _gradient(self, p, group):
        return p.grad

    def _decay_before(self, p, group):
        p.mul_(1 - group["lr"] * group["weight_decay"])

    def _decay_after(self, p, group):
        pass

    def _count(self, state):
        """Advance this parameter's step counter and return k = t + 1."""
        state["step"] += 1
        return state["step"]

    def _adam_step(self, p, g, group, state):
        (b1, b2), eps, lr = group["betas"], group["eps"], group["lr"]
        k = self._count(state)
        m, s = state["exp_avg"], state["exp_avg_sq"]
        m.lerp_(g, 1 - b1)
        s.mul_(b2).addcmul_(g, g, value=1 - b2)
        root_correction = math.sqrt(1 - b2**k)
        denominator = self._denominator(s, eps, root_correction)
        p.addcdiv_(m, denominator, value=-lr * root_correction / (1 - b1**k))

    def _denominator(self, s, eps, root_correction):
        return s.sqrt().add_(eps * root_correction)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self._state(p)
                g = self._gradient(p, group)
                self._decay_before(p, group)
                self._adam_step(p, g, group, state)
                self._decay_after(p, group)
        return loss


class AdamWDecayLast(AdamWRearranged):
    """Shrinks the weights after the Adam step instead of before it."""

    def _decay_before(self, p, group):
        pass

    def _decay_after(self, p, group):
        p.mul_(1 - group["lr"] * group["weight_decay"])


class AdamWCoupledL2(AdamWRearranged):
    """Adam with L2: wd w added to the gradient (so it enters the moments), no shrink."""

    def _gradient(self, p, group):
        return p.grad.add(p, alpha=group["weight_decay"])

    def _decay_before(self, p, group):
        pass


class AdamWCountFromOne(AdamWRearranged):
    """The step counter starts at 1 and is incremented before use: k = t + 2."""

    first_count = 1


class AdamWEpsUnderRoot(AdamWRearranged):
    """eps inside the square root: sqrt(s_hat + eps) instead of sqrt(s_hat) + eps."""

    def _denominator(self, s, eps, root_correction):
        return (s / root_correction**2 + eps).sqrt().mul_(root_correction)


class AdamWSharedCounter(AdamWRearranged):
    """One counter on the instance, advanced inside the per-parameter loop, so it counts
    parameter updates (k grows by the number of tensors per step)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        self.t = 0

    def _count(self, state):
        self.t += 1
        return self.t


class AdamWCounterOnInstance(AdamWRearranged):
    """One counter on the instance, advanced once per step: right until a checkpoint is
    restored, which does not carry it (the bias corrections start again)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        self.t = 0

    @torch.no_grad()
    def step(self, closure=None):
        self.t += 1
        return super().step(closure)

    def _count(self, state):
        return self.t


class AdamWMSAMStandard(Optimizer):
    """c = rho/(||m|| + EPS); w~ = w - c m; gamma = g(w~); Adam step from w; then
    w_next = w' (1 - lr wd). The params hold w between steps."""

    def __init__(self, params, lr=1e-3, rho=1.0, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        defaults = dict(lr=lr, rho=rho, betas=betas, eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults)

    def _all(self):
        return [(p, g) for g in self.param_groups for p in g["params"]]

    def _state(self, p):
        state = self.state[p]
        if not state:
            state["step"] = 0
            state["m"] = torch.zeros_like(p)
            state["s"] = torch.zeros_like(p)
        return state

    def _direction(self, p, group):
        return self._state(p)["m"]

    def _decay_first(self, p, group):
        pass

    def _decay_last(self, p, group):
        p.mul_(1 - group["lr"] * group["weight_decay"])

    @torch.no_grad()
    def step(self, closure):
        directions = {p: self._direction(p, g) for p, g in self._all()}
        norm = torch.sqrt(sum((x**2).sum() for x in directions.values()))
        saved = {}
        for p, group in self._all():
            saved[p] = p.clone()
            p.sub_(group["rho"] / (norm + EPS) * directions[p])
        with torch.enable_grad():
            loss = closure()
        for p, group in self._all():
            (b1, b2), eps, lr = group["betas"], group["eps"], group["lr"]
            state = self._state(p)
            g = p.grad
            p.copy_(saved[p])
            self._decay_first(p, group)
            state["step"] += 1
            k = state["step"]
            state["m"].mul_(b1).add_(g, alpha=1 - b1)
            state["s"].mul_(b2).add_(g * g, alpha=1 - b2)
            s_hat_root = state["s"].sqrt() / math.sqrt(1 - b2**k)
            p.sub_(lr / (1 - b1**k) * state["m"] / (s_hat_root + eps))
            self._decay_last(p, group)
        return loss


class AdamWMSAMPreconditioned(AdamWMSAMStandard):
    """Perturbs along Adam's preconditioned direction m/(sqrt(s) + eps), normalised."""

    def _direction(self, p, group):
        state = self._state(p)
        return state["m"] / (state["s"].sqrt() + group["eps"])


class AdamWMSAMDecayFirst(AdamWMSAMStandard):
    """AdamW's order: the decay before the Adam step instead of after it."""

    def _decay_first(self, p, group):
        p.mul_(1 - group["lr"] * group["weight_decay"])

    def _decay_last(self, p, group):
        pass
