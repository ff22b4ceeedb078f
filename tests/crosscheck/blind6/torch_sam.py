"""SAM (SGD-momentum base) in PyTorch: ``step(closure)`` and ``first_step``/``second_step``.

Blind set 6 (see README.md): ``Correct*`` classes follow docs/optimizers.md; every other
class carries one realistic mistake, described in its docstring and in MANIFEST.json.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch
from torch.optim import Optimizer

from minimsam.torch import running_stats_frozen

EPS = 1e-12


def _second_pass(closure, freeze_bn):
    """The closure at ``w + e``; with ``freeze_bn=model`` the running statistics of its
    batch norms are left as the first pass set them (FORMAT.md, "Batch norm")."""
    frozen = running_stats_frozen(freeze_bn) if freeze_bn is not None else nullcontext()
    with torch.enable_grad(), frozen:
        return closure()


def _global_norm(tensors) -> torch.Tensor:
    return torch.sqrt(sum((t * t).sum() for t in tensors))


class _SAMBase(Optimizer):
    def __init__(self, params, lr, rho=0.05, momentum=0.9, weight_decay=0.0):
        defaults = dict(lr=lr, rho=rho, momentum=momentum, weight_decay=weight_decay)
        super().__init__(params, defaults)

    def _params(self):
        return [p for group in self.param_groups for p in group["params"]]

    def _momentum_step(self, group, p, d):
        """v = mu v + d;  p -= lr v   (p holds w_t)."""
        state = self.state[p]
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(p)
        v = state["momentum_buffer"]
        v.mul_(group["momentum"]).add_(d)
        p.add_(v, alpha=-group["lr"])


# ----------------------------------------------------------------------------- two-step


class SAMUndoFromNewGradient(_SAMBase):
    """davda54-style SAM that saves memory by not storing ``e``: ``second_step`` undoes the
    ascent with ``rho g / ||g||`` of the gradient now in ``p.grad``, taken at ``w + e``."""

    @torch.no_grad()
    def first_step(self):
        scale = self.param_groups[0]["rho"] / (_global_norm(p.grad for p in self._params()) + EPS)
        for p in self._params():
            p.add_(p.grad * scale)

    @torch.no_grad()
    def second_step(self):
        scale = self.param_groups[0]["rho"] / (_global_norm(p.grad for p in self._params()) + EPS)
        for group in self.param_groups:
            for p in group["params"]:
                p.sub_(p.grad * scale)
                self._momentum_step(group, p, p.grad.add(p, alpha=group["weight_decay"]))


class SAMMomentumInBaseOptimizer(_SAMBase):
    """SAM wrapping ``torch.optim.SGD`` as a base optimizer that shares the param groups;
    the momentum lives in ``base_optimizer.state``, which ``state_dict()`` does not save."""

    def __init__(self, params, lr, rho=0.05, momentum=0.9, weight_decay=0.0):
        super().__init__(params, lr, rho, momentum, weight_decay)
        self.base_optimizer = torch.optim.SGD(
            self.param_groups, lr=lr, momentum=momentum, weight_decay=weight_decay
        )
        self.param_groups = self.base_optimizer.param_groups

    @torch.no_grad()
    def first_step(self):
        norm = _global_norm(p.grad for p in self._params())
        for group in self.param_groups:
            for p in group["params"]:
                e = p.grad * (group["rho"] / (norm + EPS))
                p.add_(e)
                self.state[p]["e_w"] = e

    @torch.no_grad()
    def second_step(self):
        for p in self._params():
            p.sub_(self.state[p]["e_w"])
        self.base_optimizer.step()

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        self.base_optimizer.param_groups = self.param_groups


class CorrectSAMTwoStep(_SAMBase):
    """Correct: first/second step; ``w_t`` is saved as a copy and restored with ``copy_``,
    the momentum lives in this optimizer's own state."""

    @torch.no_grad()
    def first_step(self):
        norm = _global_norm(p.grad for p in self._params())
        for group in self.param_groups:
            scale = group["rho"] / (norm + EPS)
            for p in group["params"]:
                self.state[p]["w"] = p.clone()
                p.add_(p.grad, alpha=float(scale))

    @torch.no_grad()
    def second_step(self):
        for group in self.param_groups:
            for p in group["params"]:
                p.copy_(self.state[p].pop("w"))
                self._momentum_step(group, p, p.grad + group["weight_decay"] * p)


