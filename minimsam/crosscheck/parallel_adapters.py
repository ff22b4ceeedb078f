"""Recipes: how a training loop drives an optimizer under DDP, accumulation and a loss scale.

The data-parallel runner (:mod:`minimsam.crosscheck.parallel_runner`) starts one
process per worker, wraps the case's model in ``DistributedDataParallel`` and, every
step, calls ``recipe.step()`` on every worker. A recipe is a training loop's inner
step: it calls :meth:`ParallelRecipe.forward` for each micro-batch of this worker (each
call is a recorded gradient evaluation; it returns the loss to back-propagate, already
multiplied by the loss scale and divided by the number of micro-batches), runs the
backward passes, decides which ones all-reduce (``model.no_sync()``), unscales, and
skips a step whose gradients are not finite.

:class:`StepRecipe` is the recipe for an optimizer with ``step(closure)``
(``minimsam.torch.SAM`` and ``MSAM``); :class:`TwoStepRecipe` for a SAM with
``first_step()`` / ``second_step()`` (the davda54/sam interface). Write your own by
subclassing :class:`ParallelRecipe` (``--adapter module:Class``).
"""

from __future__ import annotations

import copy
from contextlib import nullcontext

import torch

from minimsam.crosscheck.torch_adapters import Adapter, unperturbed_weights

__all__ = ["RECIPES", "ParallelRecipe", "StepRecipe", "TwoStepRecipe", "auto_recipe"]


class ParallelRecipe(Adapter):
    """Base class: an :class:`~minimsam.crosscheck.torch_adapters.Adapter` (hyperparameters
    set in every param group) whose ``step()`` makes its passes itself. The runner sets,
    before every step: ``loss_scale`` (``s_t``), and once: ``model`` (the DDP-wrapped
    module), ``micro_batches`` (``k``), ``sam_ascent`` (``"global"`` or ``"local"``: whether
    SAM's first pass is all-reduced) and ``forward`` (``forward(j) -> s * loss_j / k``, for
    this worker's micro-batch ``j``)."""

    model: torch.nn.Module
    micro_batches: int = 1
    sam_ascent: str = "global"
    loss_scale: float = 1.0

    def forward(self, micro_batch: int) -> torch.Tensor:  # set by the runner
        raise NotImplementedError

    def step(self) -> None:
        raise NotImplementedError

    def unperturbed(self) -> list[torch.Tensor]:
        return unperturbed_weights(self.optimizer, self.params)

    # -- the pieces of a recipe
    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def accumulate(self, sync: bool = True) -> torch.Tensor:
        """Forward and backward over this worker's ``k`` micro-batches; the gradients add
        up in ``.grad``. Only the last backward all-reduces (``no_sync`` around the
        others, forward included: DDP decides at forward time), and not even that one
        when ``sync`` is False. Returns the last micro-batch's loss."""
        for j in range(self.micro_batches):
            last = j == self.micro_batches - 1
            with nullcontext() if (sync and last) else self.model.no_sync():
                loss = self.forward(j)
                loss.backward()
        return loss

    def unscale(self) -> bool:
        """``grad /= s`` (GradScaler's ``unscale_``); whether every gradient is finite."""
        finite = True
        for p in self.params:
            if p.grad is not None:
                p.grad.div_(self.loss_scale)
                finite &= bool(torch.isfinite(p.grad).all())
        return finite

    def snapshot(self) -> tuple[list[torch.Tensor], dict]:
        """The params and the optimizer state, to restore if the step must be skipped."""
        return [p.detach().clone() for p in self.params], copy.deepcopy(self.optimizer.state_dict())

    def restore(self, saved: tuple[list[torch.Tensor], dict]) -> None:
        """Undo the step: params, buffers and step count as they were (a skipped step)."""
        weights, state = saved
        with torch.no_grad():
            for p, w in zip(self.params, weights):
                p.copy_(w)
        self.optimizer.load_state_dict(state)


class StepRecipe(ParallelRecipe):
    """``optimizer.step(closure)``; each closure call is one pass over the micro-batches.

    SAM's first pass (the first closure call) runs without all-reducing when the case
    asks for a per-worker ascent. The closure unscales the gradients, so the optimizer
    (its norm included) never sees the loss scale; a pass with an inf or NaN makes the
    step be undone afterwards (params and optimizer state restored)."""

    name = "step"

    def step(self) -> None:
        saved, finite, calls = self.snapshot(), [], []

        def closure():
            first = not calls
            calls.append(1)
            self.zero_grad()
            loss = self.accumulate(sync=not (first and self.sam_ascent == "local"))
            finite.append(self.unscale())
            return loss

        self.optimizer.step(closure)
        if not all(finite):
            self.restore(saved)


class TwoStepRecipe(ParallelRecipe):
    """A SAM with ``first_step()`` / ``second_step()``: pass, ascend, pass, descend.

    The same decisions as :class:`StepRecipe`: the first pass all-reduces unless the
    case asks for a per-worker ascent, both passes are unscaled before the optimizer
    sees them, and a non-finite pass undoes the step."""

    name = "two-step"

    def step(self) -> None:
        saved = self.snapshot()
        self.zero_grad()
        self.accumulate(sync=self.sam_ascent != "local")
        finite = self.unscale()
        self.optimizer.first_step()
        self.zero_grad()
        self.accumulate()
        finite &= self.unscale()
        self.optimizer.second_step()
        if not finite:
            self.restore(saved)


RECIPES: dict[str, type[ParallelRecipe]] = {"step": StepRecipe, "two-step": TwoStepRecipe}


def auto_recipe(optimizer) -> type[ParallelRecipe]:
    """:class:`StepRecipe` for ``step(closure)`` optimizers that are not first_step/second_step
    SAMs (minimsam.torch's SAM has both: ``step``); else :class:`TwoStepRecipe`."""
    if hasattr(optimizer, "first_step") and type(optimizer).__module__.split(".")[0] != "minimsam":
        return TwoStepRecipe
    return StepRecipe
