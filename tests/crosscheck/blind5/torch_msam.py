"""Momentum-SAM as ``torch.optim.Optimizer``s, standard and memory-free.

Standard form (params hold w): ``step(closure)`` perturbs, calls the closure, undoes.
Memory-free form (params hold the perturbed point w~, the paper's Algorithm 1): either
``step()`` plus ``move_back``/``move_up`` (the official code's style) or
``step(closure)`` plus ``eval_params()``.
Correct: ``MSAMStandard``, ``MSAMMoveBackUp``, ``MSAMEvalParams``. The others each carry
one mistake (MANIFEST.json).
"""

import torch
from torch.optim import Optimizer

EPS = 1e-12


class _MSAMBase(Optimizer):
    def __init__(self, params, lr=0.1, rho=0.3, momentum=0.9, weight_decay=0.0):
        defaults = dict(lr=lr, rho=rho, momentum=momentum, weight_decay=weight_decay)
        super().__init__(params, defaults)

    def _all(self):
        return [(p, g) for g in self.param_groups for p in g["params"]]

    def _velocity(self, p):
        state = self.state[p]
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(p)
        return state["momentum_buffer"]

    def _velocity_norm(self):
        """||v|| over all parameters together."""
        return torch.sqrt(sum((self._velocity(p) ** 2).sum() for p, _ in self._all()))


class MSAMStandard(_MSAMBase):
    """u = v/(||v|| + EPS); w~ = w - rho u; d = g(w~) + wd w~; v = mu v + d; w -= lr v."""

    def _perturbation(self, p, group, norm):
        return -group["rho"] * self._velocity(p) / (norm + EPS)

    def _decay_point(self, perturbed, w):
        return perturbed

    def _start(self, perturbed, w):
        return w

    def _accumulate(self, v, d, group):
        v.mul_(group["momentum"]).add_(d)

    def _move(self, v, group):
        return group["lr"] * v

    @torch.no_grad()
    def step(self, closure):
        norm = self._velocity_norm()
        saved = {}
        for p, group in self._all():
            saved[p] = p.clone()
            p.add_(self._perturbation(p, group, norm))
        with torch.enable_grad():
            loss = closure()
        for p, group in self._all():
            d = p.grad + group["weight_decay"] * self._decay_point(p, saved[p])
            start = self._start(p.clone(), saved[p])
            v = self._velocity(p)
            self._accumulate(v, d, group)
            p.copy_(start - self._move(v, group))
        return loss


class MSAMAscentPlus(MSAMStandard):
    """Steps along +v instead of -v: w~ = w + rho u."""

    def _perturbation(self, p, group, norm):
        return group["rho"] * self._velocity(p) / (norm + EPS)


class MSAMPerTensorNorm(MSAMStandard):
    """Normalises each tensor's momentum by its own norm."""

    def _perturbation(self, p, group, norm):
        v = self._velocity(p)
        return -group["rho"] * v / (v.norm() + EPS)


class MSAMDecayAtW(MSAMStandard):
    """SAM's habit carried over: the decay at the unperturbed weights, d = g(w~) + wd w."""

    def _decay_point(self, perturbed, w):
        return w


class MSAMNoRestore(MSAMStandard):
    """Never goes back to w: the update starts from the perturbed point."""

    def _start(self, perturbed, w):
        return perturbed


class MSAMLrInBuffer(MSAMStandard):
    """The buffer carries the learning rate: v = mu v + lr d; w -= v (u is unchanged by scale)."""

    def _accumulate(self, v, d, group):
        v.mul_(group["momentum"]).add_(d, alpha=group["lr"])

    def _move(self, v, group):
        return v


class MSAMMoveBackUp(_MSAMBase):
    """Memory-free, official-code style, but it remembers the scale it applied.

    The params hold w~ = w - c v with c = rho/(||v|| + EPS); ``move_back`` adds c v,
    ``move_up`` applies a fresh c with the current rho. ``step()`` expects the gradient at
    w~ in ``p.grad``: d = g(w~) + wd w~; w = w~ + c v; v = mu v + d; w -= lr v; then
    the next perturbation.
    """

    def _scale(self, p):
        state = self.state[p]
        if "scale" not in state:
            state["scale"] = torch.zeros((), dtype=p.dtype, device=p.device)
        return state["scale"]

    @torch.no_grad()
    def move_back(self):
        for p, _ in self._all():
            p.add_(self._scale(p) * self._velocity(p))
            self._scale(p).zero_()

    @torch.no_grad()
    def move_up(self):
        norm = self._velocity_norm()
        for p, group in self._all():
            scale = group["rho"] / (norm + EPS)
            self._scale(p).copy_(scale)
            p.sub_(scale * self._velocity(p))

    @torch.no_grad()
    def step(self):
        for p, group in self._all():
            d = p.grad + group["weight_decay"] * p
            p.add_(self._scale(p) * self._velocity(p))
            self._scale(p).zero_()
            v = self._velocity(p)
            v.mul_(group["momentum"]).add_(d)
            p.sub_(group["lr"] * v)
        self.move_up()


