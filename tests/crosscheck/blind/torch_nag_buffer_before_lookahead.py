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
                buf.mul_(group["momentum"])  # decay the buffer first
                p.sub_(group["lr"] * group["momentum"] * buf)  # look ahead
                self.state[p]["shift"] = group["lr"] * group["momentum"] * buf
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                d = p.grad + group["weight_decay"] * p
                p.add_(state["shift"])
                state["momentum_buffer"].add_(d)
                p.sub_(group["lr"] * state["momentum_buffer"])
        return loss
