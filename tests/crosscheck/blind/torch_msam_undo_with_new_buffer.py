"""Memory-free Momentum-SAM for PyTorch, official-code style: params hold the perturbed point.

The scale applied is stored in the optimizer state, so a rho schedule is handled.
"""

import torch


class MSAM(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.9, rho=0.3, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, rho=rho, weight_decay=weight_decay))

    def _pairs(self):
        return [(g, p) for g in self.param_groups for p in g["params"]]

    def _state(self, p):
        state = self.state[p]
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(p)
            state["scale"] = 0.0
        return state

    @torch.no_grad()
    def move_back(self):
        for _, p in self._pairs():
            state = self._state(p)
            p.add_(state["momentum_buffer"], alpha=state["scale"])
            state["scale"] = 0.0

    @torch.no_grad()
    def move_up(self):
        norm = torch.sqrt(
            sum(self._state(p)["momentum_buffer"].pow(2).sum() for _, p in self._pairs())
        )
        for group, p in self._pairs():
            state = self._state(p)
            state["scale"] = float(group["rho"] / (norm + 1e-12))
            p.sub_(state["momentum_buffer"], alpha=state["scale"])

    @torch.no_grad()
    def step(self):
        for group, p in self._pairs():
            state = self._state(p)
            d = p.grad + group["weight_decay"] * p
            state["momentum_buffer"].mul_(group["momentum"]).add_(d)
            p.add_(state["momentum_buffer"], alpha=state["scale"])  # back to w
            state["scale"] = 0.0
            p.add_(state["momentum_buffer"], alpha=-group["lr"])
        self.move_up()
