"""Errors that name the problem and the fix."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

import minimsam as ms
from minimsam import autodiff as ad


def test_unknown_backend_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid backends are: cupy, fakegpu, numpy"):
        ms.set_backend("jax")


def test_missing_cupy_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` fail
    monkeypatch.setattr(ms.backend, "_cache", {})
    with pytest.raises(ms.BackendUnavailableError, match=r'pip install "minimsam\[gpu\]"'):
        ms.set_backend("cupy")
    assert ms.get_backend().name != "cupy"


def test_cupy_without_a_gpu_says_so(monkeypatch):
    def no_device():
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    fake_cupy = types.SimpleNamespace(cuda=types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDeviceCount=no_device)))  # fmt: skip
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy)
    monkeypatch.setattr(ms.backend, "_cache", {})
    with pytest.raises(ms.BackendUnavailableError, match="no usable GPU"):
        ms.set_backend("cupy")


def test_environment_variable_chooses_the_backend(monkeypatch):
    monkeypatch.setenv("MINIMSAM_BACKEND", "fakegpu")
    monkeypatch.setattr(ms.backend, "_active", None)
    assert ms.get_backend().name == "fakegpu"


def test_host_array_on_a_device_backend_is_refused_with_the_fix():
    with ms.use_backend("fakegpu"):
        with pytest.raises(ms.DeviceMismatchError, match=r"ms.asarray"):
            ms.grad(lambda w: (w * 2.0).sum())(np.ones(3))
        with pytest.raises(ms.DeviceMismatchError, match="numpy.ndarray"):
            ad.mul(ms.Tensor(ms.asarray(np.ones(3))), np.ones(3))


def test_matmul_shape_mismatch_names_the_shapes(backend):
    a, b = ms.asarray(np.ones((3, 4))), ms.asarray(np.ones((5, 2)))
    with pytest.raises(ValueError, match=r"\(3, 4\) @ \(5, 2\)"):
        ad.matmul(a, b)
    with pytest.raises(ValueError, match=r"\(3, 4\) @ \(5, 2\)"):
        ms.grad(lambda a: ad.matmul(a, b).sum())(a)


def test_broadcast_mismatch_names_the_shapes(backend):
    a, b = ms.asarray(np.ones(3)), ms.asarray(np.ones(4))
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)"):
        ms.grad(lambda a: (a + b).sum())(a)


def test_to_numpy_round_trips_dicts(backend):
    tree = {"w": ms.asarray(np.arange(3.0)), "nested": {"b": ms.asarray(np.ones(2))}}
    host = ms.to_numpy(tree)
    assert isinstance(host["nested"]["b"], np.ndarray)
    np.testing.assert_array_equal(host["w"], [0.0, 1.0, 2.0])
