"""Batch normalisation: per-channel batch statistics and the normalisation itself.

For ``x`` of shape ``(N, C)`` or ``(N, C, *spatial)`` the statistics are per channel
``c``, over the axes ``A = (0, 2, 3, ...)``, each from ``m = N * prod(spatial)`` entries::

    mean_c = (1/m) sum_A x                                   (batch_stats)
    var_c  = (1/m) sum_A (x - mean_c)^2                      (biased: it normalises)
    y      = weight_c * (x - mean_c) / sqrt(var_c + eps) + bias_c      (batch_norm)

Both are written with the autodiff's own ops (mean, sub, mul, power, add), so in
training mode, where ``mean`` and ``var`` come from ``batch_stats(x)``, the gradient
flows through the batch statistics as well, and second derivatives come for free. The
closed form this reproduces, with ``xhat = (x - mean) / sqrt(var + eps)`` and
``g = dL/dy * weight``, is::

    dL/dx = (1 / sqrt(var + eps)) * (g - mean_A(g) - xhat * mean_A(g * xhat))

In evaluation mode ``mean`` and ``var`` are the running statistics, constants. The
running statistics themselves are not the business of these ops: see
:class:`minimsam.nn.BatchNorm1d`.
"""

from __future__ import annotations

from typing import Any

from minimsam.autodiff.elementwise import add, mul, power, sub
from minimsam.autodiff.reductions import mean as mean_reduce
from minimsam.autodiff.shapes import reshape, shape_of

__all__ = ["batch_norm", "batch_stats", "channel_axes"]


def channel_axes(ndim: int) -> tuple[int, ...]:
    """The axes statistics are taken over: all but the channel axis 1."""
    if ndim < 2:
        raise ValueError(f"batch norm needs an input of shape (N, C, ...), got {ndim} dimensions")
    return (0, *range(2, ndim))


def _per_channel(v: Any, ndim: int) -> Any:
    """A ``(C,)`` vector reshaped to ``(1, C, 1, ...)`` to broadcast against the input."""
    return reshape(v, (1, -1) + (1,) * (ndim - 2))


def batch_stats(x: Any) -> tuple[Any, Any]:
    """``(mean_c, var_c)`` of ``x`` per channel, shape ``(C,)``; ``var`` is the biased one."""
    ndim = len(shape_of(x))
    axes = channel_axes(ndim)
    mean = mean_reduce(x, axes)
    centered = sub(x, _per_channel(mean, ndim))
    return mean, mean_reduce(mul(centered, centered), axes)


def batch_norm(x: Any, mean: Any, var: Any, weight: Any = None, bias: Any = None,
               eps: float = 1e-5) -> Any:  # fmt: skip
    """``weight_c * (x - mean_c) / sqrt(var_c + eps) + bias_c``; ``mean``, ``var``,
    ``weight``, ``bias`` have shape ``(C,)`` (``weight``/``bias`` None: 1 and 0)."""
    ndim = len(shape_of(x))
    channel_axes(ndim)
    inv_std = power(add(var, eps), -0.5)  # 1 / sqrt(var_c + eps)
    y = mul(sub(x, _per_channel(mean, ndim)), _per_channel(inv_std, ndim))
    if weight is not None:
        y = mul(y, _per_channel(weight, ndim))
    if bias is not None:
        y = add(y, _per_channel(bias, ndim))
    return y
