"""Elementwise ops with NumPy broadcasting.

For ``y = f(a, b)`` with broadcasting, the chain rule gives a gradient of the
broadcast shape; :func:`sum_to` sums it back to each input's own shape.
Each class states its forward and derivative; the lowercase function is the
public alias.
"""

from __future__ import annotations

from typing import Any

from minimsam.autodiff.shapes import shape_of, sum_to
from minimsam.autodiff.tensor import Function, Tensor
from minimsam.backend import get_backend

__all__ = [
    "add",
    "sub",
    "mul",
    "div",
    "neg",
    "power",
    "exp",
    "log",
    "tanh",
    "sigmoid",
    "relu",
    "maximum",
]


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


class _Binary(Function):
    """Records the input shapes so that gradients can be summed back to them."""

    def forward(self, a, b):
        self.shapes = (shape_of(a), shape_of(b))
        return self.compute(a, b)

    def compute(self, a, b):  # pragma: no cover - abstract
        raise NotImplementedError

    def _to_inputs(self, ga, gb):
        return (
            sum_to(ga, self.shapes[0]) if ga is not None else None,
            sum_to(gb, self.shapes[1]) if gb is not None else None,
        )


class Add(_Binary):
    """``y = a + b``;  ``ga = gy``,  ``gb = gy``."""

    def compute(self, a, b):
        return a + b

    def backward(self, gy, xs, y):
        return self._to_inputs(gy, gy)


class Sub(_Binary):
    """``y = a - b``;  ``ga = gy``,  ``gb = -gy``."""

    def compute(self, a, b):
        return a - b

    def backward(self, gy, xs, y):
        return self._to_inputs(gy, neg(gy) if self.needs_grad[1] else None)


class Mul(_Binary):
    """``y = a * b``;  ``ga = gy * b``,  ``gb = gy * a``."""

    def compute(self, a, b):
        return a * b

    def backward(self, gy, xs, y):
        a, b = xs
        return self._to_inputs(
            mul(gy, b) if self.needs_grad[0] else None,
            mul(gy, a) if self.needs_grad[1] else None,
        )


class Div(_Binary):
    """``y = a / b``;  ``ga = gy / b``,  ``gb = -gy * a / b**2 = -gy * y / b``."""

    def compute(self, a, b):
        return a / b

    def backward(self, gy, xs, y):
        a, b = xs
        return self._to_inputs(
            div(gy, b) if self.needs_grad[0] else None,
            neg(div(mul(gy, y), b)) if self.needs_grad[1] else None,
        )


class Power(_Binary):
    """``y = a ** b``;  ``ga = gy * b * a**(b-1)``,  ``gb = gy * y * log(a)``."""

    def compute(self, a, b):
        return a**b

    def backward(self, gy, xs, y):
        a, b = xs
        return self._to_inputs(
            mul(gy, mul(b, power(a, sub(b, 1)))) if self.needs_grad[0] else None,
            mul(gy, mul(y, log(a))) if self.needs_grad[1] else None,
        )


class Maximum(_Binary):
    """``y = max(a, b)``; the gradient goes to the larger input, split evenly on ties.

    ``ga = gy * [a > b] + gy/2 * [a == b]``, ``gb = gy - ga`` (before summing to shapes).
    """

    def compute(self, a, b):
        return get_backend().xp.maximum(a, b)

    def backward(self, gy, xs, y):
        a, b = (_data(x) for x in xs)
        dtype = _data(y).dtype
        share_a = (a > b).astype(dtype) + 0.5 * (a == b).astype(dtype)
        ga = mul(gy, share_a)
        return self._to_inputs(ga, sub(gy, ga) if self.needs_grad[1] else None)


class Neg(Function):
    """``y = -x``;  ``gx = -gy``."""

    def forward(self, x):
        return -x

    def backward(self, gy, xs, y):
        return (neg(gy),)


class Exp(Function):
    """``y = exp(x)``;  ``gx = gy * y``."""

    def forward(self, x):
        return get_backend().xp.exp(x)

    def backward(self, gy, xs, y):
        return (mul(gy, y),)


class Log(Function):
    """``y = log(x)``;  ``gx = gy / x``."""

    def forward(self, x):
        return get_backend().xp.log(x)

    def backward(self, gy, xs, y):
        return (div(gy, xs[0]),)


class Tanh(Function):
    """``y = tanh(x)``;  ``gx = gy * (1 - y**2)``."""

    def forward(self, x):
        return get_backend().xp.tanh(x)

    def backward(self, gy, xs, y):
        return (mul(gy, sub(1, mul(y, y))),)


class Sigmoid(Function):
    """``y = 1 / (1 + exp(-x))``, computed as ``(tanh(x/2) + 1)/2`` (no overflow);
    ``gx = gy * y * (1 - y)``."""

    def forward(self, x):
        return get_backend().xp.tanh(x * 0.5) * 0.5 + 0.5

    def backward(self, gy, xs, y):
        return (mul(gy, mul(y, sub(1, y))),)


class ReLU(Function):
    """``y = max(x, 0)``;  ``gx = gy * [x > 0] = gy * [y > 0]`` (the derivative at 0 is
    taken as 0). On raw arrays the backward is the backend's fused ``relu_grad``."""

    def forward(self, x):
        return get_backend().xp.maximum(x, 0)

    def backward(self, gy, xs, y):
        if not isinstance(gy, Tensor):  # first order: one fused kernel
            return (get_backend().kernels.relu_grad(gy, y),)
        x = _data(xs[0])
        return (mul(gy, (x > 0).astype(x.dtype)),)


def add(a: Any, b: Any) -> Any:
    """``a + b`` with broadcasting."""
    return Add()(a, b)


def sub(a: Any, b: Any) -> Any:
    """``a - b`` with broadcasting."""
    return Sub()(a, b)


def mul(a: Any, b: Any) -> Any:
    """``a * b`` with broadcasting."""
    return Mul()(a, b)


def div(a: Any, b: Any) -> Any:
    """``a / b`` with broadcasting."""
    return Div()(a, b)


def power(a: Any, b: Any) -> Any:
    """``a ** b`` with broadcasting (``b`` may be a constant or differentiable)."""
    return Power()(a, b)


def maximum(a: Any, b: Any) -> Any:
    """Elementwise maximum with broadcasting."""
    return Maximum()(a, b)


def neg(x: Any) -> Any:
    """``-x``."""
    return Neg()(x)


def exp(x: Any) -> Any:
    """``exp(x)``."""
    return Exp()(x)


def log(x: Any) -> Any:
    """Natural logarithm."""
    return Log()(x)


def tanh(x: Any) -> Any:
    """Hyperbolic tangent."""
    return Tanh()(x)


def sigmoid(x: Any) -> Any:
    """Logistic sigmoid ``1 / (1 + exp(-x))``."""
    return Sigmoid()(x)


def relu(x: Any) -> Any:
    """Rectified linear unit ``max(x, 0)``."""
    return ReLU()(x)
