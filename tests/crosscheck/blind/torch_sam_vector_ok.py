"""SAM for PyTorch (first_step / second_step) on flat vectors: parameters_to_vector, and w
copied back from a saved vector after the second pass."""

import torch
from torch.nn.utils import parameters_to_vector, vector_to_parameters


class SAM(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.9, rho=0.05, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, rho=rho, weight_decay=weight_decay))

    def _params(self):
        return [p for g in self.param_groups for p in g["params"]]

    @torch.no_grad()
    def first_step(self):
        params = self._params()
        self.w = parameters_to_vector(params).clone()
        g = parameters_to_vector([p.grad for p in params])
        rho = self.param_groups[0]["rho"]
        vector_to_parameters(self.w + rho * g / (torch.linalg.vector_norm(g) + 1e-12), params)

    @torch.no_grad()
    def second_step(self):
        vector_to_parameters(self.w, self._params())
        for group in self.param_groups:
            for p in group["params"]:
                d = torch.add(p.grad, p, alpha=group["weight_decay"])
                state = self.state[p]
                buf = state.get("momentum_buffer")
                state["momentum_buffer"] = d.clone() if buf is None else buf * group["momentum"] + d
                p.sub_(state["momentum_buffer"] * group["lr"])
