"""The one place that knows whether arrays live in NumPy (host) or CuPy (GPU).

Every array operation in minimsam goes through ``get_backend().xp``, the array
module of the active backend, so the same code runs on the CPU and on a GPU::

    import minimsam as ms
    ms.set_backend("cupy")          # or: MINIMSAM_BACKEND=cupy python train.py
    xp = ms.get_backend().xp        # cupy now, numpy by default
    w = ms.asarray(host_array)      # host -> active device
    host = ms.to_numpy(w)           # any device -> host NumPy (also dicts of arrays)

Three backends are known:

``numpy``
    The default. Arrays are ``numpy.ndarray``.
``cupy``
    Arrays are ``cupy.ndarray`` on the current GPU. Needs ``pip install "minimsam[gpu]"``
    and a working CUDA device; the error says which of the two is missing.
``fakegpu``
    A test double: NumPy underneath, but its arrays refuse implicit conversion to
    and mixing with host NumPy arrays exactly as CuPy's do. The test suite runs on
    it so that CI, which has no GPU, catches code that would break on one.
    It lives in :mod:`minimsam.testing.fake_gpu`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from minimsam.kernels import Kernels, array_kernels, cupy_kernels

__all__ = [
    "Backend",
    "BackendUnavailableError",
    "DeviceMismatchError",
    "available_backends",
    "get_backend",
    "set_backend",
    "use_backend",
    "asarray",
    "to_numpy",
]

ENV_VAR = "MINIMSAM_BACKEND"


class BackendUnavailableError(RuntimeError):
    """The requested backend cannot run here (library missing or no GPU)."""


class DeviceMismatchError(TypeError):
    """An array from one backend was handed to code running on another."""


@dataclass(frozen=True)
class Backend:
    """An array backend: its name, its array module and its array type.

    ``xp`` is used exactly like ``numpy``: ``xp.zeros_like(w)``, ``xp.exp(x)``, ...
    """

    name: str
    xp: ModuleType
    array_type: type
    to_host: Callable[[Any], np.ndarray]
    from_host: Callable[[Any], Any]
    scatter_add: Callable[[Any, Any, Any], None] = np.add.at
    """``scatter_add(a, index, values)``: ``a[index] += values`` in place, where repeated
    indices accumulate (``numpy.add.at``)."""
    kernels: Kernels | None = None
    """The fused expressions of :mod:`minimsam.kernels` (one CUDA kernel each on CuPy);
    ``None`` gives the array-code reference built on ``xp``."""

    def __post_init__(self) -> None:
        if self.kernels is None:
            object.__setattr__(self, "kernels", array_kernels(self.xp))

    def is_native(self, x: Any) -> bool:
        """True if ``x`` is an array of this backend (Python scalars count as native)."""
        return isinstance(x, self.array_type) or np.isscalar(x)

    def check(self, x: Any, what: str = "array") -> Any:
        """Return ``x`` if it belongs to this backend, else raise a clear error."""
        if self.is_native(x):
            return x
        raise DeviceMismatchError(
            f"{what} is a {type(x).__module__}.{type(x).__name__}, but the active backend "
            f"is {self.name!r} (arrays of type {self.array_type.__module__}."
            f"{self.array_type.__name__}). Move it with ms.asarray(x), or bring results "
            f"back to the host with ms.to_numpy(x)."
        )

    def __repr__(self) -> str:
        return f"Backend({self.name!r})"


# ----------------------------------------------------------------------------- factories


def _numpy_backend() -> Backend:
    return Backend("numpy", np, np.ndarray, to_host=np.asarray, from_host=np.asarray)


def _cupy_backend() -> Backend:
    try:
        import cupy
    except ImportError as err:
        raise BackendUnavailableError(
            "The 'cupy' backend needs CuPy, which is not installed. "
            'Install it with: pip install "minimsam[gpu]"  (the CUDA 12 wheel, cupy-cuda12x).'
        ) from err
    try:
        n_devices = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # CUDA driver missing or broken
        raise BackendUnavailableError(
            f"CuPy is installed but no usable GPU was found ({err}). "
            "Run on a machine with an NVIDIA GPU and driver, or use ms.set_backend('numpy')."
        ) from err
    if n_devices == 0:
        raise BackendUnavailableError(
            "CuPy is installed but sees no GPU. Use ms.set_backend('numpy') on this machine."
        )
    return Backend(
        "cupy",
        cupy,
        cupy.ndarray,
        to_host=cupy.asnumpy,
        from_host=cupy.asarray,
        scatter_add=_cupy_scatter_add(cupy),
        kernels=cupy_kernels(cupy),
    )


def _cupy_scatter_add(cupy: ModuleType) -> Callable[[Any, Any, Any], None]:
    """``cupy.add.at`` where this CuPy has it (v13+), else ``cupyx.scatter_add``."""
    if hasattr(cupy.add, "at"):
        return cupy.add.at
    import cupyx

    return cupyx.scatter_add


def _fake_gpu_backend() -> Backend:
    fake = importlib.import_module("minimsam.testing.fake_gpu")
    return fake.make_backend()


_FACTORIES: dict[str, Callable[[], Backend]] = {
    "numpy": _numpy_backend,
    "cupy": _cupy_backend,
    "fakegpu": _fake_gpu_backend,
}
_cache: dict[str, Backend] = {}
_active: Backend | None = None


def available_backends() -> list[str]:
    """Names accepted by :func:`set_backend` (whether or not they can run here)."""
    return sorted(_FACTORIES)


def _make(name: str) -> Backend:
    if not isinstance(name, str) or name.lower() not in _FACTORIES:
        raise ValueError(
            f"unknown backend {name!r}; valid backends are: {', '.join(available_backends())}"
        )
    name = name.lower()
    if name not in _cache:
        _cache[name] = _FACTORIES[name]()
    return _cache[name]


def set_backend(name: str) -> Backend:
    """Make ``name`` ("numpy", "cupy" or "fakegpu") the active backend and return it."""
    global _active
    _active = _make(name)
    return _active


def get_backend() -> Backend:
    """The active backend; on first use it is read from ``$MINIMSAM_BACKEND`` (default numpy)."""
    global _active
    if _active is None:
        _active = _make(os.environ.get(ENV_VAR, "numpy") or "numpy")
    return _active


class use_backend:
    """Context manager: ``with use_backend("fakegpu"): ...`` restores the old one on exit."""

    def __init__(self, name: str):
        self.name = name
        self._previous: Backend | None = None

    def __enter__(self) -> Backend:
        self._previous = get_backend()
        return set_backend(self.name)

    def __exit__(self, *exc: object) -> None:
        global _active
        _active = self._previous


def asarray(x: Any, dtype: Any = None) -> Any:
    """Put ``x`` (host array, list, scalar, or a dict of them) on the active backend."""
    if isinstance(x, Mapping):
        return {k: asarray(v, dtype) for k, v in x.items()}
    backend = get_backend()
    if not isinstance(x, backend.array_type):
        x = backend.from_host(to_numpy(x))
    return x if dtype is None else x.astype(dtype, copy=False)


def to_numpy(x: Any) -> Any:
    """Bring an array of any backend (or a dict / list / tuple of them) to host NumPy.

    Tensors are unwrapped to their data. Python scalars become 0-d arrays.
    """
    if isinstance(x, Mapping):
        return {k: to_numpy(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(to_numpy(v) for v in x)
    data = getattr(x, "data", None)
    if data is not None and hasattr(x, "backward"):  # an autodiff Tensor
        x = data
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "get") and callable(x.get) and hasattr(x, "shape"):  # cupy, fakegpu
        return x.get()
    return np.asarray(x)
