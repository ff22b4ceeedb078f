"""Fused array kernels, chosen by the backend: one pass over memory per equation.

A training step is a few dozen array expressions. On a CPU each NumPy call is cheap;
on a GPU each call is a kernel launch with a fixed cost of several microseconds, so an
expression like ``a * x + y`` (two launches and a temporary) costs twice what it needs
to. The functions here are the few expressions that the optimizers and the autodiff
evaluate on every step, each stated as its equation:

===========================  ==================================================
``axpy(a, x, y)``            ``a * x + y``
``sumsq(arrays)``            ``sum_k sum(arrays[k] ** 2)`` (a 0-d array, no host sync)
``sumsq_segments(x, sizes)`` ``sum(x ** 2)`` of a 1-D buffer holding tensors of
                             ``sizes`` entries one after the other (a 0-d array)
``over_norm(a, ss, eps)``    ``a / (sqrt(ss) + eps)`` on a 0-d ``ss``
``dot(x, y)``       ``sum(x * y)`` over all entries (a 0-d array)
``relu_grad(gy, y)``          ``gy * [y > 0]``  (the gradient through a ReLU with output y)
``xent_grad(logp, q, scale)`` ``scale * (exp(logp) - q)``  (cross-entropy via log-softmax)
===========================  ==================================================

``sumsq_segments`` is how the optimizers' global norm reads a flat parameter buffer
(:mod:`minimsam.optim.flat`): the NumPy version takes one dot product per tensor and adds
them in order, exactly the rounding of ``sumsq`` over the separate tensors; the CUDA
version is one reduction over the whole buffer (a GPU reduction rounds in its own order
anyway).

:class:`Kernels` holds one implementation of each. The NumPy one (:func:`array_kernels`)
is the reference, written with ordinary array code through ``xp``; it also serves the
``fakegpu`` test backend, whose arrays are NumPy underneath. The CuPy one
(:func:`cupy_kernels`) computes each equation in a single CUDA kernel
(``cupy.ElementwiseKernel`` / ``cupy.ReductionKernel``) and falls back to the array
code for inputs it does not cover (mixed dtypes). ``get_backend().kernels`` is the
active one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

__all__ = ["Kernels", "array_kernels", "cupy_kernels"]


@dataclass(frozen=True)
class Kernels:
    """The fused expressions of one backend (see the module docstring for each equation)."""

    axpy: Callable[[Any, Any, Any], Any]
    sumsq: Callable[[Sequence[Any]], Any]
    sumsq_segments: Callable[[Any, Sequence[int]], Any]
    over_norm: Callable[[Any, Any, float], Any]
    dot: Callable[[Any, Any], Any]
    relu_grad: Callable[[Any, Any], Any]
    xent_grad: Callable[[Any, Any, Any], Any]


# ----------------------------------------------------------------------------- array code


def array_kernels(xp: ModuleType) -> Kernels:
    """The reference kernels, written with ``xp`` (NumPy, or the fakegpu double)."""

    def axpy(a, x, y):
        """``a * x + y``: one new array (``a * x``), then ``y`` added into it in place."""
        fresh = a * x
        if fresh.dtype != getattr(y, "dtype", fresh.dtype):
            return fresh + y  # mixed dtypes: NumPy's promotion, never an in-place downcast
        fresh += y
        return fresh

    def sumsq(arrays):
        """``sum_k sum(x_k ** 2)``, one BLAS dot product per array, no temporaries."""
        total = None
        for x in arrays:
            flat = x.reshape(-1)
            sq = xp.vdot(flat, flat)
            total = sq if total is None else total + sq
        return total

    def sumsq_segments(x, sizes):
        """``sum(x ** 2)``: one BLAS dot product per segment, added in order (as ``sumsq``)."""
        total, start = None, 0
        for size in sizes:
            segment = x[start : start + size]
            sq = xp.vdot(segment, segment)
            total = sq if total is None else total + sq
            start += size
        return total

    def over_norm(a, ss, eps):
        """``a / (sqrt(ss) + eps)``."""
        return a / (xp.sqrt(ss) + eps)

    def dot(x, y):
        """``sum(x * y)``, one BLAS dot product."""
        return xp.vdot(x.reshape(-1), y.reshape(-1))

    def relu_grad(gy, y):
        """``gy * [y > 0]``."""
        return gy * (y > 0)

    def xent_grad(logp, q, scale):
        """``scale * (exp(logp) - q)``, computed in the one new array ``exp(logp)``."""
        g = xp.exp(logp)
        g -= q
        g *= scale
        return g

    return Kernels(axpy=axpy, sumsq=sumsq, sumsq_segments=sumsq_segments, over_norm=over_norm,
                   dot=dot, relu_grad=relu_grad, xent_grad=xent_grad)  # fmt: skip


# ----------------------------------------------------------------------------- CUDA kernels


def cupy_kernels(cupy: ModuleType) -> Kernels:
    """Each equation as one CUDA kernel, compiled by CuPy on first use."""
    fallback = array_kernels(cupy)
    axpy_k = cupy.ElementwiseKernel("T a, T x, T y", "T z", "z = a * x + y", "minimsam_axpy")
    sumsq_k = cupy.ReductionKernel("T x", "T s", "x * x", "a + b", "s = a", "0", "minimsam_sumsq")
    dot_k = cupy.ReductionKernel("T x, T y", "T s", "x * y", "a + b", "s = a", "0", "minimsam_dot")
    relu_grad_k = cupy.ElementwiseKernel(
        "T gy, T y", "T gx", "gx = gy * (T)(y > (T)0)", "minimsam_relu_grad"
    )
    xent_grad_k = cupy.ElementwiseKernel(
        "T logp, T q, T scale", "T g", "g = (exp(logp) - q) * scale", "minimsam_xent_grad"
    )
    over_norm_k = cupy.ElementwiseKernel(
        "T ss, T a, T eps", "T r", "r = a / (sqrt(ss) + eps)", "minimsam_over_norm"
    )

    def same_dtype(*arrays):
        first = arrays[0].dtype
        return all(getattr(a, "dtype", first) == first for a in arrays)

    def axpy(a, x, y):
        if not same_dtype(x, y, a):
            return fallback.axpy(a, x, y)
        if not hasattr(a, "dtype"):
            a = x.dtype.type(a)  # a number in the arrays' dtype, as NumPy would cast it
        return axpy_k(a, x, y)

    def sumsq(arrays):
        arrays = list(arrays)
        if not same_dtype(*arrays):
            return fallback.sumsq(arrays)
        # one reduction per array, then one kernel adding the partial sums
        partial = [sumsq_k(x) for x in arrays]
        return partial[0] if len(partial) == 1 else _adder(cupy, len(partial))(*partial)

    def sumsq_segments(x, sizes):
        return sumsq_k(x)  # one reduction over the whole buffer

    def over_norm(a, ss, eps):
        if hasattr(a, "dtype"):
            return fallback.over_norm(a, ss, eps)
        return over_norm_k(ss, ss.dtype.type(a), ss.dtype.type(eps))  # as NumPy casts numbers

    def dot(x, y):
        if not same_dtype(x, y):
            return fallback.dot(x, y)
        return dot_k(x, y)

    def relu_grad(gy, y):
        if not same_dtype(gy, y):
            return fallback.relu_grad(gy, y)
        return relu_grad_k(gy, y)

    def xent_grad(logp, q, scale):
        if not same_dtype(logp, q, scale):
            return fallback.xent_grad(logp, q, scale)
        return xent_grad_k(logp, q, scale)

    return Kernels(axpy=axpy, sumsq=sumsq, sumsq_segments=sumsq_segments, over_norm=over_norm,
                   dot=dot, relu_grad=relu_grad, xent_grad=xent_grad)  # fmt: skip


_ADDERS: dict[int, Any] = {}


def _adder(cupy: ModuleType, n: int) -> Any:
    """An elementwise kernel ``s = x0 + x1 + ... + x{n-1}``, built once per ``n``."""
    if n not in _ADDERS:
        names = [f"x{i}" for i in range(n)]
        _ADDERS[n] = cupy.ElementwiseKernel(
            ", ".join(f"T {v}" for v in names), "T s", "s = " + " + ".join(names),
            f"minimsam_add{n}",
        )  # fmt: skip
    return _ADDERS[n]
