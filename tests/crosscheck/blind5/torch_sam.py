"""SAM on an SGD-momentum base, in the two styles seen in the wild.

``first_step``/``second_step`` (davda54/sam style: the training loop does the two
forward/backward passes) and ``step(closure)`` (the optimizer calls the closure twice).
Correct: ``SAMTwoStep``, ``SAMClosureFlat``. The others each carry one mistake.
"""

import contextlib

import torch
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils import parameters_to_vector
from torch.optim import Optimizer

EPS = 1e-12


class SAMTwoStep(Optimizer):
    """e = rho g/(||g|| + EPS) (global norm); d = g(w + e) + wd w; v = mu v + d; w -= lr v."""

    def __init__(self, params, lr=0.1, rho=0.05, momentum=0.9, weight_decay=0.0):
        defaults = dict(lr=lr, rho=rho, momentum=momentum, weight_decay=weight_decay)
        super().__init__(params, defaults)

    def _with_grad(self):
        return [(p, g) for g in self.param_groups for p in g["params"] if p.grad is not None]

    def _grad_norm(self):
        return torch.norm(torch.stack([p.grad.norm(p=2) for p, _ in self._with_grad()]), p=2)

    def _ascent(self, p, group, norm):
        return group["rho"] * p.grad / (norm + EPS)

    @torch.no_grad()
    def first_step(self, zero_grad=False):
        norm = self._grad_norm()
        for p, group in self._with_grad():
            self.state[p]["old_p"] = p.clone()
            p.add_(self._ascent(p, group, norm))
        if zero_grad:
            self.zero_grad()

    def _decay_point(self, perturbed, old):
        """Where the weight decay is taken: at the unperturbed w."""
        return old

    @torch.no_grad()
    def second_step(self, zero_grad=False):
        for p, group in self._with_grad():
            state = self.state[p]
            d = p.grad + group["weight_decay"] * self._decay_point(p, state["old_p"])
            p.copy_(state["old_p"])
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = torch.zeros_like(p)
            v = state["momentum_buffer"]
            v.mul_(group["momentum"]).add_(d)
            p.sub_(group["lr"] * v)
        if zero_grad:
            self.zero_grad()

    def step(self, closure):
        closure = torch.enable_grad()(closure)
        closure()
        self.first_step(zero_grad=True)
        closure()
        self.second_step()


class SAMPerTensorNorm(SAMTwoStep):
    """Each tensor is normalised by its own norm: e_k = rho g_k/(||g_k|| + EPS)."""

    def _ascent(self, p, group, norm):
        return group["rho"] * p.grad / (p.grad.norm(p=2) + EPS)


class SAMSquaredNorm(SAMTwoStep):
    """Divides by the squared norm: e = rho g/(||g||^2 + EPS)."""

    def _ascent(self, p, group, norm):
        return group["rho"] * p.grad / (norm * norm + EPS)


class SAMDecayInAscent(SAMTwoStep):
    """The ascent follows the regularised gradient g + wd w (norm included)."""

    def _grad_norm(self):
        parts = [(p.grad + g["weight_decay"] * p).norm(p=2) for p, g in self._with_grad()]
        return torch.norm(torch.stack(parts), p=2)

    def _ascent(self, p, group, norm):
        return group["rho"] * (p.grad + group["weight_decay"] * p) / (norm + EPS)


class SAMDecayAtPerturbed(SAMTwoStep):
    """Decay taken at the perturbed point: d = g(w + e) + wd (w + e)."""

    def _decay_point(self, perturbed, old):
        return perturbed


class SAMRhoFromInit(SAMTwoStep):
    """Reads rho once, at construction, so a rho schedule written to the group is ignored."""

    def __init__(self, params, lr=0.1, rho=0.05, momentum=0.9, weight_decay=0.0):
        super().__init__(params, lr=lr, rho=rho, momentum=momentum, weight_decay=weight_decay)
        self.rho = rho

    def _ascent(self, p, group, norm):
        return self.rho * p.grad / (norm + EPS)


