"""Batch-norm running statistics through an optimizer step, and their re-estimation.

The optimizers take ``grad_fn(point) -> (loss, grads)`` and know nothing of running
statistics. A model with batch norm returns new statistics from every training-mode
forward pass, so the question is which pass's statistics to keep when a step calls
``grad_fn`` more than once. minimsam's reference answer is: **the first call's**.
:class:`GradFnWithStats` records exactly those; use it (or :func:`batch_grad_fn`)::

    grad_fn = nn.batch_grad_fn(model, stats, xb, yb)
    params, opt_state, info = opt.step(params, opt_state, grad_fn)
    stats = grad_fn.new_stats               # from the first forward pass of the step

What that means for each optimizer (every call runs in training mode, so each forward
pass normalises with its own batch statistics; only the running statistics differ):

- SGD, NAG, AdamW: one call, its statistics are kept.
- SAM: the first call at ``w_t`` updates the running statistics; the second, at the
  perturbed ``w_t + e_t``, uses batch statistics but its update is discarded (the
  official code's ``track_running_stats=False``). Updating in both passes, or running
  the second pass in evaluation mode, are the two usual mistakes; with this choice SAM
  at ``rho = 0`` equals SGD bit for bit, statistics included.
- MSAM, AdamW-MSAM: the only forward pass runs at the perturbed point ``wp_t``, as in
  the paper's code, so the running statistics come from perturbed weights. Before an
  evaluation at the unperturbed weights, :func:`reestimate_stats` recomputes them there
  (the paper's code does one forward-only epoch before its final test; the paper's text
  does not mention it). :func:`minimsam.train.fit` does it with
  ``reestimate_batches=N``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from minimsam import autodiff as ad
from minimsam.nn.losses import cross_entropy

__all__ = ["GradFnWithStats", "batch_grad_fn", "reestimate_stats"]


class GradFnWithStats:
    """A ``grad_fn`` for ``opt.step`` that threads batch-norm statistics (module docstring).

    ``loss_fn(params, stats) -> (loss, new_stats)``. Every call evaluates it at the
    point the optimizer asks for with the statistics given here, and returns
    ``(loss, grads)``; the ``new_stats`` of the FIRST call are kept in
    :attr:`new_stats`, later calls' are discarded. Use a fresh one per step.
    """

    def __init__(self, loss_fn: Callable[[Any, Any], tuple[Any, Any]], stats: dict[str, Any]):
        self._value_and_grad = ad.value_and_grad(loss_fn, has_aux=True)
        self.stats = stats
        self.calls = 0
        self._new_stats: dict[str, Any] | None = None

    def __call__(self, point: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        (loss, new_stats), grads = self._value_and_grad(point, self.stats)
        self.calls += 1
        if self.calls == 1:
            self._new_stats = new_stats
        return loss, grads

    @property
    def new_stats(self) -> dict[str, Any]:
        """The running statistics after the step: those of the first call."""
        if self._new_stats is None:
            raise RuntimeError("this grad_fn was never called: pass it to opt.step first")
        return self._new_stats


def batch_grad_fn(model: Any, stats: dict[str, Any], x: Any, y: Any,
                  label_smoothing: float = 0.0) -> GradFnWithStats:  # fmt: skip
    """:class:`GradFnWithStats` for the cross-entropy of ``model`` on the batch ``(x, y)``
    in training mode: ``loss(w) = cross_entropy(model.apply(w, x, stats, train=True))``."""

    def loss_fn(params: dict[str, Any], stats: dict[str, Any]) -> tuple[Any, Any]:
        logits, new_stats = model.apply(params, x, stats, train=True)
        return cross_entropy(logits, y, label_smoothing=label_smoothing), new_stats

    return GradFnWithStats(loss_fn, stats)


def reestimate_stats(
    model: Any,
    params: dict[str, Any],
    stats: dict[str, Any],
    batches: Iterable[Any],
    num_batches: int | None = None,
) -> dict[str, Any]:
    """The running statistics after forward-only training-mode passes at ``params``.

    ``batches`` yields inputs ``x`` or pairs ``(x, y)`` (labels are ignored); the first
    ``num_batches`` are used (all if None). Each pass updates the statistics as in
    training, an exponential moving average with the layers' momentum (0.1) continued
    from ``stats``, as the paper's code does with its extra epoch: after ``n`` batches
    a fraction ``0.9**n`` of the old statistics remains (0.9**20 = 0.12, 0.9**50 = 0.005).
    No gradient is taken and ``params`` do not change. Returns the new statistics.
    """
    if not model.has_stats:
        raise ValueError("reestimate_stats needs a model with batch norm (model.has_stats)")
    if num_batches is not None and num_batches < 1:
        raise ValueError(f"num_batches must be >= 1 or None, got {num_batches}")
    used = 0
    with ad.no_grad():
        for batch in batches:
            if num_batches is not None and used >= num_batches:
                break
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            _, stats = model.apply(params, x, stats, train=True)
            used += 1
    if used == 0:
        raise ValueError("reestimate_stats got no batches")
    return stats
