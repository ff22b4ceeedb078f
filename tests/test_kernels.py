"""The backend's fused kernels (minimsam/kernels.py) equal the expressions they fuse.

Runs on every backend under test: numpy (the reference array code), the strict
fakegpu double, and cupy where a GPU exists (one CUDA kernel per expression; float32
round-off may differ by a contracted multiply-add, hence the relative tolerance).
"""

from __future__ import annotations

import numpy as np
import pytest

import minimsam as ms
from minimsam.kernels import array_kernels

RTOL = 1e-6  # float32: a fused multiply-add rounds once instead of twice


def _device(rng, *shape, dtype=np.float32):
    host = rng.standard_normal(shape).astype(dtype)
    return host, ms.asarray(host)


@pytest.mark.parametrize("a", [0.7, -2.5])
def test_axpy_is_a_times_x_plus_y(backend, rng, a):
    (hx, x), (hy, y) = _device(rng, 33, 17), _device(rng, 33, 17)
    got = backend.kernels.axpy(a, x, y)
    assert got.dtype == np.float32 and got.shape == (33, 17)
    np.testing.assert_allclose(ms.to_numpy(got), np.float32(a) * hx + hy, rtol=RTOL, atol=1e-7)
    np.testing.assert_array_equal(ms.to_numpy(x), hx)  # inputs untouched
    np.testing.assert_array_equal(ms.to_numpy(y), hy)


def test_axpy_takes_a_device_scalar(backend, rng):
    (hx, x), (hy, y) = _device(rng, 50), _device(rng, 50)
    a = ms.asarray(np.array(0.3, dtype=np.float32))
    got = ms.to_numpy(backend.kernels.axpy(a, x, y))
    np.testing.assert_allclose(got, np.float32(0.3) * hx + hy, rtol=RTOL, atol=1e-7)


def test_axpy_promotes_mixed_dtypes(backend, rng):
    (hx, x), (hy, y) = _device(rng, 8), _device(rng, 8, dtype=np.float64)
    got = backend.kernels.axpy(2.0, x, y)
    assert got.dtype == np.float64
    np.testing.assert_allclose(ms.to_numpy(got), 2.0 * hx.astype(np.float64) + hy, rtol=1e-6)


def test_sumsq_over_several_arrays(backend, rng):
    pairs = [_device(rng, *s) for s in [(40, 30), (30,), (7, 3, 2)]]
    got = backend.kernels.sumsq([d for _, d in pairs])
    assert got.shape == ()
    expected = sum(float(np.sum(h.astype(np.float64) ** 2)) for h, _ in pairs)
    np.testing.assert_allclose(float(ms.to_numpy(got)), expected, rtol=1e-5)
    single = backend.kernels.sumsq([pairs[0][1]])
    np.testing.assert_allclose(float(ms.to_numpy(single)), np.sum(pairs[0][0] ** 2), rtol=1e-5)


def test_sumsq_is_not_finite_when_an_entry_is_not(backend, rng):
    host = rng.standard_normal(100).astype(np.float32)
    host[37] = np.nan
    other = ms.asarray(np.ones(3, dtype=np.float32))
    got = backend.kernels.sumsq([other, ms.asarray(host)])
    assert not np.isfinite(float(ms.to_numpy(got)))


def test_relu_grad_is_gy_where_y_is_positive(backend, rng):
    (hg, gy), (hy, _) = _device(rng, 64, 9), _device(rng, 64, 9)
    hy = np.maximum(hy, 0)
    got = ms.to_numpy(backend.kernels.relu_grad(gy, ms.asarray(hy)))
    np.testing.assert_array_equal(got, hg * (hy > 0))


def test_xent_grad_is_scaled_softmax_minus_targets(backend, rng):
    logits = rng.standard_normal((16, 10)).astype(np.float32)
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    q = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 16)]
    scale = ms.asarray(np.array(1 / 16, dtype=np.float32))
    got = backend.kernels.xent_grad(ms.asarray(logp), ms.asarray(q), scale)
    expected = (np.exp(logp) - q) / 16
    np.testing.assert_allclose(ms.to_numpy(got), expected, rtol=1e-5, atol=1e-7)


def test_the_backend_picks_its_kernels(backend):
    """CuPy gets the CUDA kernels; NumPy and fakegpu the array code on their own xp."""
    if backend.name == "cupy":
        assert backend.kernels.axpy.__qualname__.startswith("cupy_kernels")
    else:
        assert backend.kernels.axpy.__qualname__.startswith("array_kernels")
        assert array_kernels(backend.xp).axpy.__qualname__ == backend.kernels.axpy.__qualname__


def test_dot_is_the_sum_of_products(backend, rng):
    (hx, x), (hy, y) = _device(rng, 12, 10), _device(rng, 12, 10)
    got = backend.kernels.dot(x, y)
    assert got.shape == ()
    np.testing.assert_allclose(
        float(ms.to_numpy(got)), np.sum(hx * hy, dtype=np.float64), rtol=1e-5
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sumsq_segments_is_the_sum_of_squares_of_the_buffer(backend, rng, dtype):
    host, flat = _device(rng, 1200 + 30 + 7, dtype=dtype)
    sizes = (1200, 30, 7)
    got = backend.kernels.sumsq_segments(flat, sizes)
    assert got.shape == () and got.dtype == dtype
    expected = float(np.sum(host.astype(np.float64) ** 2))
    np.testing.assert_allclose(float(ms.to_numpy(got)), expected, rtol=1e-5)
    if backend.name != "cupy":  # the array code rounds as sumsq over the separate tensors
        pieces = [flat[:1200], flat[1200:1230], flat[1230:]]
        assert float(ms.to_numpy(got)) == float(ms.to_numpy(backend.kernels.sumsq(pieces)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("a", [0.3, -1.5])
def test_over_norm_is_a_over_the_root_plus_eps(backend, a, dtype):
    ss = ms.asarray(np.array(2.25, dtype=dtype))
    got = backend.kernels.over_norm(a, ss, 1e-12)
    assert got.shape == () and got.dtype == dtype
    expected = a / (np.sqrt(dtype(2.25)) + 1e-12)  # NumPy's rounding, in the dtype
    if backend.name == "cupy":
        np.testing.assert_allclose(float(ms.to_numpy(got)), float(expected), rtol=1e-6)
    else:
        assert float(ms.to_numpy(got)) == float(expected)
    zero = backend.kernels.over_norm(a, ms.asarray(np.array(0.0, dtype=dtype)), 1e-12)
    assert np.isfinite(float(ms.to_numpy(zero)))  # a zero vector: a / EPS, never NaN
