"""minimsam: SGD, NAG, SAM and Momentum-SAM from scratch, on NumPy or CuPy."""

from minimsam import autodiff, data, nn, optim, sharpness  # noqa: E402  (after the core names)
from minimsam.autodiff import (
    GradientCheckError,
    Tensor,
    check_grads,
    enable_grad,
    grad,
    hvp,
    no_grad,
    value_and_grad,
)
from minimsam.backend import (
    BackendUnavailableError,
    DeviceMismatchError,
    asarray,
    available_backends,
    get_backend,
    set_backend,
    to_numpy,
    use_backend,
)

__version__ = "0.1.0"

__all__ = [
    "autodiff",
    "nn",
    "optim",
    "data",
    "sharpness",
    "GradientCheckError",
    "Tensor",
    "check_grads",
    "enable_grad",
    "grad",
    "hvp",
    "no_grad",
    "value_and_grad",
    "BackendUnavailableError",
    "DeviceMismatchError",
    "asarray",
    "available_backends",
    "get_backend",
    "set_backend",
    "to_numpy",
    "use_backend",
]
