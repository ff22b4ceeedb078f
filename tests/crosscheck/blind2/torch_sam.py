"""SAM on SGD momentum as PyTorch optimizers in the davda54/sam style.

The kit drives them with its ``two-step`` adapter: backward at ``w_t``,
``first_step()`` to ``w_t + e_t``, backward there, ``second_step()`` back to ``w_t``
and the momentum step. One is correct (written unusually), four are broken.
"""

import torch

EPS = 1e-12


class _TwoStepSAM(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.9, rho=0.05, weight_decay=0.0):
        defaults = dict(lr=lr, momentum=momentum, rho=rho, weight_decay=weight_decay)
        super().__init__(params, defaults)

    def _with_grad(self):
        return [(g, p) for g in self.param_groups for p in g["params"] if p.grad is not None]

    def _grad_norm(self):
        return torch.linalg.vector_norm(
            torch.stack([torch.linalg.vector_norm(p.grad) for _, p in self._with_grad()])
        )

    def _rho(self, group):
        return group["rho"]

    @torch.no_grad()
    def first_step(self):
        norm = self._grad_norm()
        for group, p in self._with_grad():
            e = p.grad * (self._rho(group) / (norm + EPS))
            self.state[p]["w"] = p.detach().clone()
            p.add_(e)

    def _momentum_step(self, group, p, d):
        state = self.state[p]
        buf = state.get("momentum_buffer")
        if buf is None:
            buf = state["momentum_buffer"] = torch.zeros_like(p)
        buf.mul_(group["momentum"]).add_(d)
        p.add_(buf, alpha=-group["lr"])

    @torch.no_grad()
    def second_step(self):
        for group, p in self._with_grad():
            p.copy_(self.state[p]["w"])  # back to w_t
            d = p.grad.add(p, alpha=group["weight_decay"])
            self._momentum_step(group, p, d)

    def step(self, closure=None):
        raise NotImplementedError("call first_step() and second_step()")


class SAMRhoFromConstructor(_TwoStepSAM):
    """Broken: keeps the constructor's ``rho`` in an attribute, so a rho scheduler that
    writes ``group["rho"]`` has no effect."""

    def __init__(self, params, lr, momentum=0.9, rho=0.05, weight_decay=0.0):
        super().__init__(params, lr, momentum, rho, weight_decay)
        self.rho = rho

    def _rho(self, group):
        return self.rho


class SAMNormPerTensor(_TwoStepSAM):
    """Broken: every tensor's gradient is normalised on its own (one norm per tensor)."""

    @torch.no_grad()
    def first_step(self):
        for group, p in self._with_grad():
            e = p.grad * (group["rho"] / (torch.linalg.vector_norm(p.grad) + EPS))
            self.state[p]["w"] = p.detach().clone()
            p.add_(e)


class SAMMomentumOutsideState(_TwoStepSAM):
    """Broken: the momentum buffers live in a dict on the optimizer, not in
    ``self.state``, so ``state_dict()`` does not save them and a restore starts at 0."""

    def __init__(self, params, lr, momentum=0.9, rho=0.05, weight_decay=0.0):
        super().__init__(params, lr, momentum, rho, weight_decay)
        self.buffers = {}

    def _momentum_step(self, group, p, d):
        buf = self.buffers.setdefault(id(p), torch.zeros_like(p))
        buf.mul_(group["momentum"]).add_(d)
        p.add_(buf, alpha=-group["lr"])


class SAMStaysPerturbed(_TwoStepSAM):
    """Broken: ``second_step`` takes the momentum step from ``w_t + e_t`` (it never goes
    back to ``w_t``); the weight decay is still taken at the saved ``w_t``."""

    @torch.no_grad()
    def second_step(self):
        for group, p in self._with_grad():
            d = p.grad.add(self.state[p]["w"], alpha=group["weight_decay"])
            self._momentum_step(group, p, d)


class SAMSubtractAscent(_TwoStepSAM):
    """Correct, written unusually: stores ``e_t`` instead of ``w_t`` and steps back by
    subtracting it (``(w + e) - e``, exact up to rounding), as the first davda54/sam
    release did; the decay is then taken at the restored point."""

    @torch.no_grad()
    def first_step(self):
        norm = self._grad_norm()
        for group, p in self._with_grad():
            e = p.grad * (group["rho"] / (norm + EPS))
            self.state[p]["e"] = e
            p.add_(e)

    @torch.no_grad()
    def second_step(self):
        for group, p in self._with_grad():
            p.sub_(self.state[p].pop("e"))
            self._momentum_step(group, p, p.grad + group["weight_decay"] * p)
