"""Memory-free Momentum-SAM for PyTorch with step(closure): params hold the perturbed point."""

import torch


class MSAM(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.9, rho=0.3, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, rho=rho, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure):
        with torch.enable_grad():
            loss = closure()  # gradient at the perturbed point the params hold
        pairs = [(g, p) for g in self.param_groups for p in g["params"]]
        for group, p in pairs:
            state = self.state[p]
            buf = state.setdefault("momentum_buffer", torch.zeros_like(p))
            d = p.grad + group["weight_decay"] * p
            p.add_(buf, alpha=state.get("scale", 0.0))  # undo
            buf.mul_(group["momentum"]).add_(d)
            p.add_(buf, alpha=-group["lr"])
        norm = torch.sqrt(sum(self.state[p]["momentum_buffer"].pow(2).sum() for _, p in pairs))
        for group, p in pairs:
            state = self.state[p]
            state["scale"] = float(group["rho"] / (norm + 1e-12))
            p.sub_(state["momentum_buffer"], alpha=state["scale"])
        return loss
