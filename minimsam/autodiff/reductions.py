"""Reductions over axes: sum, mean, max, and the matrix product.

A reduction's gradient is the upstream gradient broadcast back over the reduced
axes (times the derivative of the reduction itself).
"""

from __future__ import annotations

from typing import Any

from minimsam.autodiff.elementwise import div, mul
from minimsam.autodiff.shapes import broadcast_to, reshape, shape_of, sum_to, swap_last_axes
from minimsam.autodiff.tensor import Function, Tensor
from minimsam.backend import get_backend

__all__ = ["sum", "mean", "max", "matmul"]

Axis = int | tuple[int, ...] | None


def _normalize_axes(axis: Axis, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(sorted(a % ndim for a in axes))


def _keepdims_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _expand_back(gy: Any, x_shape: tuple[int, ...], axes: tuple[int, ...]) -> Any:
    """Broadcast the gradient of a reduction back to the shape of its input."""
    return broadcast_to(reshape(gy, _keepdims_shape(x_shape, axes)), x_shape)


class Sum(Function):
    """``y = sum(x, axis)``;  ``gx = gy`` broadcast back over the summed axes."""

    def __init__(self, axis: Axis, keepdims: bool):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.x_shape = shape_of(x)
        self.axes = _normalize_axes(self.axis, len(self.x_shape))
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy, xs, y):
        return (_expand_back(gy, self.x_shape, self.axes),)


class Max(Function):
    """``y = max(x, axis)``; the gradient flows to the maximal entries, split evenly on ties:
    ``gx = gy * [x == y] / (number of maximal entries)``."""

    def __init__(self, axis: Axis, keepdims: bool):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.x_shape = shape_of(x)
        self.axes = _normalize_axes(self.axis, len(self.x_shape))
        return x.max(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy, xs, y):
        x = xs[0].data if isinstance(xs[0], Tensor) else xs[0]
        y = y.data if isinstance(y, Tensor) else y
        is_max = x == y.reshape(_keepdims_shape(self.x_shape, self.axes))
        share = is_max / is_max.sum(axis=self.axes, keepdims=True)
        return (mul(_expand_back(gy, self.x_shape, self.axes), share.astype(x.dtype)),)


def sum(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:  # noqa: A001
    """Sum over ``axis`` (all axes when None)."""
    return Sum(axis, keepdims)(x)


def mean(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    """Mean over ``axis``: ``sum(x, axis) / n`` with ``n`` the number of summed entries."""
    shape = shape_of(x)
    count = 1
    for a in _normalize_axes(axis, len(shape)):
        count *= shape[a]
    return div(sum(x, axis, keepdims), count)


def max(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:  # noqa: A001
    """Maximum over ``axis`` (all axes when None)."""
    return Max(axis, keepdims)(x)


class MatMul(Function):
    """``y = a @ b`` (NumPy ``matmul`` semantics, batch dimensions broadcast).

    ``ga = gy @ b^T``,  ``gb = a^T @ gy``, each summed back over broadcast batch axes.
    A 1-D operand is treated as a row (``a``) or column (``b``) vector, as NumPy does.
    """

    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError("matmul needs arrays with at least one dimension; use mul for scalars")
        if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
            raise ValueError(
                f"matmul shape mismatch: {a.shape} @ {b.shape} (inner dimensions "
                f"{a.shape[-1]} and {b.shape[-2 if b.ndim > 1 else 0]} differ)"
            )
        self.shapes = (a.shape, b.shape)
        return get_backend().xp.matmul(a, b)

    def backward(self, gy, xs, y):
        a, b = xs
        a_shape, b_shape = self.shapes
        if len(a_shape) == 1:  # (k,) -> (1, k); gy gains the row axis back
            a = reshape(a, (1,) + a_shape)
            gy = reshape(gy, shape_of(gy)[:-1] + (1,) + shape_of(gy)[-1:])
        if len(b_shape) == 1:  # (k,) -> (k, 1); gy gains the column axis back
            b = reshape(b, b_shape + (1,))
            gy = reshape(gy, shape_of(gy) + (1,))
        ga = gb = None
        if self.needs_grad[0]:
            ga = reshape(sum_to(matmul(gy, swap_last_axes(b)), shape_of(a)), a_shape)
        if self.needs_grad[1]:
            gb = reshape(sum_to(matmul(swap_last_axes(a), gy), shape_of(b)), b_shape)
        return ga, gb


def matmul(a: Any, b: Any) -> Any:
    """Matrix product ``a @ b``."""
    return MatMul()(a, b)
