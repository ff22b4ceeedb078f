"""Models: a :class:`Sequential` stack of layers, and the two models minimsam ships.

Parameters live in an ordered dict named like PyTorch's ``nn.Sequential``
state dict (``"0.weight"``, ``"0.bias"``, ``"2.weight"``, ...): layer order, weight
before bias. A model is a pure function ``model(params, x)``; it works on plain
arrays (returns an array) and inside ``value_and_grad`` (returns a tensor).

Models with batch norm (``MLP(..., batchnorm=True)``, ``SmallCNN(batchnorm=True)``)
also have running statistics, explicit state kept apart from the params (the
optimizer never sees them), named like PyTorch's buffers (``"1.running_mean"``,
``"1.running_var"``)::

    params, stats = model.init(seed=0), model.init_stats()
    logits, stats = model.apply(params, x, stats, train=True)    # batch statistics,
                                                                 # updated running ones
    logits, _ = model.apply(params, x, stats, train=False)       # running statistics
    evaluate_fn = model.eval_with(stats)     # (params, x) -> logits, evaluation mode

``model(params, x)`` on such a model is a one-line error pointing to ``apply``: the
mode is never implicit. For a model without batch norm ``apply`` works too, with
``stats = {}`` passed through.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minimsam.backend import asarray
from minimsam.nn.layers import (
    Activation,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    Flatten,
    Layer,
    Linear,
    MaxPool2d,
)

__all__ = ["Sequential", "MLP", "SmallCNN"]

_DTYPES = {"float32": np.float32, "float64": np.float64}


class Sequential:
    """Apply layers in order: ``model(params, x) = layer_n(... layer_1(x))``."""

    def __init__(self, layers: list[Layer]):
        self.layers = list(layers)

    def init(self, seed: int = 0, dtype: str | type = "float32") -> dict[str, Any]:
        """Fresh parameters on the active backend, identical on every backend for a seed."""
        dtype = _float_dtype(dtype)
        rng = np.random.default_rng(seed)
        params = {}
        for i, layer in enumerate(self.layers):
            for name, value in layer.init(rng).items():
                params[f"{i}.{name}"] = asarray(value.astype(dtype))
        return params

    def init_stats(self, dtype: str | type = "float32") -> dict[str, Any]:
        """Fresh running statistics (means 0, variances 1); ``{}`` without batch norm."""
        dtype = _float_dtype(dtype)
        return {f"{i}.{name}": asarray(value.astype(dtype))
                for i, layer in enumerate(self.layers)
                for name, value in layer.init_stats().items()}  # fmt: skip

    @property
    def has_stats(self) -> bool:
        """Whether the model keeps running statistics (has a batch-norm layer)."""
        return any(layer.init_stats() for layer in self.layers)

    def __call__(self, params: dict[str, Any], x: Any) -> Any:
        if self.has_stats:
            raise ValueError(
                "this model has batch norm: call model.apply(params, x, stats, train=...) "
                "-> (logits, new_stats), or model.eval_with(stats)(params, x)"
            )
        for layer, names in zip(self.layers, self._split(tuple(params))):
            x = layer({local: params[full] for local, full in names}, x)
        return x

    def apply(self, params: dict[str, Any], x: Any, stats: dict[str, Any] | None = None, *,
              train: bool) -> tuple[Any, dict[str, Any]]:  # fmt: skip
        """``(logits, new_stats)``: the model in training mode (batch statistics, running
        statistics updated) or evaluation mode (running statistics, returned unchanged).

        ``stats`` as from :meth:`init_stats` (may be omitted for a model without batch
        norm); the input dict is never modified.
        """
        if train not in (True, False):
            raise ValueError(f"train must be True or False, got {train!r}")
        if stats is None:
            stats = {}
        missing = [k for k in self._stats_names() if k not in stats]
        if missing:
            raise ValueError(
                f"stats lacks {', '.join(missing)}: pass the model's running statistics "
                f"(model.init_stats() to start)"
            )
        new_stats = {}
        for i, layer in enumerate(self.layers):
            x, own = layer.apply(_own(params, i), _own(stats, i), x, train)
            new_stats.update({f"{i}.{k}": v for k, v in own.items()})
        return x, new_stats

    def eval_with(self, stats: dict[str, Any]):
        """``(params, x) -> logits`` in evaluation mode with the running statistics ``stats``:
        what evaluation code written for ``model(params, x)`` needs."""

        def evaluation_mode(params: dict[str, Any], x: Any) -> Any:
            return self.apply(params, x, stats, train=False)[0]

        return evaluation_mode

    def _stats_names(self) -> list[str]:
        return [f"{i}.{k}" for i, layer in enumerate(self.layers) for k in layer.init_stats()]

    def _split(self, keys: tuple[str, ...]) -> list[list[tuple[str, str]]]:
        """Per layer ``i``, the ``(local name, "i.name")`` pairs among ``keys``; worked out
        once per key set and remembered, since every call passes the same keys."""
        cached = getattr(self, "_split_cache", None)
        if cached is None or cached[0] != keys:
            split = [[(k[len(f"{i}.") :], k) for k in keys if k.startswith(f"{i}.")]
                     for i in range(len(self.layers))]  # fmt: skip
            self._split_cache = cached = (keys, split)
        return cached[1]

    def num_params(self, params: dict[str, Any]) -> int:
        """Total number of scalar parameters."""
        return sum(int(np.prod(v.shape)) for v in params.values())

    def __repr__(self) -> str:
        inner = "\n".join(f"  ({i}) {layer!r}" for i, layer in enumerate(self.layers))
        return f"{type(self).__name__}(\n{inner}\n)"


def _float_dtype(dtype: str | type) -> np.dtype:
    dtype = np.dtype(_DTYPES.get(dtype, dtype) if isinstance(dtype, str) else dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"parameters must be float32 or float64, not {dtype}")
    return dtype


def _own(tree: dict[str, Any], i: int) -> dict[str, Any]:
    """The entries of layer ``i``, by local name (``"3.weight"`` -> ``"weight"``)."""
    prefix = f"{i}."
    return {k[len(prefix) :]: v for k, v in tree.items() if k.startswith(prefix)}


class MLP(Sequential):
    """Fully connected network ``sizes[0] -> sizes[1] -> ... -> sizes[-1]``.

    Hidden layers are followed by ``activation``; the last layer outputs logits.
    Weights use He initialisation for ReLU and Glorot for tanh/sigmoid; biases start at 0.
    ``batchnorm=True`` puts a :class:`BatchNorm1d` between each hidden linear layer and its
    activation; the model then has running statistics (module docstring: use ``apply``).
    """

    def __init__(self, sizes: list[int], activation: str = "relu", batchnorm: bool = False):
        if len(sizes) < 2:
            raise ValueError(f"an MLP needs at least an input and an output size, got {sizes}")
        init = "he_normal" if activation == "relu" else "glorot_uniform"
        layers: list[Layer] = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers.append(Linear(n_in, n_out, init=init))
            layers += [BatchNorm1d(n_out)] if batchnorm else []
            layers.append(Activation(activation))
        layers.pop()  # the output layer: logits, no activation
        if batchnorm:
            layers.pop()  # and no batch norm
        super().__init__(layers)
        self.sizes, self.activation, self.batchnorm = list(sizes), activation, batchnorm


class SmallCNN(Sequential):
    """A small CNN for ``image_size x image_size`` images (28 for MNIST-style data).

    The layers::

        conv3x3(c1) - relu - maxpool2 - conv3x3(c2) - relu - maxpool2 - flatten
        - linear(hidden) - relu - linear(num_classes)

    ``batchnorm=True`` inserts a :class:`BatchNorm2d` after each convolution
    (``conv - bn - relu - maxpool``); the model then has running statistics (module
    docstring: use ``apply``).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28,
                 channels: tuple[int, int] = (16, 32), hidden: int = 128,
                 batchnorm: bool = False):  # fmt: skip
        c1, c2 = channels
        side = image_size // 4

        def block(c_in: int, c_out: int) -> list[Layer]:
            norm = [BatchNorm2d(c_out)] if batchnorm else []
            return [Conv2d(c_in, c_out, 3, padding=1), *norm, Activation("relu"), MaxPool2d(2)]

        super().__init__([
            *block(in_channels, c1), *block(c1, c2),
            Flatten(), Linear(c2 * side * side, hidden), Activation("relu"),
            Linear(hidden, num_classes),
        ])  # fmt: skip
        self.batchnorm = batchnorm
