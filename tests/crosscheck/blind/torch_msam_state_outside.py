"""Momentum-SAM for PyTorch (closure form); buffers in a list on the optimizer."""

import torch


class MSAM(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.9, rho=0.3, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, rho=rho, weight_decay=weight_decay))
        self.momentum_buffers = [
            torch.zeros_like(p) for g in self.param_groups for p in g["params"]
        ]

    @torch.no_grad()
    def step(self, closure):
        pairs = [(g, p) for g in self.param_groups for p in g["params"]]
        norm = torch.sqrt(sum(b.pow(2).sum() for b in self.momentum_buffers))
        shifts = [g["rho"] * b / (norm + 1e-12) for (g, _), b in zip(pairs, self.momentum_buffers)]
        for (_, p), shift in zip(pairs, shifts):
            p.sub_(shift)
        with torch.enable_grad():
            loss = closure()
        for (group, p), shift, buf in zip(pairs, shifts, self.momentum_buffers):
            d = p.grad + group["weight_decay"] * p
            p.add_(shift)
            buf.mul_(group["momentum"]).add_(d)
            p.sub_(group["lr"] * buf)
        return loss
