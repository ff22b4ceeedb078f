"""AdamW-MSAM for PyTorch (closure form: params hold w between steps)."""

import torch


class AdamWMSAM(torch.optim.Optimizer):
    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, rho=1.0):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, rho=rho)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure):
        pairs = [(g, p) for g in self.param_groups for p in g["params"]]
        for _, p in pairs:
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["m"] = torch.zeros_like(p)
                state["s"] = torch.zeros_like(p)
        norm = torch.sqrt(sum(self.state[p]["m"].pow(2).sum() for _, p in pairs))
        for group, p in pairs:
            shift = group["rho"] * self.state[p]["m"] / (norm + 1e-12)
            self.state[p]["shift"] = shift
            p.sub_(shift)
        with torch.enable_grad():
            loss = closure()
        for group, p in pairs:
            state = self.state[p]
            b1, b2 = group["betas"]
            p.add_(state["shift"])
            state["m"].mul_(b1).add_(p.grad, alpha=1 - b1)
            state["s"].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            k = state["step"]
            m_hat = state["m"] / (1 - b1**k)
            s_hat = state["s"] / (1 - b2**k)
            p.sub_(group["lr"] * m_hat / (s_hat.sqrt() + group["eps"]))
            p.mul_(1 - group["lr"] * group["weight_decay"])
            state["step"] += 1
        return loss
