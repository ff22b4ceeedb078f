"""Models: a :class:`Sequential` stack of layers, and the two models minimsam ships.

Parameters live in an ordered dict named like PyTorch's ``nn.Sequential``
state dict (``"0.weight"``, ``"0.bias"``, ``"2.weight"``, ...): layer order, weight
before bias. A model is a pure function ``model(params, x)``; it works on plain
arrays (returns an array) and inside ``value_and_grad`` (returns a tensor).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minimsam.backend import asarray
from minimsam.nn.layers import Activation, Conv2d, Flatten, Layer, Linear, MaxPool2d

__all__ = ["Sequential", "MLP", "SmallCNN"]

_DTYPES = {"float32": np.float32, "float64": np.float64}


class Sequential:
    """Apply layers in order: ``model(params, x) = layer_n(... layer_1(x))``."""

    def __init__(self, layers: list[Layer]):
        self.layers = list(layers)

    def init(self, seed: int = 0, dtype: str | type = "float32") -> dict[str, Any]:
        """Fresh parameters on the active backend, identical on every backend for a seed."""
        dtype = np.dtype(_DTYPES.get(dtype, dtype) if isinstance(dtype, str) else dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"parameters must be float32 or float64, not {dtype}")
        rng = np.random.default_rng(seed)
        params = {}
        for i, layer in enumerate(self.layers):
            for name, value in layer.init(rng).items():
                params[f"{i}.{name}"] = asarray(value.astype(dtype))
        return params

    def __call__(self, params: dict[str, Any], x: Any) -> Any:
        for i, layer in enumerate(self.layers):
            prefix = f"{i}."
            own = {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}
            x = layer(own, x)
        return x

    def num_params(self, params: dict[str, Any]) -> int:
        """Total number of scalar parameters."""
        return sum(int(np.prod(v.shape)) for v in params.values())

    def __repr__(self) -> str:
        inner = "\n".join(f"  ({i}) {layer!r}" for i, layer in enumerate(self.layers))
        return f"{type(self).__name__}(\n{inner}\n)"


class MLP(Sequential):
    """Fully connected network ``sizes[0] -> sizes[1] -> ... -> sizes[-1]``.

    Hidden layers are followed by ``activation``; the last layer outputs logits.
    Weights use He initialisation for ReLU and Glorot for tanh/sigmoid; biases start at 0.
    """

    def __init__(self, sizes: list[int], activation: str = "relu"):
        if len(sizes) < 2:
            raise ValueError(f"an MLP needs at least an input and an output size, got {sizes}")
        init = "he_normal" if activation == "relu" else "glorot_uniform"
        layers: list[Layer] = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [Linear(n_in, n_out, init=init), Activation(activation)]
        super().__init__(layers[:-1])
        self.sizes, self.activation = list(sizes), activation


class SmallCNN(Sequential):
    """A small CNN for ``image_size x image_size`` images (28 for MNIST-style data).

    The layers::

        conv3x3(c1) - relu - maxpool2 - conv3x3(c2) - relu - maxpool2 - flatten
        - linear(hidden) - relu - linear(num_classes)
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28,
                 channels: tuple[int, int] = (16, 32), hidden: int = 128):  # fmt: skip
        c1, c2 = channels
        side = image_size // 4
        super().__init__([
            Conv2d(in_channels, c1, 3, padding=1), Activation("relu"), MaxPool2d(2),
            Conv2d(c1, c2, 3, padding=1), Activation("relu"), MaxPool2d(2),
            Flatten(), Linear(c2 * side * side, hidden), Activation("relu"),
            Linear(hidden, num_classes),
        ])  # fmt: skip
