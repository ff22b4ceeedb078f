"""Momentum-SAM for PyTorch (closure form: params hold w between steps)."""

import torch


class MSAM(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.9, rho=0.3, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, rho=rho, weight_decay=weight_decay))

    def _buf(self, p):
        state = self.state[p]
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(p)
        return state["momentum_buffer"]

    @torch.no_grad()
    def step(self, closure):
        params = [(g, p) for g in self.param_groups for p in g["params"]]
        norm = torch.sqrt(sum(self._buf(p).pow(2).sum() for _, p in params))
        shifts = []
        for group, p in params:
            shift = group["rho"] * self._buf(p) / (norm + 1e-12)
            p.add_(shift)
            shifts.append(shift)
        with torch.enable_grad():
            loss = closure()
        for (group, p), shift in zip(params, shifts):
            d = p.grad + group["weight_decay"] * p  # decay at the perturbed point
            p.sub_(shift)
            self._buf(p).mul_(group["momentum"]).add_(d)
            p.sub_(group["lr"] * self._buf(p))
        return loss
