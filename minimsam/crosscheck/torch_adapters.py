"""Adapters: how the PyTorch runner drives an optimizer through one step.

Optimizers differ in how a step is called (``step(closure)``, SAM's
``first_step``/``second_step``, the official MSAM's ``step()`` on weights it keeps
perturbed), so the runner talks to an :class:`Adapter`. For every step ``t`` it calls::

    adapter.set_hyperparameters(lr=lr[t], rho=rho[t])   # rho only for SAM/MSAM/AdamW-MSAM
    adapter.step(forward_backward)
    w = adapter.unperturbed()                           # compared with the reference w_{t+1}

``forward_backward()`` zeroes the gradients, evaluates step ``t``'s loss at the
parameters as they are, back-propagates and returns the loss; call it as many times
as the algorithm needs (the runner records each call as a gradient evaluation).
At a checkpoint the runner saves ``model.state_dict()`` and ``adapter.state_dict()``,
builds a new model, optimizer and adapter, and loads both.

Write your own by subclassing :class:`Adapter` (``--adapter module:Class``) when
none of the three built-in ones fits.

Batch-norm cases: ``adapter.model`` is the ``torch.nn.Module`` (None otherwise). The
reference keeps the running statistics of the first forward pass of a step only
(FORMAT.md, "Batch norm"): :class:`StepAdapter` passes ``freeze_bn=model`` to an
optimizer whose ``step`` accepts it (``minimsam.torch.SAM``), and
:class:`TwoStepAdapter` runs the second pass inside
``minimsam.torch.running_stats_frozen(model)``, as a training loop written for a
``first_step``/``second_step`` SAM should.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch

from minimsam.crosscheck.loading import parameters, signature

__all__ = [
    "ADAPTERS",
    "Adapter",
    "MoveBackUpAdapter",
    "StepAdapter",
    "TwoStepAdapter",
    "auto",
    "describe",
    "fitting",
    "label",
    "unperturbed_weights",
]


class Adapter:
    """Base class: sets hyperparameters in every param group; params are the weights.

    Args:
        optimizer: the optimizer under test, built on ``params``.
        params: the model's parameters, in the order of the case's params.
    """

    name = "custom"
    model: torch.nn.Module | None = None  # batch-norm cases: set by the runner

    def __init__(self, optimizer: torch.optim.Optimizer, params: list[torch.Tensor]):
        self.optimizer = optimizer
        self.params = list(params)

    def set_hyperparameters(self, **values: float) -> None:
        """``group[name] = value`` for every param group (``lr``, and ``rho`` where used)."""
        for group in self.optimizer.param_groups:
            group.update(values)

    def step(self, forward_backward: Callable[[], torch.Tensor]) -> None:
        raise NotImplementedError

    def unperturbed(self) -> list[torch.Tensor]:
        """The unperturbed weights, in param order (new tensors)."""
        return [p.detach().clone() for p in self.params]

    def state_dict(self) -> dict:
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state)


class StepAdapter(Adapter):
    """``torch.optim`` style: ``optimizer.step(closure)``, the closure does forward + backward.

    The closure may be called more than once (minimsam.torch's ``SAM`` calls it twice).
    An optimizer that keeps perturbed weights in its parameters (minimsam.torch's
    ``MSAM`` and ``AdamWMSAM``) must provide ``eval_params() -> {param: w}``, and must
    take step ``t``'s gradient with the ``rho`` set for step ``t``: the runner writes
    ``group["rho"]`` just before ``step(closure)``, while the parameters still hold
    the previous step's perturbation.
    """

    name = "step"

    def step(self, forward_backward):
        if self.model is not None and "freeze_bn" in (parameters(self.optimizer.step) or ()):
            self.optimizer.step(forward_backward, freeze_bn=self.model)
        else:
            self.optimizer.step(forward_backward)

    def unperturbed(self):
        return unperturbed_weights(self.optimizer, self.params)


def unperturbed_weights(optimizer, params: list[torch.Tensor]) -> list[torch.Tensor]:
    """The weights in param order (new tensors): ``optimizer.eval_params()`` where it keeps
    a perturbed point in the params (minimsam.torch's MSAM), else the params themselves."""
    eval_params = getattr(optimizer, "eval_params", None)
    weights = {p: p for p in params} if eval_params is None else eval_params()
    return [weights[p].detach().clone() for p in params]


class TwoStepAdapter(Adapter):
    """SAM in the davda54/sam style: two passes around ``first_step``/``second_step``.

    One step: ``forward_backward()`` (the gradient at ``w_t``), ``first_step()`` (to
    ``w_t + e_t``), ``forward_backward()`` (the gradient at ``w_t + e_t``),
    ``second_step()`` (back to ``w_t``, then the base optimizer's step). The
    parameters hold ``w`` between steps. Both methods are called without arguments
    (``forward_backward`` clears the gradients itself), so a ``first_step`` without a
    ``zero_grad`` keyword works too.
    """

    name = "two-step"

    def step(self, forward_backward):
        forward_backward()
        self.optimizer.first_step()
        if self.model is None:
            forward_backward()
        else:
            from minimsam.torch import running_stats_frozen

            with running_stats_frozen(self.model):
                forward_backward()
        self.optimizer.second_step()


MOVE_METHODS = (
    ("move_back_from_momentumAscent", "move_up_to_momentumAscent"),  # the official MSAM code
    ("move_to_unperturbed", "move_to_perturbed"),  # minimsam.torch
    ("move_back", "move_up"),
)


class MoveBackUpAdapter(Adapter):
    """Memory-free MSAM in the official code's style: parameters hold ``w - rho v/||v||``.

    The optimizer has ``step()`` (gradient already in ``p.grad``, taken at the
    perturbed parameters) and a pair of methods, ``move_back`` (to ``w``) and
    ``move_up`` (to the perturbed point); the names are found among
    :data:`MOVE_METHODS` or given. A step::

        set lr, rho            # as a per-step scheduler does: params still perturbed
        move_back(); move_up() # re-apply the perturbation for the new rho
        forward_backward(); optimizer.step()

    and the weights are read with ``move_back()``, copy, ``move_up()``. An optimizer
    that undoes exactly the perturbation it applied (it stores the scale) passes
    under a rho schedule; one that undoes with the current rho (the official code)
    shifts ``w`` by ``(rho_t - rho_{t-1}) v/||v||`` and takes the gradient with the
    previous rho, exactly as in the official training loop, where the scheduler
    changes rho between steps.
    """

    name = "move-back-up"

    def __init__(self, optimizer, params, methods: tuple[str, str] | None = None):
        super().__init__(optimizer, params)
        for pair in [methods] if methods else MOVE_METHODS:
            if all(callable(getattr(optimizer, m, None)) for m in pair):
                self.move_back, self.move_up = (getattr(optimizer, m) for m in pair)
                return
        raise TypeError(
            f"{type(optimizer).__name__} has none of the method pairs {list(MOVE_METHODS)}; "
            "pass methods=(back, up) or use another adapter"
        )

    def set_hyperparameters(self, **values):
        super().set_hyperparameters(**values)
        self.move_back()
        self.move_up()

    def step(self, forward_backward):
        forward_backward()
        self.optimizer.step()

    def unperturbed(self):
        self.move_back()
        weights = super().unperturbed()
        self.move_up()
        return weights


ADAPTERS: dict[str, type[Adapter]] = {
    "step": StepAdapter,
    "two-step": TwoStepAdapter,
    "move-back-up": MoveBackUpAdapter,
}


def auto(optimizer: torch.optim.Optimizer) -> type[Adapter]:
    """The built-in adapter for ``optimizer``: ``two-step`` if it has ``first_step`` and
    ``second_step``; ``move-back-up`` if its ``step()`` takes no closure; else ``step``."""
    if all(callable(getattr(optimizer, m, None)) for m in ("first_step", "second_step")):
        return TwoStepAdapter
    if not inspect.signature(optimizer.step).parameters:
        return MoveBackUpAdapter
    return StepAdapter


def label(cls: type[Adapter]) -> str:
    """The adapter's name in a report: a built-in's name, a subclass's own ``name``, or
    ``module:Class`` for a subclass that does not set one."""
    if cls in ADAPTERS.values():
        return cls.name
    own = cls.__dict__.get("name")
    return own if isinstance(own, str) and own else f"{cls.__module__}:{cls.__qualname__}"


def describe(optimizer) -> list[str]:
    """The stepping methods ``optimizer`` has, with their signatures."""
    names = ["step", "first_step", "second_step", "eval_params"]
    names += [m for pair in MOVE_METHODS for m in pair]
    found = [(m, getattr(optimizer, m, None)) for m in names]
    return [f"{type(optimizer).__name__}.{m}{signature(fn)}" for m, fn in found if callable(fn)]


def fitting(optimizer) -> list[str]:
    """The adapters that might drive ``optimizer``, judged from its methods alone."""
    fits = []
    if all(callable(getattr(optimizer, m, None)) for m in ("first_step", "second_step")):
        fits.append("two-step")
    if any(all(callable(getattr(optimizer, m, None)) for m in pair) for pair in MOVE_METHODS):
        fits.append("move-back-up")
    step = getattr(optimizer, "step", None)
    if callable(step) and parameters(step) != []:  # it takes a closure (or may: unreadable)
        fits.append("step")
    fits.append("module:YourAdapter (a subclass of minimsam.crosscheck.torch_adapters.Adapter)")
    return fits
