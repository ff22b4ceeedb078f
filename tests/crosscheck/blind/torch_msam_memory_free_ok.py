"""Memory-free Momentum-SAM for PyTorch: params hold w~ = w - c v; c (the applied scale) is
kept in the optimizer state, so undoing removes exactly what was added under any rho schedule."""

import torch


class MSAM(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.9, rho=0.3, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, rho=rho, weight_decay=weight_decay))

    def _each(self):
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                if not state:
                    state["v"] = torch.zeros_like(p)
                    state["c"] = torch.zeros((), dtype=p.dtype)
                yield group, p, state

    @torch.no_grad()
    def move_to_unperturbed(self):
        for _, p, state in self._each():
            p.add_(state["c"] * state["v"])
            state["c"].zero_()

    @torch.no_grad()
    def move_to_perturbed(self):
        norm = torch.linalg.vector_norm(torch.cat([s["v"].flatten() for _, _, s in self._each()]))
        for group, p, state in self._each():
            state["c"].fill_(group["rho"] / (norm + 1e-12))
            p.sub_(state["c"] * state["v"])

    @torch.no_grad()
    def step(self):
        for group, p, state in self._each():
            d = p.grad + group["weight_decay"] * p  # at w~
            p.add_(state["c"] * state["v"])
            state["c"].zero_()
            state["v"].mul_(group["momentum"]).add_(d)
            p.sub_(group["lr"] * state["v"])
        self.move_to_perturbed()
