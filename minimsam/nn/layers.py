"""Layers: small objects that know their parameter shapes and how to apply them.

A layer holds hyperparameters only (sizes, stride, activation); its parameters live
in a dict that is passed in on every call, so a model is a pure function
``layer(params, x)``. This is what lets an optimizer evaluate the same model at a
perturbed copy of the weights without touching any object state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from minimsam import autodiff as ad
from minimsam.nn.init import INITIALIZERS

__all__ = ["Layer", "Linear", "Conv2d", "MaxPool2d", "Flatten", "Activation", "ACTIVATIONS"]


class Layer:
    """Base class: no parameters, identity."""

    def init(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Host float64 arrays for this layer's parameters, by local name."""
        return {}

    def __call__(self, params: dict[str, Any], x: Any) -> Any:
        return x

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


def _initializer(name: str) -> Callable:
    if name not in INITIALIZERS:
        raise ValueError(f"unknown initializer {name!r}; choose from {sorted(INITIALIZERS)}")
    return INITIALIZERS[name]


class Linear(Layer):
    """``y = x @ W + b`` with ``W`` of shape ``(in_features, out_features)``, ``b`` ``(out,)``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 init: str = "he_normal"):  # fmt: skip
        if in_features < 1 or out_features < 1:
            raise ValueError(f"Linear sizes must be positive, got {in_features}, {out_features}")
        self.in_features, self.out_features, self.bias, self.weight_init = (
            in_features, out_features, bias, init)  # fmt: skip
        _initializer(init)

    def init(self, rng):
        n_in, n_out = self.in_features, self.out_features
        params = {"weight": _initializer(self.weight_init)(rng, (n_in, n_out), n_in, n_out)}
        if self.bias:
            params["bias"] = np.zeros(n_out)
        return params

    def __call__(self, params, x):
        if x.shape[-1] != self.in_features:
            raise ValueError(
                f"Linear({self.in_features}, {self.out_features}) got input of shape "
                f"{tuple(x.shape)}: its last dimension must be {self.in_features}"
            )
        return ad.linear(x, params["weight"], params["bias"] if self.bias else None)


class Conv2d(Layer):
    """2-D convolution (see :func:`minimsam.autodiff.conv2d`); weight ``(out, in, k, k)``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 stride: int = 1, padding: int = 0, init: str = "he_normal"):  # fmt: skip
        self.in_channels, self.out_channels, self.kernel_size = (
            in_channels, out_channels, kernel_size)  # fmt: skip
        self.stride, self.padding, self.weight_init = stride, padding, init
        _initializer(init)

    def init(self, rng):
        k = self.kernel_size
        shape = (self.out_channels, self.in_channels, k, k)
        fan_in, fan_out = self.in_channels * k * k, self.out_channels * k * k
        weight = _initializer(self.weight_init)(rng, shape, fan_in, fan_out)
        return {"weight": weight, "bias": np.zeros(self.out_channels)}

    def __call__(self, params, x):
        y = ad.conv2d(x, params["weight"], None, self.stride, self.padding)
        return ad.add(y, ad.reshape(params["bias"], (1, self.out_channels, 1, 1)))


class MaxPool2d(Layer):
    """Max over ``k x k`` windows with stride ``k`` (default)."""

    def __init__(self, kernel_size: int = 2, stride: int | None = None):
        self.kernel_size, self.stride = kernel_size, stride

    def __call__(self, params, x):
        return ad.max_pool2d(x, self.kernel_size, self.stride)


class Flatten(Layer):
    """``(N, ...) -> (N, prod(...))``."""

    def __call__(self, params, x):
        return ad.reshape(x, (x.shape[0], -1))


ACTIVATIONS: dict[str, Callable] = {
    "relu": ad.relu,
    "tanh": ad.tanh,
    "sigmoid": ad.sigmoid,
}


class Activation(Layer):
    """An elementwise nonlinearity by name: ``relu``, ``tanh`` or ``sigmoid``."""

    def __init__(self, name: str):
        if name not in ACTIVATIONS:
            raise ValueError(f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)}")
        self.name = name
        self._fn = ACTIVATIONS[name]

    def __call__(self, params, x):
        return self._fn(x)