# ----------------------------------------------------------------------------- closure


class SAMRhoFromConstructor(_SAMBase):
    """SAM that keeps ``self.rho`` from the constructor, so a rho written into the param
    group by a scheduler is never read."""

    def __init__(self, params, lr, rho=0.05, momentum=0.9, weight_decay=0.0):
        super().__init__(params, lr, rho, momentum, weight_decay)
        self.rho = rho

    @torch.no_grad()
    def step(self, closure, freeze_bn=None):
        with torch.enable_grad():
            loss = closure()
        params = self._params()
        scale = self.rho / (_global_norm(p.grad for p in params) + EPS)
        ascent = [p.grad * scale for p in params]
        for p, e in zip(params, ascent):
            p.add_(e)
        _second_pass(closure, freeze_bn)
        for group in self.param_groups:
            for p, e in zip(group["params"], ascent):
                p.sub_(e)
                self._momentum_step(group, p, p.grad.add(p, alpha=group["weight_decay"]))
        return loss


class SAMAscentFromLastGradient(_SAMBase):
    """One-gradient SAM: the ascent uses whatever is left in ``p.grad`` from the previous
    step (the gradient at the previous perturbed point), then the closure is called once."""

    @torch.no_grad()
    def step(self, closure, freeze_bn=None):
        params = self._params()
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        scale = self.param_groups[0]["rho"] / (_global_norm(grads) + EPS)
        saved = [p.clone() for p in params]
        for p, g in zip(params, grads):
            p.add_(g * scale)
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            for p, w in zip(group["params"], saved):
                p.copy_(w)
                self._momentum_step(group, p, p.grad.add(p, alpha=group["weight_decay"]))
        return loss


class SAMSkipStepOnZeroGradient(_SAMBase):
    """SAM that guards the division by returning early when ``||g|| == 0``, which skips
    the whole step (no momentum update, no move) instead of only the ascent."""

    @torch.no_grad()
    def step(self, closure, freeze_bn=None):
        with torch.enable_grad():
            loss = closure()
        params = self._params()
        norm = _global_norm(p.grad for p in params)
        if norm == 0:
            return loss
        saved = [p.clone() for p in params]
        for p in params:
            p.add_(p.grad * (self.param_groups[0]["rho"] / norm))
        _second_pass(closure, freeze_bn)
        for group in self.param_groups:
            for p, w in zip(group["params"], saved):
                p.copy_(w)
                self._momentum_step(group, p, p.grad.add(p, alpha=group["weight_decay"]))
        return loss


class CorrectSAMForeach(_SAMBase):
    """Correct: ``torch._foreach_*`` arithmetic; ``w_t`` is restored with ``_foreach_sub``
    of the same ascent list; the buffers are updated with ``_foreach_mul_``/``_foreach_add_``."""

    @torch.no_grad()
    def step(self, closure, freeze_bn=None):
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            params = group["params"]
            grads = [p.grad.clone() for p in params]
            norms = torch.stack([torch.linalg.vector_norm(g) for g in grads])
            norm = torch.linalg.vector_norm(norms)
            ascent = torch._foreach_mul(grads, group["rho"] / (norm + EPS))
            torch._foreach_add_(params, ascent)
            _second_pass(closure, freeze_bn)
            torch._foreach_sub_(params, ascent)
            d = torch._foreach_add([p.grad for p in params], params, alpha=group["weight_decay"])
            buffers = []
            for p in params:
                if "momentum_buffer" not in self.state[p]:
                    self.state[p]["momentum_buffer"] = torch.zeros_like(p)
                buffers.append(self.state[p]["momentum_buffer"])
            torch._foreach_mul_(buffers, group["momentum"])
            torch._foreach_add_(buffers, d)
            torch._foreach_add_(params, buffers, alpha=-group["lr"])
        return loss
