"""SAM for PyTorch; weight decay folded into the gradient right after backward."""

import torch


class SAM(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.9, rho=0.05, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, rho=rho, weight_decay=weight_decay))

    def _params(self):
        return [(g, p) for g in self.param_groups for p in g["params"]]

    @torch.no_grad()
    def step(self, closure):
        with torch.enable_grad():
            loss = closure()
        for group, p in self._params():
            p.grad.add_(p, alpha=group["weight_decay"])
        norm = torch.sqrt(sum(p.grad.pow(2).sum() for _, p in self._params()))
        for group, p in self._params():
            self.state[p]["w"] = p.clone()
            p.add_(p.grad * (group["rho"] / (norm + 1e-12)))
        with torch.enable_grad():
            closure()
        for group, p in self._params():
            state = self.state[p]
            p.copy_(state["w"])
            d = p.grad + group["weight_decay"] * p
            buf = state.get("momentum_buffer")
            if buf is None:
                state["momentum_buffer"] = buf = d.clone()
            else:
                buf.mul_(group["momentum"]).add_(d)
            p.sub_(group["lr"] * buf)
        return loss