class SAMWrapped(Optimizer):
    """davda54-style wrapper around ``torch.optim.SGD``: the base optimizer keeps the momentum
    in its own state, which ``state_dict`` (inherited) does not include."""

    def __init__(self, params, lr=0.1, rho=0.05, momentum=0.9, weight_decay=0.0):
        super().__init__(params, dict(rho=rho, lr=lr, momentum=momentum, weight_decay=weight_decay))
        self.base_optimizer = torch.optim.SGD(
            self.param_groups, lr=lr, momentum=momentum, weight_decay=weight_decay
        )
        self.param_groups = self.base_optimizer.param_groups
        self.defaults.update(self.base_optimizer.defaults)

    @torch.no_grad()
    def first_step(self, zero_grad=False):
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        norm = torch.norm(torch.stack([g.norm(p=2) for g in grads]), p=2)
        for group in self.param_groups:
            scale = group["rho"] / (norm + EPS)
            for p in group["params"]:
                if p.grad is None:
                    continue
                self.state[p]["old_p"] = p.data.clone()
                p.add_(p.grad * scale)
        if zero_grad:
            self.zero_grad()

    @torch.no_grad()
    def second_step(self, zero_grad=False):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.data = self.state[p]["old_p"]
        self.base_optimizer.step()
        if zero_grad:
            self.zero_grad()

    def step(self, closure=None):
        raise NotImplementedError("call first_step and second_step")

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        self.base_optimizer.param_groups = self.param_groups


@contextlib.contextmanager
def _bn_frozen(model):
    """Batch norm with momentum 0 while inside: the running statistics stay as they are."""
    norms = [] if model is None else [m for m in model.modules() if isinstance(m, _BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum in zip(norms, saved):
            m.momentum = momentum


class SAMClosureFlat(Optimizer):
    """SAM in one ``step(closure)`` on flat vectors (same equations as ``SAMTwoStep``)."""

    def __init__(self, params, lr=0.1, rho=0.05, momentum=0.9, weight_decay=0.0):
        defaults = dict(lr=lr, rho=rho, momentum=momentum, weight_decay=weight_decay)
        super().__init__(params, defaults)

    @staticmethod
    def _write(vector, params):
        offset = 0
        for p in params:
            p.copy_(vector[offset : offset + p.numel()].view_as(p))
            offset += p.numel()

    def _ascent(self, g, rho):
        return rho * g / (g.norm() + EPS)

    def _start(self, w, e):
        return w

    @torch.no_grad()
    def step(self, closure, freeze_bn=None):
        """``freeze_bn``: a model whose batch-norm running statistics the second pass must
        leave alone (they keep the first pass's update)."""
        with torch.enable_grad():
            loss = closure()
        group = self.param_groups[0]
        params = group["params"]
        w = parameters_to_vector(params).clone()
        e = self._ascent(parameters_to_vector([p.grad for p in params]), group["rho"])
        self._write(w + e, params)
        with torch.enable_grad(), _bn_frozen(freeze_bn):
            closure()
        d = parameters_to_vector([p.grad for p in params]) + group["weight_decay"] * w
        state = self.state[params[0]]
        if "flat_momentum" not in state:
            state["flat_momentum"] = torch.zeros_like(w)
        v = state["flat_momentum"]
        v.mul_(group["momentum"]).add_(d)
        self._write(self._start(w, e) - group["lr"] * v, params)
        return loss


class SAMClosureNoRestore(SAMClosureFlat):
    """Takes the update from where the second gradient was taken: w_next = (w + e) - lr v."""

    def _start(self, w, e):
        return w + e


class SAMClosureNoEps(SAMClosureFlat):
    """Normalises without the epsilon: e = rho g/||g|| (NaN at a zero gradient)."""

    def _ascent(self, g, rho):
        return rho * g / g.norm()


class SAMAliasedBackup(SAMTwoStep):
    """Keeps the "copy" of w without cloning it, so the backup moves with the params."""

    @torch.no_grad()
    def first_step(self, zero_grad=False):
        norm = self._grad_norm()
        for p, group in self._with_grad():
            self.state[p]["old_p"] = p.data
            p.add_(self._ascent(p, group, norm))
        if zero_grad:
            self.zero_grad()
