"""Momentum-SAM for PyTorch: one gradient per step, taken along the negative momentum.

Reference: M. Becker, F. Altrock, B. Risse, "Momentum-SAM: Sharpness Aware
Minimization without Computational Overhead", arXiv 2401.12033 (Eq. 5, Alg. 1).
"""

from __future__ import annotations

import torch

from minimsam.torch._common import check_non_negative, check_unit_interval
from minimsam.torch._perturbed import SCALE, MemoryFreePerturbation


class MSAM(MemoryFreePerturbation):
    r"""Momentum-SAM (docs/optimizers.md#msam) as a ``torch.optim.Optimizer``.

    The update, with ``||.||`` the global L2 norm over *all* parameters of *all*
    groups and ``EPS = 1e-12``::

        u_t     = v_t / (||v_t|| + EPS)             (v_0 = 0: no perturbation at step 0)
        wp_t    = w_t - rho * u_t                   perturbed point
        d       = g(wp_t) + weight_decay * wp_t     gradient AND weight decay at wp_t
        v_{t+1} = momentum * v_t + d
        w_{t+1} = w_t - lr * v_{t+1}

    ``rho = 0`` is ``torch.optim.SGD(lr, momentum, weight_decay)`` (dampening 0,
    no Nesterov) bit for bit.

    **Memory-free form.** Between steps the parameters hold the perturbed point
    ``wp_t``, so the one forward/backward of a training step is at ``wp_t`` and the
    training loss you log is the perturbed loss. ``step()`` reads ``p.grad = g(wp_t)``,
    undoes the perturbation that was applied (it stores the scale
    ``c = rho / (||v|| + EPS)`` it used, not ``rho``, so a rho schedule cannot make
    ``w`` drift), takes the SGD-momentum step, and applies the new perturbation
    ``-rho * v_{t+1} / (||v_{t+1}|| + EPS)`` with each group's current ``rho``.

    **Evaluation and checkpoints for use** must see ``w``, not ``wp``: use
    ``with opt.unperturbed(): ...``, ``opt.eval_params()``, or
    ``opt.move_to_unperturbed()`` at the end of training. To *resume* training,
    save ``model.state_dict()`` (it holds ``wp``) together with
    ``opt.state_dict()`` (momentum buffers, applied scales, step counts): loading
    both continues the identical trajectory.

    **Parameter groups.** ``lr``, ``momentum``, ``weight_decay`` and ``rho`` may
    differ per group and apply to that group's tensors; the norm ``||v||`` is always
    global. A parameter whose ``.grad`` is ``None`` is not updated, but its part
    of the perturbation is rescaled with the rest.

    **Rho schedules.** The perturbation for the next gradient is applied at the end
    of ``step()`` with the ``rho`` then in the group. If a scheduler changes
    ``group["rho"]`` after ``step()``, call ``opt.move_to_perturbed()`` before the
    next forward pass (``step(closure)`` does this itself) so the gradient is taken at
    ``w - rho_new * u``; without it that one gradient uses the previous ``rho``
    (``w`` stays exact either way).

    Args:
        params: iterable of tensors or of dicts (parameter groups).
        lr: learning rate ``eta`` (required, >= 0).
        momentum: ``mu`` in [0, 1). Default 0.9.
        rho: perturbation radius (>= 0). Default 0.3. The paper's best CIFAR values
            are around 3; rho is at least an order of magnitude above ``lr * ||v||``.
        weight_decay: coupled L2 coefficient ``lam`` (>= 0), added to the gradient
            at the perturbed point. Default 0.

    Example::

        opt = MSAM(model.parameters(), lr=0.1, momentum=0.9, rho=0.3, weight_decay=5e-4)
        for x, y in loader:
            opt.zero_grad()
            loss_fn(model(x), y).backward()        # at the perturbed point wp_t
            opt.step()
        with opt.unperturbed():
            accuracy = evaluate(model)             # at w_T

        # or with a closure, which re-syncs the perturbation to the current rho first:
        def closure():
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            return loss
        loss = opt.step(closure)
    """

    _direction_key = "momentum_buffer"

    def __init__(
        self, params, lr: float, momentum: float = 0.9, rho: float = 0.3, weight_decay: float = 0.0
    ):
        defaults = dict(lr=lr, momentum=momentum, rho=rho, weight_decay=weight_decay)
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        check_non_negative("lr", group["lr"])
        check_unit_interval("momentum", group["momentum"])
        check_non_negative("rho", group["rho"])
        check_non_negative("weight_decay", group["weight_decay"])

    @torch.no_grad()
    def step(self, closure=None):
        """One MSAM step from the gradients in ``p.grad`` (taken at the perturbed point).

        With ``closure`` (zero the grads, forward, backward, return the loss), the
        perturbation is first synced to each group's current ``rho``
        (``move_to_perturbed()``), then the closure is called once at ``wp_t``.
        Returns the closure's loss, or ``None``.
        """
        self._check_all_groups()
        loss = None
        if closure is not None:
            self.move_to_perturbed()
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, mu, lam = float(group["lr"]), float(group["momentum"]), group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("MSAM does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                    state[SCALE] = 0.0
                    state["step"] = 0
                # weight decay at the perturbed point, before the undo moves p
                d = p.grad.add(p, alpha=float(lam)) if lam != 0 else p.grad
                self._undo_perturbation(p, state)
                v = state["momentum_buffer"]
                v.mul_(mu).add_(d)
                p.add_(v, alpha=-lr)
                state["step"] += 1
        self.move_to_perturbed()
        return loss
