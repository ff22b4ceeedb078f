"""minimsam: SGD, NAG, SAM and Momentum-SAM from scratch, on NumPy or CuPy."""

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
    "BackendUnavailableError",
    "DeviceMismatchError",
    "asarray",
    "available_backends",
    "get_backend",
    "set_backend",
    "to_numpy",
    "use_backend",
]
