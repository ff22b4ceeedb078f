"""Small PyTorch optimizers for the runner tests: correct ones, and ones with a known bug.

Imported only by test modules that have already done ``pytest.importorskip("torch")``.
Each bug is one switch in an otherwise correct implementation, so a test shows the
runner naming exactly that bug.
"""

from __future__ import annotations

import torch

EPS = 1e-12


def _global_norm(tensors) -> torch.Tensor:
    """``sqrt(sum_i ||t_i||^2)`` as a 0-d tensor (so ``rho / 0`` is inf, as in real code)."""
    return torch.sqrt(sum((t * t).sum() for t in tensors))


class MemoryFreeMSAM(torch.optim.Optimizer):
    """MSAM whose parameters hold ``w - rho v/(||v|| + EPS)``; driven by ``step()`` after
    ``backward()``, with ``move_back()``/``move_up()`` as in the official code.

    ``bug`` selects one deliberate mistake (None: the correct algorithm):

    - ``"decay-at-w"``: weight decay added after moving back to ``w`` (SPEC: at ``wp``);
    - ``"sign"``: perturbation along ``+v``;
    - ``"rho-drift"``: stores ``1 / (||v|| + EPS)`` and moves back with the current rho
      (the official code); the correct version stores the scale it applied;
    - ``"no-eps"``: ``rho / ||v||``;
    - ``"lost-state"``: buffers kept in an attribute, so ``state_dict()`` misses them.
    """

    def __init__(self, params, lr, momentum=0.9, rho=0.3, weight_decay=0.0, bug=None):
        super().__init__(params, dict(lr=lr, momentum=momentum, rho=rho, weight_decay=weight_decay))
        self.bug = bug
        self._outside = {}  # the "lost-state" bug keeps its buffers here

    def _state(self, p) -> dict:
        store = self._outside if self.bug == "lost-state" else self.state
        if p not in store or not store[p]:
            store[p] = {"v": torch.zeros_like(p), "scale": 0.0, "inv": 0.0}
        return store[p]

    def _params(self):
        return [(g, p) for g in self.param_groups for p in g["params"]]

    @torch.no_grad()
    def move_back(self):
        sign = -1.0 if self.bug == "sign" else 1.0
        for group, p in self._params():
            s = self._state(p)
            scale = group["rho"] * s["inv"] if self.bug == "rho-drift" else s["scale"]
            p.add_(s["v"], alpha=sign * scale)
            s["scale"] = 0.0

    @torch.no_grad()
    def move_up(self):
        sign = -1.0 if self.bug == "sign" else 1.0
        norm = _global_norm(self._state(p)["v"] for _, p in self._params())
        for group, p in self._params():
            s = self._state(p)
            if self.bug == "rho-drift":
                scale = group["rho"] * s["inv"]
            elif self.bug == "no-eps":  # rho / 0 = inf, then inf * 0 = NaN
                scale = float(group["rho"] / norm)
            else:
                scale = float(group["rho"] / (norm + EPS))
            p.sub_(s["v"], alpha=sign * scale)
            s["scale"] = scale

    @torch.no_grad()
    def step(self):
        decay = {}
        for group, p in self._params():
            if self.bug != "decay-at-w":
                decay[p] = group["weight_decay"] * p  # at the perturbed point
        self.move_back()
        for group, p in self._params():
            s = self._state(p)
            d = p.grad + (decay[p] if p in decay else group["weight_decay"] * p)
            s["v"].mul_(group["momentum"]).add_(d)
            p.sub_(s["v"], alpha=group["lr"])
        inv = float(1.0 / (_global_norm(self._state(p)["v"] for _, p in self._params()) + EPS))
        for _, p in self._params():
            self._state(p)["inv"] = inv
        self.move_up()


