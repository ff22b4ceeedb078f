"""Momentum-SAM in PyTorch: the standard form (params hold ``w``) and the memory-free form
(params hold the perturbed point ``w - c v``, run with ``--form memory-free``).

Blind set 6 (see README.md): ``Correct*`` classes follow docs/optimizers.md; every other
class carries one realistic mistake, described in its docstring and in MANIFEST.json.
"""

from __future__ import annotations

import torch
from torch.optim import Optimizer

EPS = 1e-12


def _norm(tensors) -> float:
    return float(torch.sqrt(sum((t * t).sum() for t in tensors)))


class _MSAMBase(Optimizer):
    def __init__(self, params, lr, rho=0.3, momentum=0.9, weight_decay=0.0):
        defaults = dict(lr=lr, rho=rho, momentum=momentum, weight_decay=weight_decay)
        super().__init__(params, defaults)

    def _params(self):
        return [p for group in self.param_groups for p in group["params"]]

    def _buffer(self, p):
        state = self.state[p]
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(p)
        return state["momentum_buffer"]

    def _buffers(self):
        return [self._buffer(p) for p in self._params()]


# ----------------------------------------------------------------------------- standard form


class _StandardMSAM(_MSAMBase):
    """Standard form: move to ``w - rho_t v/(||v|| + EPS)``, closure, move back, step."""

    def _perturbation_scale(self, group) -> float:
        return group["rho"] / (_norm(self._buffers()) + EPS)

    def _decay_point(self, perturbed, w):
        return perturbed

    @torch.no_grad()
    def step(self, closure):
        saved = {}
        for group in self.param_groups:
            c = self._perturbation_scale(group)
            for p in group["params"]:
                saved[p] = p.clone()
                p.sub_(c * self._buffer(p))
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            lr, mu, lam = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                d = p.grad + lam * self._decay_point(p, saved[p])
                p.copy_(saved[p])
                v = self._buffer(p)
                v.mul_(mu).add_(d)
                p.sub_(lr * v)
        return loss


class MSAMRadiusTimesLr(_StandardMSAM):
    """MSAM whose perturbation radius is ``lr * rho`` (read as NAG's ``lr``-scaled
    look-ahead), so the perturbed point is ``w - lr rho v/||v||``."""

    def _perturbation_scale(self, group):
        return group["lr"] * group["rho"] / (_norm(self._buffers()) + EPS)


class MSAMDecayAtUnperturbed(_StandardMSAM):
    """MSAM that adds the L2 term at the saved unperturbed ``w`` (SAM's convention),
    while the gradient is taken at the perturbed point."""

    def _decay_point(self, perturbed, w):
        return w


class MSAMSumOfTensorNorms(_StandardMSAM):
    """MSAM whose "global" norm is the sum of the per-tensor norms,
    ``sum_k ||v_k||``, instead of ``sqrt(sum_k ||v_k||^2)``."""

    def _perturbation_scale(self, group):
        return group["rho"] / (sum(float(v.norm()) for v in self._buffers()) + EPS)


class _Perturbation:
    """Helper: the flat direction ``u = v / (||v|| + EPS)`` over a list of buffers."""

    def __init__(self, buffers):
        flat = torch.cat([b.reshape(-1) for b in buffers])
        self.u = flat / (torch.linalg.vector_norm(flat) + EPS)
        self.shapes = [b.shape for b in buffers]

    def pieces(self, radius):
        out, offset = [], 0
        for shape in self.shapes:
            n = shape.numel()
            out.append(radius * self.u[offset : offset + n].view(shape))
            offset += n
        return out


class CorrectMSAMStandardHelper(_MSAMBase):
    """Correct, standard form: a helper builds the flat unit direction ``u``; the
    perturbation is subtracted and then added back (not copied), and the update is
    ``w -= lr (mu v_t + d)`` computed before the buffer is overwritten."""

    @torch.no_grad()
    def step(self, closure):
        params = self._params()
        rho = self.param_groups[0]["rho"]
        shifts = _Perturbation(self._buffers()).pieces(rho)
        for p, s in zip(params, shifts):
            p.sub_(s)
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            lr, mu, lam = group["lr"], group["momentum"], group["weight_decay"]
            for p, s in zip(group["params"], shifts):
                d = p.grad + lam * p
                p.add_(s)
                v = self._buffer(p)
                new_v = mu * v + d
                p.sub_(lr * new_v)
                v.copy_(new_v)
        return loss


