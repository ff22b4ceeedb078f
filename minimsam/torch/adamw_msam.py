"""AdamW with Momentum-SAM: the perturbation follows Adam's first moment.

Reference: arXiv 2401.12033 (the paper says MSAM carries over to Adam's running
mean; the equations follow the official code's ``adamW_msam.py``;
docs/optimizers.md#adamwmsam).
"""

from __future__ import annotations

import math

import torch

from minimsam.torch._common import check_betas, check_non_negative
from minimsam.torch._perturbed import SCALE, MemoryFreePerturbation


class AdamWMSAM(MemoryFreePerturbation):
    r"""AdamW-MSAM (docs/optimizers.md#adamwmsam) as a ``torch.optim.Optimizer``.

    With ``||.||`` the global L2 norm over all parameters of all groups,
    ``EPS = 1e-12`` and ``t`` counting from 0::

        c_t     = rho / (||m_t|| + EPS)                       (c_0 = 0)
        wp_t    = w_t - c_t * m_t                             perturbed point
        grad    = g(wp_t)                                     no weight decay in the gradient
        m       = b1 * m + (1 - b1) * grad
        s       = b2 * s + (1 - b2) * grad**2
        w       = w_t - (lr / (1 - b1**(t+1))) * m / (sqrt(s) / sqrt(1 - b2**(t+1)) + eps)
        w_{t+1} = w * (1 - lr * weight_decay)                 decoupled decay AFTER the step

    The perturbation uses the raw first moment ``m`` (not bias-corrected, not
    preconditioned). Note the decay order: ``torch.optim.AdamW`` decays *before*
    the Adam step; this optimizer decays after it, as the official code does. With
    ``rho = 0`` and ``weight_decay = 0`` it is ``torch.optim.Adam``.

    Like :class:`~minimsam.torch.MSAM` this is the memory-free form: between steps
    the parameters hold ``wp``; ``step()`` undoes the applied perturbation (using the
    stored scale ``c``, so rho schedules cannot make ``w`` drift), takes the AdamW
    step at ``w`` with the gradient from ``wp``, and applies ``-c_{t+1} * m_{t+1}``
    with each group's current ``rho``. Evaluate with ``with opt.unperturbed():``,
    ``opt.eval_params()`` or ``opt.move_to_unperturbed()``; after changing ``rho``
    call ``opt.move_to_perturbed()`` before the next forward (``step(closure)``
    does). Hyperparameters may differ per group; ``||m||`` is always global.
    ``state_dict()`` holds ``exp_avg``, ``exp_avg_sq``, ``step`` and the applied
    scale per parameter.

    Args:
        params: iterable of tensors or of dicts (parameter groups).
        lr: learning rate (>= 0). Default 1e-3.
        betas: ``(b1, b2)``, each in [0, 1). Default (0.9, 0.999).
        eps: added to the denominator (>= 0). Default 1e-8.
        weight_decay: decoupled decay coefficient (>= 0). Default 1e-2.
        rho: perturbation radius (>= 0). Default 1.0 (the paper's ViTs used up to 10).

    Example::

        opt = AdamWMSAM(model.parameters(), lr=1e-3, weight_decay=0.1, rho=1.0)
        for x, y in loader:
            opt.zero_grad()
            loss_fn(model(x), y).backward()      # at the perturbed point
            opt.step()
        with opt.unperturbed():
            accuracy = evaluate(model)
    """

    _direction_key = "exp_avg"

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        rho: float = 1.0,
    ):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, rho=rho)
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        check_non_negative("lr", group["lr"])
        check_betas(group["betas"])
        check_non_negative("eps", group["eps"])
        check_non_negative("weight_decay", group["weight_decay"])
        check_non_negative("rho", group["rho"])

    @torch.no_grad()
    def step(self, closure=None):
        """One AdamW-MSAM step from the gradients in ``p.grad`` (taken at the perturbed point).

        With ``closure`` (zero the grads, forward, backward, return the loss), the
        perturbation is first synced to each group's current ``rho``, then the
        closure is called once. Returns the closure's loss, or ``None``.
        """
        self._check_all_groups()
        loss = None
        if closure is not None:
            self.move_to_perturbed()
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, eps, lam = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
            b1, b2 = (float(b) for b in group["betas"])
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("AdamWMSAM does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                    state[SCALE] = 0.0
                    state["step"] = 0
                grad = p.grad
                self._undo_perturbation(p, state)
                state["step"] += 1
                t = state["step"]
                m, s = state["exp_avg"], state["exp_avg_sq"]
                m.mul_(b1).add_(grad, alpha=1.0 - b1)
                s.mul_(b2).addcmul_(grad, grad, value=1.0 - b2)
                denom = (s.sqrt() / math.sqrt(1.0 - b2**t)).add_(eps)
                p.addcdiv_(m, denom, value=-lr / (1.0 - b1**t))
                if lam != 0.0:
                    p.mul_(1.0 - lr * lam)
        self.move_to_perturbed()
        return loss
