"""SAM (SGD momentum base) for PyTorch; momentum buffers kept in a dict on the optimizer."""

import torch


class SAM(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.9, rho=0.05, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, rho=rho, weight_decay=weight_decay))
        self.buffers = {}  # id(p) -> momentum buffer

    @torch.no_grad()
    def step(self, closure):
        with torch.enable_grad():
            loss = closure()
        params = [p for group in self.param_groups for p in group["params"]]
        norm = torch.norm(torch.stack([p.grad.norm() for p in params]))
        perturbations = []
        for group in self.param_groups:
            for p in group["params"]:
                e = group["rho"] * p.grad / (norm + 1e-12)
                p.add_(e)
                perturbations.append(e)
        with torch.enable_grad():
            closure()
        for p, e in zip(params, perturbations):
            p.sub_(e)
        for group in self.param_groups:
            for p in group["params"]:
                d = p.grad + group["weight_decay"] * p
                buf = self.buffers.get(id(p))
                if buf is None:
                    buf = self.buffers[id(p)] = d.clone()
                else:
                    buf.mul_(group["momentum"]).add_(d)
                p.sub_(group["lr"] * buf)
        return loss
