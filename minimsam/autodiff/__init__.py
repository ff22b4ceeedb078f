"""A small reverse-mode automatic differentiation engine on backend arrays.

It runs on NumPy and CuPy alike (every op uses the active backend's ``xp``) and
supports second derivatives (Hessian-vector products) because every backward pass
is written with the same differentiable ops.

Layout: :mod:`.tensor` (the tape), :mod:`.shapes`, :mod:`.elementwise`,
:mod:`.reductions`, :mod:`.nn_ops`, :mod:`.normalization` (the ops, forward and
backward side by side), :mod:`.transforms` (``value_and_grad``, ``grad``, ``hvp``),
:mod:`.check` (gradient checker).

Inputs of ``grad``, ``value_and_grad`` and ``hvp``: the parameters are floating arrays
(float32 or float64) or Python floats, alone or in a nested dict / list / tuple. A
Python float is treated as a 0-d float64 array, so ``grad(lambda x: x * x)(3.0)`` is
``6.0``. Integer, boolean and complex parameters are refused with a ``TypeError``,
Python ints included (``grad(f)(3)``: pass ``3.0``), because a gradient has its
parameter's dtype and an integer one would be truncated. Details in :mod:`.transforms`.
"""

from minimsam.autodiff import operators as _operators
from minimsam.autodiff.check import GradientCheckError, check_grads
from minimsam.autodiff.elementwise import (
    add,
    div,
    exp,
    log,
    maximum,
    mul,
    neg,
    power,
    relu,
    sigmoid,
    sub,
    tanh,
)
from minimsam.autodiff.nn_ops import (
    conv2d,
    im2col,
    linear,
    log_softmax,
    logsumexp,
    max_pool2d,
    softmax,
    softmax_cross_entropy,
)
from minimsam.autodiff.normalization import batch_norm, batch_stats
from minimsam.autodiff.reductions import matmul, max, mean, sum
from minimsam.autodiff.shapes import (
    broadcast_to,
    concatenate,
    getitem,
    reshape,
    sum_to,
    transpose,
)
from minimsam.autodiff.tensor import Function, Tensor, backprop, enable_grad, no_grad
from minimsam.autodiff.transforms import grad, hvp, tree_flatten, tree_unflatten, value_and_grad

_operators.install()

__all__ = [
    "Function", "Tensor", "backprop", "enable_grad", "no_grad",
    "value_and_grad", "grad", "hvp", "tree_flatten", "tree_unflatten",
    "check_grads", "GradientCheckError",
    "add", "sub", "mul", "div", "neg", "power", "exp", "log", "tanh", "sigmoid", "relu",
    "maximum", "sum", "mean", "max", "matmul", "logsumexp", "log_softmax", "softmax",
    "linear", "softmax_cross_entropy", "batch_norm", "batch_stats",
    "conv2d", "im2col", "max_pool2d", "reshape", "transpose", "broadcast_to", "sum_to",
    "getitem", "concatenate",
]  # fmt: skip
