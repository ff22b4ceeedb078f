"""Helpers shared by the PyTorch optimizers: the global norm, ``EPS`` and validation.

The norm in every equation of docs/optimizers.md is the *global* L2 norm over all parameters of
the optimizer, across all parameter groups, treated as one flat vector:
``||x|| = sqrt(sum_i ||x_i||^2)``. Per-group hyperparameters (lr, rho, ...) only
scale the update of that group's tensors; they never split the norm.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

EPS = 1e-12
"""Added to the norm (not to the squared norm) before dividing, as in docs/optimizers.md."""


def global_norm(tensors: Iterable[torch.Tensor]) -> float:
    """Return ``sqrt(sum_i ||t_i||_2^2)`` over all ``tensors`` as a Python float.

    Each tensor's norm is taken in its own dtype and on its own device; the per-tensor
    norms are then combined in float64 on the first tensor's device, so tensors on
    several devices or of several dtypes can be mixed. An empty iterable gives ``0.0``.
    """
    norms = [torch.linalg.vector_norm(t) for t in tensors]
    if not norms:
        return 0.0
    device = norms[0].device
    stacked = torch.stack([n.to(device=device, dtype=torch.float64) for n in norms])
    return float(torch.linalg.vector_norm(stacked))


def _as_real(name: str, value) -> float:
    if isinstance(value, bool):
        raise ValueError(f"invalid {name}: {value!r} (must be a real number, not a bool)")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"invalid {name}: {value!r} (must be a real number)") from None


def check_non_negative(name: str, value) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is finite and ``>= 0``."""
    x = _as_real(name, value)
    if not (math.isfinite(x) and x >= 0.0):
        raise ValueError(f"invalid {name}: {value!r} (must be finite and >= 0)")


def check_unit_interval(name: str, value) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``0 <= value < 1``."""
    x = _as_real(name, value)
    if not (0.0 <= x < 1.0):
        raise ValueError(f"invalid {name}: {value!r} (must be in [0, 1))")


def check_betas(betas) -> None:
    """Raise ``ValueError`` naming ``betas`` unless it is a pair with both entries in [0, 1)."""
    try:
        b1, b2 = betas
    except (TypeError, ValueError):
        raise ValueError(f"invalid betas: {betas!r} (must be a pair (beta1, beta2))") from None
    check_unit_interval("betas[0]", b1)
    check_unit_interval("betas[1]", b2)
