"""SAM for PyTorch (first_step / second_step); hyperparameters kept as attributes."""

import torch


class SAM(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.9, rho=0.05, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, rho=rho, weight_decay=weight_decay))
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay

    def _params(self):
        return [p for g in self.param_groups for p in g["params"]]

    @torch.no_grad()
    def first_step(self):
        norm = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in self._params()]))
        rho = self.param_groups[0]["rho"]
        for p in self._params():
            e = rho * p.grad / (norm + 1e-12)
            self.state[p]["e"] = e
            p.add_(e)

    @torch.no_grad()
    def second_step(self):
        for p in self._params():
            state = self.state[p]
            p.sub_(state["e"])
            d = p.grad + self.weight_decay * p
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = d.clone()
            else:
                state["momentum_buffer"].mul_(self.momentum).add_(d)
            p.sub_(self.lr * state["momentum_buffer"])
