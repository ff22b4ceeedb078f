"""Mini-batches with a seeded, reproducible shuffle.

The shuffle is drawn on the host with a NumPy ``Generator``; batches are cut from the
host arrays and moved to the active backend with ``ms.asarray`` (``to_device=True``,
the default), so a training loop can use them directly on NumPy or CuPy::

    for epoch in range(start_epoch, epochs):
        for xb, yb in epoch_batches(dataset, 128, seed=0, epoch=epoch):
            params, state, info = opt.step(params, state, make_grad_fn(xb, yb))

``epoch_batches`` draws epoch ``e``'s order from ``np.random.default_rng([seed, e])``:
it depends on ``(seed, e)`` only, so training resumed at epoch ``k`` sees exactly the
batches an uninterrupted run would have seen. Within an epoch every sample appears
exactly once (with ``drop_last=True``, the ``n mod batch_size`` samples that fall last in
the shuffled order are skipped for that epoch).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

import minimsam as ms

__all__ = ["epoch_batches", "epoch_order", "iterate_batches", "num_batches"]


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    """Batches per epoch: ``floor(n / batch_size)`` if ``drop_last``, else ``ceil(...)``."""
    _check_batch_size(batch_size)
    return n // batch_size if drop_last else -(-n // batch_size)


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The sample order of epoch ``epoch``: a permutation of ``range(n)`` from ``(seed, epoch)``."""
    return _epoch_rng(seed, epoch).permutation(n)


def iterate_batches(
    x: Any,
    y: Any,
    batch_size: int,
    *,
    shuffle: bool = True,
    seed: int | None = None,
    rng: np.random.Generator | None = None,
    drop_last: bool = False,
    to_device: bool = True,
) -> Iterator[tuple[Any, Any]]:
    """Yield ``(x[idx], y[idx])`` for consecutive blocks ``idx`` of a sample order.

    The order is ``rng.permutation(n)`` when ``shuffle`` (``rng`` defaults to
    ``np.random.default_rng(seed)``; with neither given the order is unseeded), else
    ``0, 1, ..., n-1``. Every batch has ``batch_size`` samples except possibly the last,
    which is dropped if ``drop_last``. ``x`` and ``y`` are host arrays (a dataset's
    ``x_train``, ``y_train``) with the same first dimension; with ``to_device`` each batch
    is moved to the active backend by ``ms.asarray``, else it stays a host array.
    Arguments are checked at the call, not at the first batch.
    """
    n = len(x)
    if len(y) != n:
        raise ValueError(f"x and y must have the same length, got {n} and {len(y)}")
    count = num_batches(n, batch_size, drop_last)
    if seed is not None and rng is not None:
        raise ValueError("pass seed or rng, not both")
    order = None
    if shuffle:
        order = (rng if rng is not None else np.random.default_rng(seed)).permutation(n)
    return _batches(x, y, batch_size, count, order, to_device)


def epoch_batches(
    dataset: Any,
    batch_size: int,
    *,
    seed: int,
    epoch: int,
    drop_last: bool = False,
    to_device: bool = True,
) -> Iterator[tuple[Any, Any]]:
    """The training batches of ``dataset`` for one epoch, in the order :func:`epoch_order`.

    Deterministic in ``(seed, epoch)``: calling it again (e.g. after a restart) yields the
    same batches. ``dataset`` is a :class:`~minimsam.data.Dataset` (``x_train``, ``y_train``).
    """
    rng = _epoch_rng(seed, epoch)
    return iterate_batches(
        dataset.x_train,
        dataset.y_train,
        batch_size,
        rng=rng,
        drop_last=drop_last,
        to_device=to_device,
    )


def _epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    for what, value in (("seed", seed), ("epoch", epoch)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{what} must be a non-negative int, got {value!r}")
    return np.random.default_rng([seed, epoch])


def _batches(x, y, batch_size, count, order, to_device) -> Iterator[tuple[Any, Any]]:
    for i in range(count):
        block = slice(i * batch_size, (i + 1) * batch_size)
        idx = block if order is None else order[block]
        yield _take(x, idx, to_device), _take(y, idx, to_device)


def _take(a: Any, idx: slice | np.ndarray, to_device: bool) -> Any:
    if not isinstance(a, np.ndarray):  # already a device array: index it on its device
        return a[idx] if isinstance(idx, slice) else a[ms.asarray(idx)]
    return ms.asarray(a[idx]) if to_device else a[idx]


def _check_batch_size(batch_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"batch_size must be an int, got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
