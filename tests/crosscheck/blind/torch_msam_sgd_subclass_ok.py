"""Momentum-SAM for PyTorch as a subclass of torch.optim.SGD: perturb, backward, undo,
add the decay at the perturbed point to the gradient, then SGD's own momentum step."""

import torch


class MSAM(torch.optim.SGD):
    def __init__(self, params, lr, momentum=0.9, rho=0.3, weight_decay=0.0):
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=0.0)
        for group in self.param_groups:
            group["rho"] = rho
            group["msam_weight_decay"] = weight_decay

    @torch.no_grad()
    def step(self, closure):
        bufs = [
            self.state[p].get("momentum_buffer") for g in self.param_groups for p in g["params"]
        ]
        norm = torch.sqrt(sum((b * b).sum() for b in bufs if b is not None) + torch.zeros(()))
        shifts = {}
        for group in self.param_groups:
            for p in group["params"]:
                buf = self.state[p].get("momentum_buffer")
                if buf is not None:
                    shifts[p] = buf * (group["rho"] / (norm + 1e-12))
                    p.sub_(shifts[p])
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                p.grad.add_(p, alpha=group["msam_weight_decay"])
                if p in shifts:
                    p.add_(shifts[p])
        super().step()
        return loss
