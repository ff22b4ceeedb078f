"""AdamW-MSAM as PyTorch optimizers whose params hold ``w_t``: ``step(closure)`` moves to
``w~_t = w_t - rho m_t / (||m_t|| + EPS)``, calls the closure there, and takes the Adam
step from ``w_t`` with the decoupled decay after it. One correct, two broken."""

import math

import torch

EPS = 1e-12


class _AdamWMSAM(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, rho=1.0):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, rho=rho)
        super().__init__(params, defaults)

    def _items(self):
        out = []
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["m"], state["s"] = torch.zeros_like(p), torch.zeros_like(p)
                out.append((group, p, state))
        return out

    def _count(self, state):
        state["step"] += 1
        return state["step"]

    def _adam(self, group, p, state, w, k):
        """``w_{t+1}`` from ``w`` with the moments already updated (decay after)."""
        lr, (b1, b2) = group["lr"], group["betas"]
        denom = state["s"].sqrt() / math.sqrt(1 - b2**k) + group["eps"]
        w_adam = w - lr / (1 - b1**k) * state["m"] / denom
        return w_adam * (1 - lr * group["weight_decay"])

    @torch.no_grad()
    def step(self, closure):
        items = self._items()
        norm = torch.linalg.vector_norm(torch.cat([s["m"].reshape(-1) for _, _, s in items]))
        saved = {}
        for group, p, state in items:
            saved[p] = p.detach().clone()
            p.sub_(state["m"], alpha=float(group["rho"] / (norm + EPS)))
        with torch.enable_grad():
            loss = closure()
        for group, p, state in items:
            b1, b2 = group["betas"]
            state["m"].mul_(b1).add_(p.grad, alpha=1 - b1)
            state["s"].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            p.copy_(self._adam(group, p, state, saved[p], self._count(state)))
        return loss


class AdamWMSAMDecayFirst(_AdamWMSAM):
    """Broken: the decoupled decay is applied before the Adam step (torch.optim.AdamW's
    order), not after it."""

    def _adam(self, group, p, state, w, k):
        lr, (b1, b2) = group["lr"], group["betas"]
        w = w * (1 - lr * group["weight_decay"])
        denom = state["s"].sqrt() / math.sqrt(1 - b2**k) + group["eps"]
        return w - lr / (1 - b1**k) * state["m"] / denom


class AdamWMSAMSharedCounter(_AdamWMSAM):
    """Broken: one step counter on the optimizer, incremented inside the per-parameter
    loop, so the bias corrections use ``k = (number of tensors) * t + i``."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, rho=1.0):
        super().__init__(params, lr, betas, eps, weight_decay, rho)
        self.t = 0

    def _count(self, state):
        self.t += 1
        state["step"] = self.t
        return self.t

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        self.t = max(s["step"] for s in self.state.values())


class AdamWMSAMHatMoments(_AdamWMSAM):
    """Correct, written unusually: the textbook ``m^ / (sqrt(s^) + eps)`` with
    ``torch.lerp`` for the moments and the decay as ``w - lr lam w``."""

    @torch.no_grad()
    def step(self, closure):
        items = self._items()
        sq = sum(float((s["m"] * s["m"]).sum()) for _, _, s in items)
        saved = {}
        for group, p, state in items:
            saved[p] = p.detach().clone()
            p.add_(state["m"] * (-group["rho"] / (math.sqrt(sq) + EPS)))
        with torch.enable_grad():
            loss = closure()
        for group, p, state in items:
            (b1, b2), lr, k = group["betas"], group["lr"], state["step"] + 1
            state["step"] = k
            state["m"].lerp_(p.grad, 1 - b1)
            state["s"].lerp_(p.grad.square(), 1 - b2)
            m_hat, s_hat = state["m"] / (1 - b1**k), state["s"] / (1 - b2**k)
            w_adam = saved[p] - lr * m_hat / (s_hat.sqrt() + group["eps"])
            p.copy_(w_adam - lr * group["weight_decay"] * w_adam)
        return loss
