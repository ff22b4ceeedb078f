"""Weight initialisers, drawn on the host from a seeded NumPy generator.

Drawing on the host and then moving to the active backend means that a model
initialised with the same seed starts from bit-identical weights on the CPU and
on a GPU, which is what makes CPU/GPU trajectories comparable.
"""

from __future__ import annotations

import numpy as np

__all__ = ["he_normal", "glorot_uniform", "zeros", "INITIALIZERS"]


def he_normal(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, fan_out: int):
    """He et al. 2015: ``N(0, 2 / fan_in)``, for ReLU networks."""
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)


def glorot_uniform(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, fan_out: int):
    """Glorot & Bengio 2010: ``U(-a, a)`` with ``a = sqrt(6 / (fan_in + fan_out))``, for tanh."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


def zeros(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, fan_out: int):
    """All zeros (biases)."""
    return np.zeros(shape)


INITIALIZERS = {"he_normal": he_normal, "glorot_uniform": glorot_uniform, "zeros": zeros}
