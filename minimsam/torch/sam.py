"""Sharpness-Aware Minimization for PyTorch, on an SGD-with-momentum base.

Reference: P. Foret, A. Kleiner, H. Mobahi, B. Neyshabur, "Sharpness-Aware
Minimization for Efficiently Improving Generalization", ICLR 2021 (arXiv 2010.01412);
the momentum base and weight-decay placement follow docs/optimizers.md#sam.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch.optim import Optimizer

from minimsam.torch._common import EPS, check_non_negative, check_unit_interval, global_norm
from minimsam.torch.batchnorm import running_stats_frozen

_SAVED = "unperturbed"


class SAM(Optimizer):
    r"""SAM (docs/optimizers.md#sam) as a ``torch.optim.Optimizer``: two gradients per step.

    With ``||.||`` the global L2 norm over all parameters of all groups and
    ``EPS = 1e-12``::

        g1      = g(w_t)                                  first gradient, at w_t
        e_t     = rho * g1 / (||g1|| + EPS)               ascent step (data-loss gradient only)
        d       = g(w_t + e_t) + weight_decay * w_t       second gradient at w_t + e_t,
                                                          weight decay at the UNperturbed w_t
        v_{t+1} = momentum * v_t + d
        w_{t+1} = w_t - lr * v_{t+1}

    ``rho = 0`` is ``torch.optim.SGD(lr, momentum, weight_decay)``. The loss you
    backpropagate must be the data loss only: an L2 term in it would enter ``g1``
    and tilt ``e_t``; use ``weight_decay`` instead.

    Two ways to drive it:

    * ``loss = opt.step(closure)``: the closure does forward + backward and returns
      the loss. ``step`` zeroes the gradients, calls the closure at ``w_t``,
      perturbs, zeroes again, calls it at ``w_t + e_t`` and updates. It returns the
      loss at ``w_t`` (the one to log).
    * ``first_step()`` / ``second_step()`` (the davda54/sam style): backward at
      ``w_t``, ``first_step()`` moves to ``w_t + e_t``; backward there,
      ``second_step()`` returns to ``w_t`` and updates.

    Between the two, each parameter's state holds a copy of ``w_t`` (the same memory
    as storing ``e_t``; restoring from the copy makes ``w_t`` exact instead of
    ``(w_t + e_t) - e_t``), so a ``state_dict()`` taken there resumes mid-step.
    After ``second_step()`` the state holds the momentum buffer and step count only.

    Under ``DistributedDataParallel`` both backward passes all-reduce the
    gradients, so ``e_t`` comes from the gradient of the global batch. With
    BatchNorm, pass ``freeze_bn=model`` to ``step``: the second forward pass then uses
    batch statistics without updating the running ones, as in the paper's code
    (:mod:`minimsam.torch.batchnorm`); without it both passes update them. With
    ``first_step()`` / ``second_step()``, run the second forward pass inside
    ``with running_stats_frozen(model):``.

    Args:
        params: iterable of tensors or of dicts (parameter groups; ``lr``,
            ``momentum``, ``rho``, ``weight_decay`` may differ per group, the norm
            ``||g1||`` is global).
        lr: learning rate (required, >= 0).
        momentum: in [0, 1). Default 0.9.
        rho: ascent radius (>= 0). Default 0.05.
        weight_decay: coupled L2 coefficient (>= 0), taken at ``w_t``. Default 0.

    Example::

        opt = SAM(model.parameters(), lr=0.1, momentum=0.9, rho=0.05, weight_decay=5e-4)
        for x, y in loader:
            def closure():
                loss = loss_fn(model(x), y)
                loss.backward()
                return loss
            loss = opt.step(closure)
    """

    def __init__(
        self, params, lr: float, momentum: float = 0.9, rho: float = 0.05, weight_decay: float = 0.0
    ):
        defaults = dict(lr=lr, momentum=momentum, rho=rho, weight_decay=weight_decay)
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict) -> None:
        super().add_param_group(param_group)
        self._check_group(self.param_groups[-1])

    @staticmethod
    def _check_group(group: dict) -> None:
        check_non_negative("lr", group["lr"])
        check_unit_interval("momentum", group["momentum"])
        check_non_negative("rho", group["rho"])
        check_non_negative("weight_decay", group["weight_decay"])

    def _mid_step(self) -> bool:
        return any(_SAVED in state for state in self.state.values())

    @torch.no_grad()
    def first_step(self, zero_grad: bool = False) -> None:
        """Move from ``w_t`` to ``w_t + e_t``, ``e_t = rho * g1 / (||g1|| + EPS)``, g1 = ``p.grad``.

        Parameters without a gradient are not moved. With ``zero_grad=True`` the
        gradients are cleared afterwards, ready for the second backward pass.
        """
        for group in self.param_groups:
            self._check_group(group)
        if self._mid_step():
            raise RuntimeError("first_step() called twice; call second_step() in between")
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        if any(g.is_sparse for g in grads):
            raise RuntimeError("SAM does not support sparse gradients")
        norm = global_norm(grads)
        for group in self.param_groups:
            scale = float(group["rho"]) / (norm + EPS)
            for p in group["params"]:
                if p.grad is None:
                    continue
                self.state[p][_SAVED] = p.detach().clone()
                if scale != 0.0:
                    p.add_(p.grad, alpha=scale)
        if zero_grad:
            self.zero_grad()

    @torch.no_grad()
    def second_step(self, zero_grad: bool = False) -> None:
        """Return to ``w_t`` and take the SGD-momentum step with ``p.grad = g(w_t + e_t)``."""
        if not self._mid_step():
            raise RuntimeError("second_step() called without first_step()")
        for group in self.param_groups:
            lr, mu, lam = float(group["lr"]), float(group["momentum"]), group["weight_decay"]
            for p in group["params"]:
                if _SAVED in self.state.get(p, {}):
                    p.copy_(self.state[p].pop(_SAVED))
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                    state["step"] = 0
                # weight decay at the unperturbed point: p holds w_t again
                d = p.grad.add(p, alpha=float(lam)) if lam != 0 else p.grad
                v = state["momentum_buffer"]
                v.mul_(mu).add_(d)
                p.add_(v, alpha=-lr)
                state["step"] += 1
        if zero_grad:
            self.zero_grad()

    def step(self, closure=None, freeze_bn: torch.nn.Module | None = None):
        """One SAM step; ``closure`` (forward + backward, returns the loss) is called twice.

        Returns the loss of the first call, at the unperturbed ``w_t``. ``freeze_bn``: a
        module whose BatchNorm running statistics the second call must not update.
        """
        if closure is None:
            raise RuntimeError(
                "SAM.step needs a closure that does forward + backward and returns the loss "
                "(it is called twice); or call first_step() and second_step() yourself"
            )
        closure = torch.enable_grad()(closure)
        self.zero_grad()
        loss = closure()
        self.first_step(zero_grad=True)
        if freeze_bn is None:
            closure()
        else:
            with running_stats_frozen(freeze_bn):
                closure()
        self.second_step()
        return loss

    @torch.no_grad()
    def eval_params(self) -> dict[torch.Tensor, torch.Tensor]:
        """Return ``{param: w_t}`` as new tensors (``w_t`` also between the two steps)."""
        out = {}
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state.get(p)
                saved = state.get(_SAVED) if state else None
                out[p] = (saved if saved is not None else p.detach()).clone()
        return out

    @contextmanager
    def unperturbed(self):
        """Context manager holding ``w_t`` in the parameters (a no-op outside a step).

        Between ``first_step()`` and ``second_step()`` it swaps ``w_t`` in and the
        perturbed values back out on exit, exactly. Provided so that one training
        loop can evaluate SAM, MSAM and AdamWMSAM alike.
        """
        swapped = []
        with torch.no_grad():
            for state_p, state in list(self.state.items()):
                if _SAVED in state:
                    swapped.append((state_p, state_p.detach().clone()))
                    state_p.copy_(state[_SAVED])
        try:
            yield self
        finally:
            with torch.no_grad():
                for p, perturbed in swapped:
                    p.copy_(perturbed)
