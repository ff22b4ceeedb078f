"""SAM for PyTorch."""

import torch


class SAM(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.9, rho=0.05, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, rho=rho, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure):
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                e = group["rho"] * p.grad / (p.grad.norm() + 1e-12)
                self.state[p]["e"] = e
                p.add_(e)
        with torch.enable_grad():
            closure()
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                p.sub_(state["e"])
                d = p.grad + group["weight_decay"] * p
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.clone(d)
                else:
                    state["momentum_buffer"].mul_(group["momentum"]).add_(d)
                p.add_(state["momentum_buffer"], alpha=-group["lr"])
        return loss
