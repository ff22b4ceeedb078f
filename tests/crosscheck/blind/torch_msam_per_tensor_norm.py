"""Momentum-SAM for PyTorch (closure form)."""

import torch


class MSAM(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.9, rho=0.3, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, rho=rho, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure):
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                buf = state.setdefault("momentum_buffer", torch.zeros_like(p))
                state["shift"] = group["rho"] * buf / (buf.norm() + 1e-12)
                p.sub_(state["shift"])
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                d = p.grad + group["weight_decay"] * p
                p.add_(state["shift"])
                state["momentum_buffer"].mul_(group["momentum"]).add_(d)
                p.sub_(group["lr"] * state["momentum_buffer"])
        return loss
