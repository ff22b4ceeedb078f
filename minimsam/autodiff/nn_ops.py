"""Ops for neural networks: log-sum-exp, log-softmax, 2-D convolution and max pooling.

Convolution and pooling are built from one data-movement op, :func:`im2col`, plus
ordinary differentiable ops (reshape, transpose, matmul, max). Their gradients,
second-order ones included, therefore follow from those ops' gradients.
Images are ``(N, C, H, W)``; a convolution weight is ``(C_out, C_in, KH, KW)``
(the PyTorch layout).
"""

from __future__ import annotations

from typing import Any

from minimsam.autodiff.elementwise import add, exp, mul, sub
from minimsam.autodiff.reductions import Axis, _keepdims_shape, _normalize_axes, matmul
from minimsam.autodiff.reductions import max as max_reduce
from minimsam.autodiff.reductions import sum as sum_reduce
from minimsam.autodiff.shapes import broadcast_to, reshape, shape_of, transpose
from minimsam.autodiff.tensor import Function, Tensor
from minimsam.backend import get_backend

__all__ = [
    "logsumexp",
    "log_softmax",
    "softmax",
    "linear",
    "softmax_cross_entropy",
    "im2col",
    "conv2d",
    "max_pool2d",
]


class LogSumExp(Function):
    """``y = log(sum(exp(x), axis))``, computed as ``m + log(sum(exp(x - m)))`` with
    ``m = max(x)`` so that nothing overflows;  ``gx = gy * exp(x - y)`` (the softmax)."""

    def __init__(self, axis: Axis, keepdims: bool):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        xp = get_backend().xp
        self.x_shape = x.shape
        self.axes = _normalize_axes(self.axis, x.ndim)
        m = x.max(axis=self.axes, keepdims=True)
        y = m + xp.log(xp.exp(x - m).sum(axis=self.axes, keepdims=True))
        return (
            y
            if self.keepdims
            else y.reshape([n for i, n in enumerate(y.shape) if i not in self.axes])
        )

    def backward(self, gy, xs, y):
        kept = _keepdims_shape(self.x_shape, self.axes)
        softmax_x = exp(sub(xs[0], reshape(y, kept)))
        return (mul(broadcast_to(reshape(gy, kept), self.x_shape), softmax_x),)


