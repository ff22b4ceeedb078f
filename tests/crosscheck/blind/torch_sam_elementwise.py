"""SAM for PyTorch with a scale-invariant (adaptive) ascent |w| * g."""

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
        norm = torch.sqrt(sum((p.abs() * p.grad).pow(2).sum() for _, p in self._params()))
        for group, p in self._params():
            e = group["rho"] * p.pow(2) * p.grad / (norm + 1e-12)
            self.state[p]["e"] = e
            p.add_(e)
        with torch.enable_grad():
            closure()
        for group, p in self._params():
            state = self.state[p]
            p.sub_(state["e"])
            d = p.grad + group["weight_decay"] * p
            buf = state.get("momentum_buffer")
            if buf is None:
                state["momentum_buffer"] = buf = d.clone()
            else:
                buf.mul_(group["momentum"]).add_(d)
            p.sub_(group["lr"] * buf)
        return loss
