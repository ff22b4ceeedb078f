"""NAG (look-ahead form) for PyTorch."""

import torch


class NAG(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.9, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure):
        for group in self.param_groups:
            for p in group["params"]:
                buf = self.state[p].setdefault("momentum_buffer", torch.zeros_like(p))
                p.sub_(group["momentum"] * buf)  # look ahead
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                buf = self.state[p]["momentum_buffer"]
                d = p.grad + group["weight_decay"] * p
                p.add_(group["momentum"] * buf)  # back
                buf.mul_(group["momentum"]).add_(d)
                p.sub_(group["lr"] * buf)
        return loss