def logsumexp(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    """``log(sum(exp(x), axis))``, numerically stable."""
    return LogSumExp(axis, keepdims)(x)


class LogSoftmax(Function):
    """``y = x - logsumexp(x, axis)``;  ``gx = gy - exp(y) * sum(gy, axis)``."""

    def __init__(self, axis: int):
        self.axis = axis

    def forward(self, x):
        return x - LogSumExp(self.axis, True).forward(x)

    def backward(self, gy, xs, y):
        total = sum_reduce(gy, self.axis, keepdims=True)
        return (sub(gy, mul(exp(y), total)),)


def log_softmax(x: Any, axis: int = -1) -> Any:
    """Log of the softmax along ``axis``: ``x - logsumexp(x, axis)``."""
    return LogSoftmax(axis)(x)


def softmax(x: Any, axis: int = -1) -> Any:
    """Softmax along ``axis``: ``exp(log_softmax(x))``."""
    return exp(log_softmax(x, axis))


# ------------------------------------------------------------------- fused layers and losses


class Linear(Function):
    """``y = x @ W + b`` for a batch ``x (N, in)``, ``W (in, out)``, ``b (out,)``; one op
    on the tape instead of a product and a broadcast sum::

        gx = gy @ W^T,    gW = x^T @ gy,    gb = sum_n gy[n]
    """

    def forward(self, x, w, b):
        y = get_backend().xp.matmul(x, w)
        if y.dtype != b.dtype:
            return y + b  # mixed dtypes: NumPy's promotion, never an in-place downcast
        y += b  # the product is a new array: add the bias into it
        return y

    def backward(self, gy, xs, y):
        x, w, _ = xs
        gx = matmul(gy, transpose(w)) if self.needs_grad[0] else None
        gw = matmul(transpose(x), gy) if self.needs_grad[1] else None
        gb = sum_reduce(gy, 0) if self.needs_grad[2] else None
        return gx, gw, gb


def linear(x: Any, weight: Any, bias: Any = None) -> Any:
    """``x @ weight + bias``; a 2-D ``x`` with a bias is one fused op (:class:`Linear`)."""
    if bias is None:
        return matmul(x, weight)
    if len(shape_of(x)) != 2 or len(shape_of(weight)) != 2 or len(shape_of(bias)) != 1:
        return add(matmul(x, weight), bias)
    return Linear()(x, weight, bias)


class SoftmaxCrossEntropy(Function):
    """``L = -(1/N) sum_n sum_k q[n,k] log p[n,k]`` with ``log p = log_softmax(x)`` over the
    classes, for logits ``x (N, K)`` and constant target distributions ``q (N, K)``
    (rows summing to 1). One op on the tape instead of seven::

        gx = gL * (p - q) / N

    On raw arrays the gradient is the backend's fused ``xent_grad`` applied to the saved
    ``log p``; on tensors (second order) it is written with differentiable ops.
    """

    def __init__(self, q: Any):
        self.q = q

    def forward(self, x):
        n = x.shape[0]
        self.logp = LogSoftmax(1).forward(x)
        return get_backend().kernels.dot(self.q, self.logp) * (-1.0 / n)

    def backward(self, gy, xs, y):
        n = shape_of(xs[0])[0]
        if not isinstance(gy, Tensor):  # first order: one fused kernel
            return (get_backend().kernels.xent_grad(self.logp, self.q, gy * (1.0 / n)),)
        p = softmax(xs[0], axis=1)
        return (mul(broadcast_to(reshape(gy * (1.0 / n), (1, 1)), shape_of(p)), sub(p, self.q)),)


def softmax_cross_entropy(logits: Any, q: Any) -> Any:
    """Batch mean of ``-sum_k q_k log softmax(logits)_k`` (``q`` a constant, rows sum to 1)."""
    return SoftmaxCrossEntropy(_plain(q))(logits)


def _plain(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


# --------------------------------------------------------------------------- convolutions


def _output_size(size: int, kernel: int, stride: int, pad: int) -> int:
    out = (size + 2 * pad - kernel) // stride + 1
    if out < 1:
        raise ValueError(
            f"kernel {kernel} with stride {stride} and padding {pad} does not fit an input "
            f"of size {size}"
        )
    return out


class Im2col(Function):
    """Unfold every ``KH x KW`` window of a zero-padded image into its own column.

    ``y[n, c, i, j, oh, ow] = x_padded[n, c, i + stride*oh, j + stride*ow]``, shape
    ``(N, C, KH, KW, OH, OW)``. Its gradient adds each column entry back to the
    pixel it came from (:class:`Col2im`).
    """

    def __init__(self, kernel: tuple[int, int], stride: int, pad: int):
        self.kernel, self.stride, self.pad = kernel, stride, pad

    def forward(self, x):
        xp = get_backend().xp
        n, c, h, w = x.shape
        kh, kw = self.kernel
        s, p = self.stride, self.pad
        self.x_shape = x.shape
        oh, ow = _output_size(h, kh, s, p), _output_size(w, kw, s, p)
        if p:
            x = xp.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        cols = xp.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)
        for i in range(kh):
            for j in range(kw):
                cols[:, :, i, j] = x[:, :, i : i + s * oh : s, j : j + s * ow : s]
        return cols

    def backward(self, gy, xs, y):
        return (Col2im(self.x_shape, self.kernel, self.stride, self.pad)(gy),)


class Col2im(Function):
    """The adjoint of :class:`Im2col`: add every column entry back onto its pixel."""

    def __init__(self, x_shape: tuple[int, ...], kernel: tuple[int, int], stride: int, pad: int):
        self.x_shape, self.kernel, self.stride, self.pad = x_shape, kernel, stride, pad

    def forward(self, cols):
        xp = get_backend().xp
        n, c, h, w = self.x_shape
        kh, kw = self.kernel
        s, p = self.stride, self.pad
        oh, ow = cols.shape[-2:]
        x = xp.zeros((n, c, h + 2 * p, w + 2 * p), dtype=cols.dtype)
        for i in range(kh):
            for j in range(kw):
                x[:, :, i : i + s * oh : s, j : j + s * ow : s] += cols[:, :, i, j]
        return x[:, :, p : p + h, p : p + w]

    def backward(self, gy, xs, y):
        return (Im2col(self.kernel, self.stride, self.pad)(gy),)


def im2col(x: Any, kernel: int | tuple[int, int], stride: int = 1, pad: int = 0) -> Any:
    """Windows of ``x`` (N, C, H, W) as an array of shape (N, C, KH, KW, OH, OW)."""
    kernel = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
    return Im2col(kernel, stride, pad)(x)


def conv2d(x: Any, weight: Any, bias: Any = None, stride: int = 1, padding: int = 0) -> Any:
    """2-D cross-correlation, as ``torch.nn.functional.conv2d``.

    ``y[n, o, a, b] = bias[o] + sum_{c,i,j} weight[o, c, i, j] * x_pad[n, c, s*a + i, s*b + j]``

    Shapes: ``x (N, C, H, W)``, ``weight (O, C, KH, KW)``, ``bias (O,)`` ->
    ``y (N, O, OH, OW)`` with ``OH = (H + 2*padding - KH) // stride + 1``.
    Computed as one matrix product of the unfolded windows with the flattened kernels.
    """
    n, c = shape_of(x)[:2]
    o, c_w, kh, kw = shape_of(weight)
    if c != c_w:
        raise ValueError(f"conv2d: input has {c} channels but the weight expects {c_w}")
    cols = im2col(x, (kh, kw), stride, padding)  # (N, C, KH, KW, OH, OW)
    oh, ow = shape_of(cols)[-2:]
    rows = reshape(transpose(cols, (0, 4, 5, 1, 2, 3)), (n * oh * ow, c * kh * kw))
    y = matmul(rows, transpose(reshape(weight, (o, c * kh * kw))))  # (N*OH*OW, O)
    if bias is not None:
        y = add(y, bias)
    return transpose(reshape(y, (n, oh, ow, o)), (0, 3, 1, 2))


def max_pool2d(x: Any, kernel_size: int = 2, stride: int | None = None) -> Any:
    """Max over each ``k x k`` window (no padding); ``stride`` defaults to ``k``.

    ``y[n, c, a, b] = max_{i,j < k} x[n, c, s*a + i, s*b + j]``; the gradient flows to the
    maximal entry of each window.
    """
    stride = kernel_size if stride is None else stride
    cols = im2col(x, kernel_size, stride, 0)  # (N, C, K, K, OH, OW)
    n, c, k1, k2, oh, ow = shape_of(cols)
    return max_reduce(reshape(cols, (n, c, k1 * k2, oh, ow)), axis=2)
