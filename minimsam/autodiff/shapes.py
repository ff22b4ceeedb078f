"""Ops that move values around without arithmetic: reshape, transpose, broadcasting,
indexing, concatenation.

Their backward passes are the "inverse" data movements: a reshape's gradient is
reshaped back, a broadcast's gradient is summed back to the input shape, an
indexing's gradient is scattered back into zeros.
"""

from __future__ import annotations

from typing import Any

from minimsam.autodiff.tensor import Function, Tensor
from minimsam.backend import asarray, get_backend

__all__ = [
    "shape_of",
    "reshape",
    "transpose",
    "swap_last_axes",
    "broadcast_to",
    "sum_to",
    "getitem",
    "concatenate",
]


def shape_of(x: Any) -> tuple[int, ...]:
    """The shape of a tensor, an array, or ``()`` for a Python scalar."""
    return tuple(getattr(x, "shape", ()))


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


class Reshape(Function):
    """``y = x.reshape(shape)``;  ``gx = gy.reshape(x.shape)``."""

    def __init__(self, shape: tuple[int, ...]):
        self.shape = shape

    def forward(self, x):
        self.x_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, gy, xs, y):
        return (reshape(gy, self.x_shape),)


def reshape(x: Any, shape: tuple[int, ...]) -> Any:
    """Reshape ``x``; ``-1`` infers one dimension, as in NumPy."""
    shape = tuple(shape)
    if shape_of(x) == shape:
        return x
    return Reshape(shape)(x)


class Transpose(Function):
    """``y = x.transpose(axes)``;  ``gx = gy.transpose(argsort(axes))``."""

    def __init__(self, axes: tuple[int, ...] | None):
        self.axes = axes

    def forward(self, x):
        if self.axes is None:
            self.axes = tuple(reversed(range(x.ndim)))
        return x.transpose(self.axes)

    def backward(self, gy, xs, y):
        inverse = tuple(sorted(range(len(self.axes)), key=self.axes.__getitem__))
        return (transpose(gy, inverse),)


def transpose(x: Any, axes: tuple[int, ...] | None = None) -> Any:
    """Permute the axes of ``x`` (reverse them when ``axes`` is None)."""
    return Transpose(None if axes is None else tuple(axes))(x)


def swap_last_axes(x: Any) -> Any:
    """The matrix transpose of the last two axes (``x.mT``)."""
    n = len(shape_of(x))
    return transpose(x, tuple(range(n - 2)) + (n - 1, n - 2))


class BroadcastTo(Function):
    """``y = broadcast_to(x, shape)``;  ``gx = sum_to(gy, x.shape)``."""

    def __init__(self, shape: tuple[int, ...]):
        self.shape = shape

    def forward(self, x):
        self.x_shape = shape_of(x)
        return get_backend().xp.broadcast_to(x, self.shape)

    def backward(self, gy, xs, y):
        return (sum_to(gy, self.x_shape),)


def broadcast_to(x: Any, shape: tuple[int, ...]) -> Any:
    """Broadcast ``x`` to ``shape`` (NumPy rules)."""
    shape = tuple(shape)
    if shape_of(x) == shape:
        return x
    return BroadcastTo(shape)(x)


def _summed_axes(shape: tuple[int, ...], target: tuple[int, ...]) -> tuple[int, ...]:
    """Axes of ``shape`` that NumPy broadcasting created from ``target``."""
    lead = len(shape) - len(target)
    if lead < 0 or any(t not in (1, s) for s, t in zip(shape[lead:], target)):
        raise ValueError(f"cannot sum an array of shape {shape} down to shape {target}")
    stretched = tuple(lead + i for i, (s, t) in enumerate(zip(shape[lead:], target)) if t == 1)
    return tuple(range(lead)) + stretched


class SumTo(Function):
    """Sum the broadcast axes away: the adjoint of :func:`broadcast_to`.

    ``y = sum of x over the axes that broadcasting ``shape -> x.shape`` added``;
    ``gx = broadcast_to(gy, x.shape)``.
    """

    def __init__(self, shape: tuple[int, ...]):
        self.shape = shape

    def forward(self, x):
        self.x_shape = x.shape
        y = x.sum(axis=_summed_axes(x.shape, self.shape), keepdims=True)
        return y.reshape(self.shape)

    def backward(self, gy, xs, y):
        return (broadcast_to(gy, self.x_shape),)


def sum_to(x: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``x`` down to ``shape``; used to undo broadcasting in gradients."""
    shape = tuple(shape)
    if shape_of(x) == shape:
        return x
    return SumTo(shape)(x)


class GetItem(Function):
    """``y = x[index]`` (basic slicing or integer-array indexing).

    ``gx = zeros like x, with gy added at ``index`` (repeated indices accumulate)``.
    """

    def __init__(self, index: Any):
        self.index = index

    def forward(self, x):
        self.x_shape = x.shape
        return x[self.index]

    def backward(self, gy, xs, y):
        return (ScatterAdd(self.index, self.x_shape)(gy),)


class ScatterAdd(Function):
    """The adjoint of indexing: ``y = zeros(shape); y[index] += x`` (accumulating).

    Its own backward is indexing again: ``gx = gy[index]``.
    """

    def __init__(self, index: Any, shape: tuple[int, ...]):
        self.index, self.shape = index, shape

    def forward(self, x):
        backend = get_backend()
        y = backend.xp.zeros(self.shape, dtype=x.dtype)
        backend.scatter_add(y, self.index, x)
        return y

    def backward(self, gy, xs, y):
        return (getitem(gy, self.index),)


def _device_index(index: Any) -> Any:
    """Index arrays (and lists) go to the active backend, so that gathering and the
    scatter-add in the gradient both run on the device; ints and slices stay as they are."""
    if isinstance(index, tuple):
        return tuple(_device_index(i) for i in index)
    index = _data(index)
    if isinstance(index, list) or hasattr(index, "shape"):
        return asarray(index)
    return index


def getitem(x: Any, index: Any) -> Any:
    """``x[index]``; indices are plain ints, slices or integer arrays (not differentiated)."""
    return GetItem(_device_index(index))(x)


class Concatenate(Function):
    """``y = concatenate(xs, axis)``;  each ``gx_i`` is the matching slice of ``gy``."""

    def __init__(self, axis: int):
        self.axis = axis

    def forward(self, *xs):
        self.sizes = [x.shape[self.axis] for x in xs]
        return get_backend().xp.concatenate(xs, axis=self.axis)

    def backward(self, gy, xs, y):
        grads, start = [], 0
        ndim = len(shape_of(gy))
        axis = self.axis % ndim
        for size in self.sizes:
            index = (slice(None),) * axis + (slice(start, start + size),)
            grads.append(getitem(gy, index))
            start += size
        return tuple(grads)


def concatenate(xs: list[Any] | tuple[Any, ...], axis: int = 0) -> Any:
    """Join arrays along an existing axis."""
    return Concatenate(axis)(*xs)
