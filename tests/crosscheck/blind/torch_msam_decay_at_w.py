"""Momentum-SAM for PyTorch (closure form)."""

import torch


class MSAM(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.9, rho=0.3, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, rho=rho, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure):
        pairs = [(g, p) for g in self.param_groups for p in g["params"]]
        for _, p in pairs:
            self.state[p].setdefault("momentum_buffer", torch.zeros_like(p))
        norm = torch.sqrt(sum(self.state[p]["momentum_buffer"].pow(2).sum() for _, p in pairs))
        for group, p in pairs:
            state = self.state[p]
            state["w"] = p.clone()
            p.sub_(state["momentum_buffer"], alpha=float(group["rho"] / (norm + 1e-12)))
        with torch.enable_grad():
            loss = closure()
        for group, p in pairs:
            state = self.state[p]
            p.copy_(state["w"])
            d = p.grad.add(p, alpha=group["weight_decay"])
            state["momentum_buffer"].mul_(group["momentum"]).add_(d)
            p.add_(state["momentum_buffer"], alpha=-group["lr"])
        return loss
