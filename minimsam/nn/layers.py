"""Layers: small objects that know their parameter shapes and how to apply them.

A layer holds hyperparameters only (sizes, stride, activation); its parameters live
in a dict that is passed in on every call, so a model is a pure function
``layer(params, x)``. This is what lets an optimizer evaluate the same model at a
perturbed copy of the weights without touching any object state.

A layer with running statistics (batch norm) is a pure function too, of its params,
its statistics and the mode: ``layer.apply(params, stats, x, train) -> (y, new_stats)``.
Every layer has ``apply``; for the others it is ``layer(params, x)`` with the
statistics passed through unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from minimsam import autodiff as ad
from minimsam.nn.init import INITIALIZERS

__all__ = [
    "Layer", "Linear", "Conv2d", "MaxPool2d", "Flatten", "Activation", "ACTIVATIONS",
    "BatchNorm1d", "BatchNorm2d",
]  # fmt: skip


class Layer:
    """Base class: no parameters, identity."""

    def init(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Host float64 arrays for this layer's parameters, by local name."""
        return {}

    def init_stats(self) -> dict[str, np.ndarray]:
        """Host float64 arrays for this layer's running statistics (none by default)."""
        return {}

    def __call__(self, params: dict[str, Any], x: Any) -> Any:
        return x

    def apply(self, params: dict[str, Any], stats: dict[str, Any], x: Any,
              train: bool) -> tuple[Any, dict[str, Any]]:  # fmt: skip
        """``(layer(params, x), stats)``: a layer without statistics ignores the mode."""
        return self(params, x), stats

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


class _BatchNorm(Layer):
    """Batch normalisation with the semantics of ``torch.nn.BatchNorm*d``.

    Params ``weight`` (ones) and ``bias`` (zeros), shape ``(C,)``, if ``affine``; running
    statistics ``running_mean`` (zeros) and ``running_var`` (ones), shape ``(C,)``.
    With ``m`` entries per channel in the batch (see :mod:`minimsam.autodiff.normalization`)::

        train=True:   y = batch_norm(x, mean_B, var_B)           var_B biased (/m)
                      running_mean <- (1 - momentum) running_mean + momentum mean_B
                      running_var  <- (1 - momentum) running_var
                                      + momentum var_B * m / (m - 1)   (unbiased)
        train=False:  y = batch_norm(x, running_mean, running_var), statistics unchanged

    The new statistics are returned, never stored: ``apply(params, stats, x, train)
    -> (y, new_stats)``. They are computed from the values only (no gradient flows
    through them), while ``y`` in training mode depends on ``x`` through the batch
    statistics too. Calling the layer as ``layer(params, x)`` is an error: it needs its
    statistics and the mode.
    """

    input_dims: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = True):  # fmt: skip
        if num_features < 1:
            raise ValueError(f"{type(self).__name__} needs num_features >= 1, got {num_features}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{type(self).__name__} momentum must be in [0, 1], got {momentum}")
        self.num_features, self.eps, self.momentum, self.affine = (
            num_features, eps, momentum, affine)  # fmt: skip

    def init(self, rng):
        if not self.affine:
            return {}
        return {"weight": np.ones(self.num_features), "bias": np.zeros(self.num_features)}

    def init_stats(self):
        return {"running_mean": np.zeros(self.num_features),
                "running_var": np.ones(self.num_features)}  # fmt: skip

    def __call__(self, params, x):
        raise ValueError(
            f"{type(self).__name__} needs its running statistics and the mode: call "
            f"model.apply(params, x, stats, train=...) instead of model(params, x)"
        )

    def _check_input(self, x: Any) -> int:
        """The number ``m`` of entries per channel; a one-line error for a wrong shape."""
        shape = tuple(x.shape)
        name = type(self).__name__
        if len(shape) not in self.input_dims or shape[1] != self.num_features:
            dims = " or ".join(f"{d}-D" for d in self.input_dims)
            raise ValueError(
                f"{name}({self.num_features}) expects a {dims} input (N, {self.num_features}, "
                f"...), got shape {shape}"
            )
        return int(np.prod(shape)) // self.num_features

    def apply(self, params, stats, x, train):
        m = self._check_input(x)
        weight, bias = params.get("weight"), params.get("bias")
        if not train:
            y = ad.batch_norm(x, stats["running_mean"], stats["running_var"], weight, bias,
                              self.eps)  # fmt: skip
            return y, stats
        if m < 2:
            raise ValueError(
                f"{type(self).__name__} in training mode needs more than 1 value per channel, "
                f"got input of shape {tuple(x.shape)}"
            )
        mean, var = ad.batch_stats(x)
        y = ad.batch_norm(x, mean, var, weight, bias, self.eps)
        return y, self._updated(stats, _value(mean), _value(var), m)

    def _updated(self, stats, mean, var, m):
        """The running statistics after one training batch (exponential moving averages)."""
        mom = self.momentum
        return {
            "running_mean": (1 - mom) * stats["running_mean"] + mom * mean,
            "running_var": (1 - mom) * stats["running_var"] + mom * var * (m / (m - 1)),
        }


def _value(x: Any) -> Any:
    """The raw array of a tensor (the statistics are values, not part of the graph)."""
    return x.data if isinstance(x, ad.Tensor) else x


class BatchNorm1d(_BatchNorm):
    """Batch norm over ``(N, C)`` or ``(N, C, L)`` inputs, per feature ``C`` (see above)."""

    input_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm over ``(N, C, H, W)`` images, per channel ``C`` (see above)."""

    input_dims = (4,)
