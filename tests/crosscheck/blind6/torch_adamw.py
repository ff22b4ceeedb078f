"""AdamW and AdamW-MSAM (standard form: params hold ``w``) as ``torch.optim.Optimizer``s.

Blind set 6 (see README.md): ``Correct*`` classes follow docs/optimizers.md; every other
class carries one realistic mistake, described in its docstring and in MANIFEST.json.
"""

from __future__ import annotations

import math

import torch
from torch.optim import Optimizer

EPS = 1e-12


def _hyperparameters(group: dict) -> tuple:
    """``(lr, (beta1, beta2), eps, weight_decay)`` of a param group."""
    return group["lr"], group["betas"], group["eps"], group["weight_decay"]


class _AdamBase(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, rho=1.0):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, rho=rho)
        super().__init__(params, defaults)

    def _state(self, p):
        state = self.state[p]
        if not state:
            state["step"] = 0
            state["m"] = torch.zeros_like(p)
            state["s"] = torch.zeros_like(p)
        return state

    def _params(self):
        return [p for group in self.param_groups for p in group["params"]]


# ----------------------------------------------------------------------------- AdamW


class _AdamW(_AdamBase):
    """AdamW with hooks for the step count and the denominator."""

    def _begin_step(self) -> None:
        """Called once per step, before any parameter is updated."""

    def _count(self, state) -> int:
        state["step"] += 1
        return state["step"]

    def _denominator(self, s, k, beta2, eps):
        return s.sqrt() / math.sqrt(1 - beta2**k) + eps

    @torch.no_grad()
    def step(self, closure):
        with torch.enable_grad():
            loss = closure()
        self._begin_step()
        for group in self.param_groups:
            lr, (b1, b2), eps, lam = _hyperparameters(group)
            for p in group["params"]:
                state = self._state(p)
                k = self._count(state)
                p.mul_(1 - lr * lam)
                state["m"].mul_(b1).add_(p.grad, alpha=1 - b1)
                state["s"].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                step_size = lr / (1 - b1**k)
                p.sub_(step_size * state["m"] / self._denominator(state["s"], k, b2, eps))
        return loss


class AdamWStepCountOnOptimizer(_AdamW):
    """AdamW that counts steps in ``self.t`` (one counter for the optimizer), not in the
    per-parameter state, so after a checkpoint restore the bias correction starts over."""

    def _begin_step(self):
        self.t = getattr(self, "t", 0) + 1

    def _count(self, state):
        return self.t


class AdamWEpsInsideSqrt(_AdamW):
    """AdamW with ``eps`` under the square root, ``sqrt(s_hat + eps)`` (the RMSProp
    convention of some libraries), instead of ``sqrt(s_hat) + eps``."""

    def _denominator(self, s, k, beta2, eps):
        return (s / (1 - beta2**k) + eps).sqrt()


class AdamWStepStartsAtOne(_AdamW):
    """AdamW whose state initialises ``step = 1`` ("the first step") and then increments
    before use, so the bias corrections use ``k = t + 2``."""

    def _state(self, p):
        state = self.state[p]
        if not state:
            state["step"] = 1
            state["m"] = torch.zeros_like(p)
            state["s"] = torch.zeros_like(p)
        return state


class CorrectAdamWRunningPowers(_AdamBase):
    """Correct: keeps ``beta1^k`` and ``beta2^k`` as running products in the state, and
    writes the step as ``w - lr lam w - lr m_hat / (sqrt(s_hat) + eps)``, with the
    decay computed from the old ``w`` in one expression."""

    @torch.no_grad()
    def step(self, closure):
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            lr, (b1, b2), eps, lam = _hyperparameters(group)
            for p in group["params"]:
                state = self.state[p]
                if not state:
                    state.update(m=torch.zeros_like(p), s=torch.zeros_like(p))
                    state.update(b1_pow=torch.tensor(1.0, dtype=p.dtype), b2_pow=1.0)
                state["b1_pow"] = state["b1_pow"] * b1
                state["b2_pow"] = state["b2_pow"] * b2
                m = b1 * state["m"] + (1 - b1) * p.grad
                s = b2 * state["s"] + (1 - b2) * p.grad**2
                m_hat = m / (1 - state["b1_pow"])
                s_hat = s / (1 - state["b2_pow"])
                p.copy_(p - lr * lam * p - lr * m_hat / (s_hat.sqrt() + eps))
                state["m"], state["s"] = m, s
        return loss


# ----------------------------------------------------------------------------- AdamW-MSAM


class _AdamWMSAM(_AdamBase):
    """AdamW-MSAM, standard form: move to ``w - rho m/(||m|| + EPS)``, closure, move back,
    Adam step, decay last."""

    def _direction(self, state, group):
        return state["m"]

    def _adam_then_decay(self, p, step, lr, lam):
        p.sub_(step)
        p.mul_(1 - lr * lam)

    @torch.no_grad()
    def step(self, closure):
        params = self._params()
        group0 = self.param_groups[0]
        directions = [self._direction(self._state(p), group0) for p in params]
        norm = torch.sqrt(sum((d * d).sum() for d in directions))
        shifts = [group0["rho"] / (norm + EPS) * d for d in directions]
        saved = [p.clone() for p in params]
        for p, shift in zip(params, shifts):
            p.sub_(shift)
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            lr, (b1, b2), eps, lam = _hyperparameters(group)
            for p, w in zip(group["params"], saved):
                state = self._state(p)
                state["step"] += 1
                k = state["step"]
                state["m"].mul_(b1).add_(p.grad, alpha=1 - b1)
                state["s"].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                denom = state["s"].sqrt() / math.sqrt(1 - b2**k) + eps
                p.copy_(w)
                self._adam_then_decay(p, lr / (1 - b1**k) * state["m"] / denom, lr, lam)
        return loss


class CorrectAdamWMSAMStandard(_AdamWMSAM):
    """Correct: the standard form of AdamW-MSAM (params hold ``w`` between steps)."""


class AdamWMSAMPreconditionedDirection(_AdamWMSAM):
    """AdamW-MSAM that perturbs along Adam's preconditioned direction
    ``m / (sqrt(s) + eps)`` ("the direction the update really takes") instead of the raw
    first moment ``m``."""

    def _direction(self, state, group):
        return state["m"] / (state["s"].sqrt() + group["eps"])


class AdamWMSAMDecayFirst(_AdamWMSAM):
    """AdamW-MSAM that applies the decoupled decay before the Adam step, as AdamW does,
    instead of after it."""

    def _adam_then_decay(self, p, step, lr, lam):
        p.mul_(1 - lr * lam)
        p.sub_(step)
