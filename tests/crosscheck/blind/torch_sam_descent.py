"""SAM for PyTorch (first_step / second_step)."""

import torch


class SAM(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.9, rho=0.05, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, rho=rho, weight_decay=weight_decay))

    @torch.no_grad()
    def first_step(self):
        grads = [p.grad.flatten() for g in self.param_groups for p in g["params"]]
        norm = torch.cat(grads).norm()
        for group in self.param_groups:
            scale = group["rho"] / (norm + 1e-12)
            for p in group["params"]:
                e = p.grad * scale
                self.state[p]["e"] = e
                p.sub_(e)

    @torch.no_grad()
    def second_step(self):
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                p.add_(state["e"])
                d = p.grad + group["weight_decay"] * p
                if "momentum_buffer" in state:
                    state["momentum_buffer"].mul_(group["momentum"]).add_(d)
                else:
                    state["momentum_buffer"] = d.clone()
                p.add_(state["momentum_buffer"], alpha=-group["lr"])
