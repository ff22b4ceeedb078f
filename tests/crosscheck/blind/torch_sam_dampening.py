"""SAM for PyTorch; the momentum buffer is an average of the gradients (dampening = momentum)."""

import torch


class SAM(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.9, rho=0.05, weight_decay=0.0):
        defaults = dict(lr=lr, momentum=momentum, dampening=momentum, rho=rho)
        super().__init__(params, dict(defaults, weight_decay=weight_decay))

    @torch.no_grad()
    def first_step(self):
        params = [p for g in self.param_groups for p in g["params"]]
        norm = torch.norm(torch.stack([p.grad.norm() for p in params]))
        for group in self.param_groups:
            for p in group["params"]:
                e = p.grad * (group["rho"] / (norm + 1e-12))
                self.state[p]["e"] = e
                p.add_(e)

    @torch.no_grad()
    def second_step(self):
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                p.sub_(state["e"])
                d = p.grad.add(p, alpha=group["weight_decay"])
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = (
                        d.clone()
                    )  # as torch.optim.SGD: no dampening at first
                else:
                    buf = state["momentum_buffer"]
                    buf.mul_(group["momentum"]).add_(d, alpha=1 - group["dampening"])
                p.add_(state["momentum_buffer"], alpha=-group["lr"])