class MSAMUndoWithCurrentRho(_MSAMBase):
    """Memory-free, as the official code: stores only 1/(||v|| + EPS) and multiplies it by
    the rho of the moment when it undoes the perturbation."""

    def _inverse_norm(self, p):
        state = self.state[p]
        if "inv_norm" not in state:
            state["inv_norm"] = torch.zeros((), dtype=p.dtype, device=p.device)
        return state["inv_norm"]

    @torch.no_grad()
    def move_back(self):
        for p, group in self._all():
            p.add_(group["rho"] * self._inverse_norm(p) * self._velocity(p))

    @torch.no_grad()
    def move_up(self):
        inverse = 1.0 / (self._velocity_norm() + EPS)
        for p, group in self._all():
            self._inverse_norm(p).copy_(inverse)
            p.sub_(group["rho"] * inverse * self._velocity(p))

    @torch.no_grad()
    def step(self):
        directions = [p.grad + group["weight_decay"] * p for p, group in self._all()]
        self.move_back()
        for (p, group), d in zip(self._all(), directions):
            v = self._velocity(p)
            v.mul_(group["momentum"]).add_(d)
            p.sub_(group["lr"] * v)
        self.move_up()


class MSAMEvalParams(_MSAMBase):
    """Memory-free with ``step(closure)``: the params hold w~, ``eval_params()`` gives w.

    At the start of a step the perturbation is placed again for the rho now in the group
    (the scale c that was applied is kept in the state, so it is removed exactly).
    """

    def _scale(self, p):
        state = self.state[p]
        if "scale" not in state:
            state["scale"] = torch.zeros((), dtype=p.dtype, device=p.device)
        return state["scale"]

    def _get_scale(self, p):
        return self._scale(p)

    def _set_scale(self, p, value):
        self._scale(p).copy_(value)

    @torch.no_grad()
    def _unperturb(self):
        for p, _ in self._all():
            p.add_(self._get_scale(p) * self._velocity(p))
            self._set_scale(p, 0.0)

    @torch.no_grad()
    def _perturb(self):
        norm = self._velocity_norm()
        for p, group in self._all():
            scale = group["rho"] / (norm + EPS)
            self._set_scale(p, scale)
            p.sub_(scale * self._velocity(p))

    @torch.no_grad()
    def step(self, closure):
        self._unperturb()
        self._perturb()
        with torch.enable_grad():
            loss = closure()
        for p, group in self._all():
            d = p.grad + group["weight_decay"] * p
            p.add_(self._get_scale(p) * self._velocity(p))
            v = self._velocity(p)
            v.mul_(group["momentum"]).add_(d)
            p.sub_(group["lr"] * v)
        self._perturb()
        return loss

    @torch.no_grad()
    def eval_params(self):
        return {p: p + self._get_scale(p) * self._velocity(p) for p, _ in self._all()}


class MSAMScaleOnInstance(MSAMEvalParams):
    """Keeps the applied scale in a dict on the instance, outside ``optimizer.state``, so a
    checkpoint does not carry it."""

    def __init__(self, params, lr=0.1, rho=0.3, momentum=0.9, weight_decay=0.0):
        super().__init__(params, lr=lr, rho=rho, momentum=momentum, weight_decay=weight_decay)
        self.applied = {}

    def _get_scale(self, p):
        return self.applied.get(p, 0.0)

    def _set_scale(self, p, value):
        self.applied[p] = value


class MSAMFloat32Buffer(MSAMStandard):
    """Creates the momentum buffer with ``torch.zeros(p.shape)``: float32 for float64 params."""

    def _velocity(self, p):
        state = self.state[p]
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros(p.shape)
        return state["momentum_buffer"]