# ----------------------------------------------------------------------------- memory-free


class _MemoryFreeMSAM(_MSAMBase):
    """Memory-free form with ``step(closure)`` and ``eval_params()``; the applied scale
    ``c`` is kept by :meth:`_get_scale`/:meth:`_set_scale`."""

    def _get_scale(self) -> float:
        return self.state["scale"] if "scale" in self.state else 0.0

    def _set_scale(self, c: float) -> None:
        self.state["scale"] = c

    undo_after_update = False

    @torch.no_grad()
    def _sync(self) -> None:
        """Params from ``w - c_old v`` to ``w - c_new v`` with the group's current rho."""
        c_old = self._get_scale()
        norm = _norm(self._buffers())
        c_new = self.param_groups[0]["rho"] / (norm + EPS) if norm > 0 else 0.0
        for p in self._params():
            p.add_(self._buffer(p), alpha=c_old - c_new)
        self._set_scale(c_new)

    @torch.no_grad()
    def step(self, closure):
        self._sync()
        with torch.enable_grad():
            loss = closure()
        c = self._get_scale()
        for group in self.param_groups:
            lr, mu, lam = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                d = p.grad + lam * p  # at the perturbed point
                v = self._buffer(p)
                if self.undo_after_update:
                    v.mul_(mu).add_(d)
                    p.add_(v, alpha=c)  # back to "w"
                else:
                    p.add_(v, alpha=c)  # back to w
                    v.mul_(mu).add_(d)
                p.sub_(lr * v)
        self._set_scale(0.0)
        self._sync()
        return loss

    @torch.no_grad()
    def eval_params(self):
        c = self._get_scale()
        return {p: p + c * self._buffer(p) for p in self._params()}


class CorrectMSAMMemoryFree(_MemoryFreeMSAM):
    """Correct, memory-free: the applied scale lives in ``self.state["scale"]`` (saved by
    ``state_dict``) and the undo uses exactly that scale."""


class MSAMScaleOnOptimizerObject(_MemoryFreeMSAM):
    """Memory-free MSAM that keeps the applied scale as an attribute of the optimizer,
    so a checkpoint restores the perturbed params but not the scale needed to undo them."""

    def _get_scale(self):
        return getattr(self, "_scale", 0.0)

    def _set_scale(self, c):
        self._scale = c


class MSAMUndoWithUpdatedBuffer(_MemoryFreeMSAM):
    """Memory-free MSAM that updates the momentum buffer in place first and then undoes
    the perturbation with it: ``w = w~ + c_t v_{t+1}`` instead of ``c_t v_t``."""

    undo_after_update = True


class MSAMUndoWithCurrentRho(_MSAMBase):
    """Memory-free MSAM in the official code's style (``step()`` without closure,
    ``move_back``/``move_up``): it stores ``1 / (||v|| + EPS)`` and undoes with the
    *current* rho, so a rho schedule shifts ``w`` by ``(rho_new - rho_old) u``."""

    def _move(self, sign):
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                if "inv_norm" in state:
                    p.add_(self._buffer(p), alpha=sign * group["rho"] * state["inv_norm"])

    @torch.no_grad()
    def move_back(self):
        self._move(+1.0)

    @torch.no_grad()
    def move_up(self):
        self._move(-1.0)

    @torch.no_grad()
    def step(self):
        decays = {}
        for group in self.param_groups:
            for p in group["params"]:
                decays[p] = p.grad + group["weight_decay"] * p
        self.move_back()
        for group in self.param_groups:
            for p in group["params"]:
                v = self._buffer(p)
                v.mul_(group["momentum"]).add_(decays[p])
                p.sub_(group["lr"] * v)
        inv_norm = 1.0 / (_norm(self._buffers()) + EPS)
        for p in self._params():
            self.state[p]["inv_norm"] = inv_norm
        self.move_up()
