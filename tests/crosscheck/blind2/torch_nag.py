"""NAG (look-ahead form) as PyTorch optimizers whose params hold ``w_t``; both broken.

``step(closure)`` moves the params to the look-ahead point ``a_t = w_t - lr mu v_t``,
calls the closure there, and moves them to ``w_{t+1}``.
"""

import torch


class NAGDecayAtW(torch.optim.Optimizer):
    """Broken: the weight decay is taken at ``w_t``, not at the look-ahead point."""

    def __init__(self, params, lr, momentum=0.9, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure):
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                v = state.setdefault("momentum_buffer", torch.zeros_like(p))
                state["w"] = p.detach().clone()
                p.sub_(v, alpha=group["lr"] * group["momentum"])  # to a_t
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                w, v = state["w"], state["momentum_buffer"]
                v.mul_(group["momentum"]).add_(p.grad).add_(w, alpha=group["weight_decay"])
                p.copy_(w - group["lr"] * v)
        return loss


class NAGVelocityHoldsLr(torch.optim.Optimizer):
    """Broken: the Sutskever et al. velocity ``v <- mu v - lr d`` (it holds the learning
    rate), so under a learning-rate schedule the look-ahead uses the previous steps' lr."""

    def __init__(self, params, lr, momentum=0.9, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure):
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                vel = state.setdefault("velocity", torch.zeros_like(p))
                state["w"] = p.detach().clone()
                p.add_(vel, alpha=group["momentum"])  # a = w + mu vel
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                d = p.grad.add(p, alpha=group["weight_decay"])
                vel = state["velocity"].mul_(group["momentum"]).sub_(d, alpha=group["lr"])
                p.copy_(state["w"] + vel)
        return loss
