"""Gradient checking against central finite differences.

For a function ``f`` of several arrays with output of any shape, draw a random
upstream gradient ``u`` with the shape of ``f(x)`` and check the vector-Jacobian
product of the scalar ``L(x) = sum(f(x) * u)``:

    analytic:  dL/dx_i[k]  from reverse mode
    numeric:   (L(x + h e_k) - L(x - h e_k)) / (2 h)      for every entry k of every x_i

A random ``u`` (rather than all ones) catches backward passes that permute or
mix up output entries; all-ones cotangents hide them.
With ``order=2`` the gradient function itself is checked the same way, which
exercises double backward.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minimsam.autodiff.elementwise import mul
from minimsam.autodiff.reductions import sum as sum_reduce
from minimsam.autodiff.shapes import concatenate, reshape
from minimsam.autodiff.tensor import Tensor, backprop, enable_grad
from minimsam.autodiff.transforms import grad
from minimsam.backend import asarray, to_numpy

__all__ = ["check_grads", "GradientCheckError"]


class GradientCheckError(AssertionError):
    """Reverse-mode gradients disagree with finite differences."""


def _scalarized(fun: Callable, cotangent: Any) -> Callable:
    def loss(xs: list[Any]) -> Any:
        return sum_reduce(mul(fun(*xs), cotangent))

    return loss


def _numeric_grad(loss: Callable, xs: list[Any], i: int, eps: float) -> np.ndarray:
    """Central differences of ``loss`` with respect to every entry of ``xs[i]``."""
    base = to_numpy(xs[i]).astype(np.float64)
    numeric = np.zeros_like(base)
    for k in np.ndindex(base.shape):
        values = []
        for sign in (1.0, -1.0):
            shifted = base.copy()
            shifted[k] += sign * eps
            trial = list(xs)
            trial[i] = asarray(shifted)
            values.append(float(to_numpy(loss(trial))))
        numeric[k] = (values[0] - values[1]) / (2 * eps)
    return numeric


def _compare(analytic: np.ndarray, numeric: np.ndarray, i: int, rtol: float, atol: float) -> None:
    error = np.abs(analytic - numeric)
    bound = atol + rtol * np.abs(numeric)
    if np.all(error <= bound):
        return
    worst = np.unravel_index(np.argmax(error - bound), error.shape) if error.ndim else ()
    raise GradientCheckError(
        f"gradient of argument {i} (shape {analytic.shape}) is wrong: at index {worst} "
        f"reverse mode gives {analytic[worst]:.8g} but finite differences give "
        f"{numeric[worst]:.8g} (|diff| {error[worst]:.3g} > tolerance {bound[worst]:.3g}); "
        f"{int(np.sum(error > bound))} of {error.size} entries fail"
    )


def check_grads(
    fun: Callable,
    args: Sequence[Any],
    *,
    order: int = 1,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-7,
    seed: int = 0,
) -> None:
    """Raise :class:`GradientCheckError` unless reverse mode matches finite differences.

    ``fun(*args)`` returns an array of any shape; ``args`` are float64 arrays of the
    active backend (or host arrays, moved there). Every argument is checked.
    ``order=2`` also checks the gradient of the gradient (double backward).
    """
    rng = np.random.default_rng(seed)
    xs = [asarray(np.asarray(to_numpy(a), dtype=np.float64)) for a in args]
    out_shape = np.shape(to_numpy(fun(*xs)))
    cotangent = asarray(rng.standard_normal(out_shape))
    loss = _scalarized(fun, cotangent)
    analytic = grad(loss)(xs)
    for i in range(len(xs)):
        _compare(to_numpy(analytic[i]), _numeric_grad(loss, xs, i, eps), i, rtol, atol)
    if order >= 2:

        def gradient_of_loss(*ys: Any) -> Any:
            gs = _gradient_tensors(loss, list(ys))
            return concatenate([reshape(g, (-1,)) for g in gs])

        check_grads(
            gradient_of_loss, xs, order=order - 1, eps=eps, rtol=rtol, atol=atol, seed=seed + 1
        )


def _gradient_tensors(loss: Callable, xs: list[Any]) -> list[Any]:
    """Gradients of ``loss`` w.r.t. ``xs`` kept as a recorded graph (for double backward)."""
    inputs = [x if isinstance(x, Tensor) else Tensor(x, requires_grad=True) for x in xs]
    with enable_grad():
        out = loss(inputs)
        grads = backprop(out, inputs, create_graph=True)
    return [g if g is not None else mul(x, 0.0) for g, x in zip(grads, inputs)]
