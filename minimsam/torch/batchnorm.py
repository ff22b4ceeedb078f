"""BatchNorm running statistics under SAM and MSAM in PyTorch, the reference way.

The choices are those of ``minimsam.nn.running_stats``:

* SAM updates the running statistics from its first, unperturbed forward pass only.
  Its second pass, at ``w_t + e_t``, runs in training mode (batch statistics) without
  tracking: :func:`running_stats_frozen` around that pass, or ``SAM.step(closure,
  freeze_bn=model)``, which does it for you. Two common mistakes it avoids: updating the
  statistics in both passes, and ``model.eval()`` for the second pass (which changes the
  function being differentiated).
* MSAM's only pass runs at the perturbed point, so its running statistics come from
  perturbed weights; :func:`reestimate_running_stats` recomputes them at the
  unperturbed weights (under ``opt.unperturbed()``) with forward-only passes, as the
  paper's code does with one extra epoch before its final test.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

__all__ = ["reestimate_running_stats", "running_stats_frozen"]


def _batchnorms(model: torch.nn.Module) -> list[torch.nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


@contextmanager
def running_stats_frozen(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Inside, every BatchNorm of ``model`` in training mode normalises with the batch
    statistics but leaves ``running_mean``, ``running_var`` and ``num_batches_tracked``
    as they are (``track_running_stats=False`` for the duration, as the paper's code)."""
    layers = [m for m in _batchnorms(model) if m.track_running_stats]
    for m in layers:
        m.track_running_stats = False
    try:
        yield model
    finally:
        for m in layers:
            m.track_running_stats = True


@torch.no_grad()
def reestimate_running_stats(model: torch.nn.Module, batches: Iterable[Any],
                             num_batches: int | None = None) -> int:  # fmt: skip
    """Forward-only training-mode passes of ``model`` over ``batches`` (inputs, or tuples
    whose first entry is the input), the first ``num_batches`` of them (all if None).

    The running statistics continue their moving average with each layer's momentum, as
    in training; ``model``'s mode is restored afterwards. Call it at the weights to
    evaluate (MSAM: inside ``with opt.unperturbed():``). Returns the number of batches used.
    """
    if num_batches is not None and num_batches < 1:
        raise ValueError(f"num_batches must be >= 1 or None, got {num_batches}")
    if not _batchnorms(model):
        raise ValueError("reestimate_running_stats needs a model with BatchNorm layers")
    was_training, used = model.training, 0
    model.train()
    try:
        for batch in batches:
            if num_batches is not None and used >= num_batches:
                break
            model(batch[0] if isinstance(batch, (tuple, list)) else batch)
            used += 1
    finally:
        model.train(was_training)
    if used == 0:
        raise ValueError("reestimate_running_stats got no batches")
    return used
