"""Momentum-SAM as PyTorch optimizers.

Two kinds: params holding ``w_t`` and ``step(closure)`` that visits the perturbed point
(``_StandardMSAM``); and the memory-free form of the official code, params holding the
perturbed point, a closure-free ``step()`` and a ``move_back``/``move_up`` pair (the kit's
``move-back-up`` adapter).
"""

import torch

EPS = 1e-12


def _global_norm(tensors):
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t) for t in tensors]))


class _StandardMSAM(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.9, rho=0.3, weight_decay=0.0):
        defaults = dict(lr=lr, momentum=momentum, rho=rho, weight_decay=weight_decay)
        super().__init__(params, defaults)

    def _params(self):
        return [(g, p) for g in self.param_groups for p in g["params"]]

    def _buffer(self, p):
        state = self.state[p]
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(p)
        return state["momentum_buffer"]

    def _perturbation(self, group, v, norm):
        return v * (-group["rho"] / (norm + EPS))

    def _decay_point(self, w, wp):
        return wp

    @torch.no_grad()
    def step(self, closure):
        items = self._params()
        norm = _global_norm([self._buffer(p) for _, p in items])
        saved = {}
        for group, p in items:
            saved[p] = p.detach().clone()
            p.add_(self._perturbation(group, self._buffer(p), norm))  # to w~_t
        with torch.enable_grad():
            loss = closure()
        for group, p in items:
            d = p.grad + group["weight_decay"] * self._decay_point(saved[p], p)
            v = self._buffer(p).mul_(group["momentum"]).add_(d)
            p.copy_(saved[p] - group["lr"] * v)
        return loss


class MSAMAlongMomentum(_StandardMSAM):
    """Broken: the perturbation goes along ``+v_t`` (uphill of the last update)."""

    def _perturbation(self, group, v, norm):
        return v * (group["rho"] / (norm + EPS))


class MSAMDecayAtW(_StandardMSAM):
    """Broken: the weight decay is taken at the unperturbed ``w_t``."""

    def _decay_point(self, w, wp):
        return w


class _MoveBackUpMSAM(torch.optim.Optimizer):
    """Memory-free: between steps the params hold ``w - c v``."""

    def __init__(self, params, lr, momentum=0.9, rho=0.3, weight_decay=0.0):
        defaults = dict(lr=lr, momentum=momentum, rho=rho, weight_decay=weight_decay)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["momentum_buffer"] = torch.zeros_like(p)

    def _items(self):
        return [(g, p, self.state[p]) for g in self.param_groups for p in g["params"]]

    @torch.no_grad()
    def step(self):
        for group, p, state in self._items():
            d = p.grad + group["weight_decay"] * p  # at the perturbed point
            self._back_one(group, p, state)
            v = state["momentum_buffer"].mul_(group["momentum"]).add_(d)
            p.sub_(v, alpha=group["lr"])
        self._up_all()


class MSAMUndoWithCurrentRho(_MoveBackUpMSAM):
    """Broken (the official code's bookkeeping): stores ``1 / (||v|| + EPS)`` and undoes
    the perturbation with the *current* ``rho``, so a rho schedule shifts ``w``."""

    def _back_one(self, group, p, state):
        if state.get("perturbed", False):
            p.add_(state["momentum_buffer"], alpha=group["rho"] * state["inv_norm"])
            state["perturbed"] = False

    @torch.no_grad()
    def move_back(self):
        for group, p, state in self._items():
            self._back_one(group, p, state)

    def _up_all(self):
        norm = _global_norm([s["momentum_buffer"] for _, _, s in self._items()])
        for group, p, state in self._items():
            state["inv_norm"] = float(1.0 / (norm + EPS))
            p.sub_(state["momentum_buffer"], alpha=group["rho"] * state["inv_norm"])
            state["perturbed"] = True

    @torch.no_grad()
    def move_up(self):
        self._up_all()


class MSAMStoredScale(_MoveBackUpMSAM):
    """Correct, memory-free: stores the scale ``c = rho / (||v|| + EPS)`` it applied and
    undoes exactly that, so a rho schedule cannot shift ``w``."""

    def _back_one(self, group, p, state):
        p.add_(state["momentum_buffer"], alpha=state.get("scale", 0.0))
        state["scale"] = 0.0

    @torch.no_grad()
    def move_back(self):
        for group, p, state in self._items():
            self._back_one(group, p, state)

    def _up_all(self):
        norm = float(_global_norm([s["momentum_buffer"] for _, _, s in self._items()]))
        for group, p, state in self._items():
            self._back_one(group, p, state)  # never stack two perturbations
            state["scale"] = group["rho"] / (norm + EPS)
            p.sub_(state["momentum_buffer"], alpha=state["scale"])

    @torch.no_grad()
    def move_up(self):
        self._up_all()