class TwoStepSAM(torch.optim.Optimizer):
    """SAM in the davda54/sam style (``first_step``/``second_step``) on SGD with momentum.

    ``bug="no-eps"`` divides by ``||g||`` alone; ``bug="sign"`` steps to ``w - e``;
    ``bug="float32-norm"`` computes ``||g||`` in float32 (a precision difference).
    """

    def __init__(self, params, lr, momentum=0.9, rho=0.05, weight_decay=0.0, bug=None):
        super().__init__(params, dict(lr=lr, momentum=momentum, rho=rho, weight_decay=weight_decay))
        self.bug = bug

    @torch.no_grad()
    def first_step(self, zero_grad=False):
        params = [p for g in self.param_groups for p in g["params"]]
        if self.bug == "float32-norm":
            norm = _global_norm(p.grad.float() for p in params).double()
        else:
            norm = _global_norm(p.grad for p in params)
        for group in self.param_groups:
            scale = group["rho"] / (norm if self.bug == "no-eps" else norm + EPS)
            scale = -scale if self.bug == "sign" else scale
            for p in group["params"]:
                self.state[p]["w"] = p.detach().clone()
                p.add_(p.grad * scale)
        if zero_grad:
            self.zero_grad()

    @torch.no_grad()
    def second_step(self, zero_grad=False):
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                p.copy_(state.pop("w"))
                v = state.setdefault("v", torch.zeros_like(p))
                v.mul_(group["momentum"]).add_(p.grad + group["weight_decay"] * p)
                p.sub_(v, alpha=group["lr"])
        if zero_grad:
            self.zero_grad()


class LookaheadNAG(torch.optim.Optimizer):
    """NAG in the look-ahead form (docs/optimizers.md#nag): ``step(closure)`` evaluates the
    closure at ``a = w - lr mu v`` and keeps ``w`` in the parameters."""

    def __init__(self, params, lr, momentum=0.9, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure):
        params = [(g, p) for g in self.param_groups for p in g["params"]]
        for g, p in params:
            v = self.state[p].setdefault("v", torch.zeros_like(p))
            p.sub_(v, alpha=g["lr"] * g["momentum"])  # w -> a
        with torch.enable_grad():
            loss = closure()
        for g, p in params:
            v = self.state[p]["v"]
            d = p.grad + g["weight_decay"] * p  # decay at the look-ahead point
            p.add_(v, alpha=g["lr"] * g["momentum"])  # a -> w
            v.mul_(g["momentum"]).add_(d)
            p.sub_(v, alpha=g["lr"])
        return loss


class HandAdamW(torch.optim.Optimizer):
    """AdamW written out; ``decay="first"`` is torch.optim.AdamW, ``"last"`` the bug of
    decaying after the Adam step."""

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decay="first"):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))
        self.decay = decay

    @torch.no_grad()
    def step(self, closure):
        with torch.enable_grad():
            loss = closure()
        for g in self.param_groups:
            (b1, b2), lr, shrink = g["betas"], g["lr"], 1.0 - g["lr"] * g["weight_decay"]
            for p in g["params"]:
                state = self.state[p]
                if not state:
                    state.update(k=0, m=torch.zeros_like(p), s=torch.zeros_like(p))
                state["k"] += 1
                k, m, s = state["k"], state["m"], state["s"]
                m.mul_(b1).add_(p.grad, alpha=1 - b1)
                s.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                if self.decay == "first":
                    p.mul_(shrink)
                denom = s.sqrt() / (1 - b2**k) ** 0.5 + g["eps"]
                p.addcdiv_(m, denom, value=-lr / (1 - b1**k))
                if self.decay == "last":
                    p.mul_(shrink)
        return loss


class StatelessCheckpointSGD(torch.optim.SGD):
    """torch.optim.SGD whose ``state_dict()`` forgets the momentum buffers."""

    def state_dict(self):
        saved = super().state_dict()
        saved["state"] = {}
        return saved


class KeywordlessSAM(TwoStepSAM):
    """``first_step()`` and ``second_step()`` without a ``zero_grad`` keyword."""

    def first_step(self):
        super().first_step()

    def second_step(self):
        super().second_step()


class StepWithScaler(torch.optim.SGD):
    """torch.optim.SGD whose ``step`` needs a second argument no adapter passes."""

    def step(self, closure, scaler):
        return super().step(closure)


class ClosureMemoryFreeMSAM(MemoryFreeMSAM):
    """:class:`MemoryFreeMSAM` driven by ``step(closure)`` alone: the params it leaves are
    the perturbed point, and no method returns ``w`` (``bug`` as there)."""

    def step(self, closure):
        with torch.enable_grad():
            closure()
        super().step()
