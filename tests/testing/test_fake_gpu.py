"""The fake GPU must refuse host/device mixing exactly where CuPy does, and otherwise
compute what NumPy computes."""

from __future__ import annotations

import copy
import operator
import pickle

import numpy as np
import pytest

import minimsam as ms
from minimsam.testing.fake_gpu import StrictArray, make_backend, xp


@pytest.fixture
def fake():
    """The fakegpu backend, active for one test."""
    with ms.use_backend("fakegpu") as backend:
        yield backend


@pytest.fixture
def host(rng):
    return rng.standard_normal((3, 4))


@pytest.fixture
def dev(host):
    return xp.asarray(host)


def assert_device_equal(result, expected):
    assert isinstance(result, StrictArray)
    np.testing.assert_array_equal(result.get(), expected)


# ----------------------------------------------------------------------------- the boundary


@pytest.mark.parametrize(
    "convert",
    [np.asarray, np.array, np.ascontiguousarray, lambda a: np.array([a, a]), StrictArray.__array__],
)
def test_implicit_conversion_to_numpy_raises(dev, convert):
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array"):
        convert(dev)


def test_host_buffer_attributes_are_hidden(dev):
    for name in ("data", "ctypes", "flat", "__array_interface__", "__array_struct__"):
        assert not hasattr(dev, name)


def test_get_is_a_host_copy(host, dev):
    out = dev.get()
    assert type(out) is np.ndarray
    np.testing.assert_array_equal(out, host)
    out[0, 0] = 123.0
    assert float(dev[0, 0]) == host[0, 0]


def test_asarray_copies_host_data_and_keeps_device_arrays(host):
    dev = xp.asarray(host)
    host[0, 0] = 99.0  # a real upload does not alias the host buffer
    assert float(dev[0, 0]) != 99.0
    assert xp.asarray(dev) is dev
    assert xp.array(dev) is not dev
    assert_device_equal(xp.asarray([[1, 2], [3, 4]], dtype=xp.float32), np.array([[1, 2], [3, 4]]))
    assert xp.asarray([1.0]).dtype == np.float64


def test_scalars_sync_to_python():
    scalar = xp.asarray(2.5)
    assert float(scalar) == 2.5 and int(scalar) == 2 and bool(scalar) is True
    assert xp.asarray([3]).item() == 3 and bool(xp.asarray([0.0])) is False
    assert f"{xp.asarray(1.0) / 3:.3f}" == "0.333"
    with pytest.raises(ValueError):
        bool(xp.asarray([1.0, 2.0]))


# ----------------------------------------------------------------------------- operators

ARITHMETIC = [
    operator.add,
    operator.sub,
    operator.mul,
    operator.truediv,
    operator.floordiv,
    operator.mod,
    operator.pow,
]
COMPARISONS = [operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge]
BINARY = ARITHMETIC + COMPARISONS


@pytest.mark.parametrize("op", BINARY, ids=lambda op: op.__name__)
def test_binary_operators_match_numpy(op, rng):
    x, y = rng.uniform(0.5, 2.0, (2, 3, 4))
    for a, b, hx, hy in [
        (xp.asarray(x), xp.asarray(y), x, y),
        (xp.asarray(x), 1.5, x, 1.5),
        (2, xp.asarray(y), 2, y),
        (np.float32(1.5), xp.asarray(y), np.float32(1.5), y),
        (xp.asarray(x), np.float64(0.7), x, np.float64(0.7)),
    ]:
        assert_device_equal(op(a, b), op(hx, hy))


@pytest.mark.parametrize("op", [*BINARY, operator.matmul], ids=lambda op: op.__name__)
@pytest.mark.parametrize("shape", [(), (4,), (4, 4)])
def test_binary_operators_refuse_host_arrays(op, shape):
    a, h = xp.ones((4, 4)), np.ones(shape)
    with pytest.raises(TypeError):
        op(a, h)
    if shape == () and op in COMPARISONS:
        return  # CuPy takes a 0-d host array on the left of a comparison as a scalar
    with pytest.raises(TypeError):
        op(h, a)


@pytest.mark.parametrize("op", COMPARISONS, ids=lambda op: op.__name__)
def test_numpy_scalar_on_the_left_of_a_comparison(op):
    a = xp.asarray([0.5, 1.0, 2.0])
    assert_device_equal(op(np.float32(1.0), a), op(np.float32(1.0), a.get()))
    assert_device_equal(op(np.array(1.0), a), op(1.0, a.get()))


def test_matmul_and_bitwise(rng):
    x, y = rng.standard_normal((2, 3, 3))
    assert_device_equal(xp.asarray(x) @ xp.asarray(y), x @ y)
    m, n = x > 0, y > 0
    dm, dn = xp.asarray(x) > 0, xp.asarray(y) > 0
    assert_device_equal(dm & dn, m & n)
    assert_device_equal(dm | dn, m | n)
    assert_device_equal(dm ^ dn, m ^ n)
    assert_device_equal(~dm, ~m)


def test_unary_operators(host, dev):
    assert_device_equal(-dev, -host)
    assert_device_equal(+dev, host)
    assert_device_equal(abs(dev), np.abs(host))


def test_inplace_operators_keep_identity(host, dev):
    before = dev
    dev += xp.ones_like(dev)
    dev *= 2
    dev -= np.float32(1.0)
    assert dev is before
    np.testing.assert_allclose(dev.get(), (host + 1) * 2 - 1)
    with pytest.raises(TypeError):
        dev += np.ones_like(host)


def test_unknown_operands_are_not_implemented(dev):
    with pytest.raises(TypeError):
        dev + [1.0, 2.0, 3.0, 4.0]
    assert (dev == "text") is False


# ----------------------------------------------------------------------------- numpy dispatch


def test_numpy_functions_on_device_arrays_stay_on_device(host, dev):
    assert_device_equal(np.exp(dev), np.exp(host))
    assert_device_equal(np.sum(dev), np.sum(host))
    assert_device_equal(np.concatenate([dev, dev]), np.concatenate([host, host]))
    assert_device_equal(np.add.reduce(dev, axis=1), np.add.reduce(host, axis=1))


def test_numpy_functions_refuse_mixed_arguments(host, dev):
    with pytest.raises(TypeError, match="host numpy.ndarray"):
        np.add(dev, host)
    with pytest.raises(TypeError):
        np.concatenate([dev, host])
    with pytest.raises(TypeError):
        np.add.at(xp.zeros(3), [0, 1], np.ones(2))


# ----------------------------------------------------------------------------- xp namespace


def test_namespace_passes_constants_and_types_through():
    assert xp.float32 is np.float32 and xp.dtype is np.dtype
    assert xp.pi == np.pi and xp.inf == np.inf and xp.newaxis is None
    assert xp.ndarray is StrictArray
    assert isinstance(xp.zeros(2), xp.ndarray)


XP_CASES = {
    "einsum": lambda m, h: m.einsum("ij,kj->ik", h, h),
    "tensordot": lambda m, h: m.tensordot(h, h, axes=([1], [1])),
    "pad": lambda m, h: m.pad(h, ((1, 0), (0, 2))),
    "where": lambda m, h: m.where(h > 0, h, 0.0),
    "stack": lambda m, h: m.stack([h, h], axis=1),
    "split": lambda m, h: m.split(h, 2, axis=1)[1],
    "broadcast_to": lambda m, h: m.broadcast_to(h[:1], (5, 4)),
    "isfinite": lambda m, h: m.isfinite(m.where(h > 0, h, m.inf)),
    "sqrt": lambda m, h: m.sqrt(m.abs(h)),
    "dot": lambda m, h: m.dot(h, h.T),
    "matmul": lambda m, h: m.matmul(h.T, h),
    "zeros_like": lambda m, h: m.zeros_like(h),
    "full": lambda m, h: m.full((2, 2), m.float32(3.0)),
    "arange_eye": lambda m, h: m.arange(3.0) * m.eye(3),
    "argmax": lambda m, h: m.argmax(h, axis=1),
    "take_along_axis": lambda m, h: m.take_along_axis(h, m.argmax(h, axis=1)[:, None], 1),
    "maximum_reduce": lambda m, h: m.maximum.reduce(h, axis=0),
    "multiply_outer": lambda m, h: m.multiply.outer(h[0], h[1]),
    "norm": lambda m, h: m.linalg.norm(h),
    "eigvalsh": lambda m, h: m.linalg.eigvalsh(h @ h.T),
    "solve": lambda m, h: m.linalg.solve(h @ h.T + m.eye(3), h[:, 0]),
    "qr": lambda m, h: m.linalg.qr(h)[1],
    "sliding_window": lambda m, h: m.lib.stride_tricks.sliding_window_view(h, (2, 2)),
}


@pytest.mark.parametrize("case", XP_CASES, ids=str)
def test_xp_functions_match_numpy(case, host, dev):
    assert_device_equal(XP_CASES[case](xp, dev), XP_CASES[case](np, host))


@pytest.mark.parametrize(
    "call",
    [
        lambda h: xp.exp(h),
        lambda h: xp.concatenate([xp.ones((1, 4)), h]),
        lambda h: xp.where(xp.ones((3, 4)) > 0, h, 0.0),
        lambda h: xp.einsum("ij->i", h),
        lambda h: xp.linalg.norm(h),
        lambda h: xp.maximum.reduce(h),
        lambda h: xp.zeros_like(h),
        lambda h: xp.add(xp.zeros((3, 4)), 1.0, out=h),
        lambda h: xp.pad(xp.ones(2), 1, constant_values=h[0, :1]),  # keyword argument
    ],
)
def test_xp_functions_refuse_host_arrays(call, host):
    with pytest.raises(TypeError, match="host numpy.ndarray"):
        call(host)


@pytest.mark.parametrize("index", [xp.asarray([0, 0, 3]), np.array([0, 0, 3]), [0, 0, 3]])
def test_ufunc_at_scatters_in_place_with_device_or_host_indices(index):
    acc = xp.zeros(4)
    xp.add.at(acc, index, xp.asarray([1.0, 2.0, 5.0]))
    assert_device_equal(acc, [3.0, 0.0, 0.0, 5.0])
    np.add.at(acc, (index,), 1.0)  # NumPy's own ufunc dispatches here too
    assert_device_equal(acc, [5.0, 0.0, 0.0, 6.0])
    with pytest.raises(TypeError, match="host numpy.ndarray"):
        xp.add.at(acc, index, np.ones(3))


def test_out_argument_returns_the_same_array(dev):
    out = xp.empty_like(dev)
    assert xp.multiply(dev, 2.0, out=out) is out
    assert np.multiply(dev, 2.0, out=out) is out
    np.testing.assert_array_equal(out.get(), dev.get() * 2.0)


def test_linalg_results_keep_their_names(host, dev):
    sym = host @ host.T
    w, v = np.linalg.eigh(sym)
    result = xp.linalg.eigh(xp.asarray(sym))
    assert_device_equal(result.eigenvalues, w)
    assert_device_equal(result.eigenvectors, v)


def test_random_generator_draws_on_device():
    draw = xp.random.default_rng(7).normal(size=(2, 3))
    assert_device_equal(draw, np.random.default_rng(7).normal(size=(2, 3)))
    assert isinstance(xp.random.default_rng(0).permutation(5), StrictArray)


# ----------------------------------------------------------------------------- array API


def test_metadata(host, dev):
    assert (dev.shape, dev.ndim, dev.size, dev.dtype) == (host.shape, 2, 12, host.dtype)
    assert dev.nbytes == host.nbytes and len(dev) == 3
    assert_device_equal(dev.T, host.T)
    with pytest.raises(TypeError):
        hash(dev)
    assert repr(dev).startswith("StrictArray(")


@pytest.mark.parametrize(
    "method",
    [
        lambda a: a.reshape(4, 3),
        lambda a: a.transpose(1, 0),
        lambda a: a.astype(np.float32, copy=False),
        lambda a: a.sum(axis=1, keepdims=True),
        lambda a: a.mean(axis=0),
        lambda a: a.max(),
        lambda a: a.min(axis=1),
        lambda a: a.argmax(axis=0),
        lambda a: (a > 0).any(axis=1),
        lambda a: (a > -10).all(),
        lambda a: a.ravel(),
        lambda a: a.flatten(),
        lambda a: a.clip(-0.5, 0.5),
        lambda a: a.cumprod(axis=1),  # not listed: reached through __getattr__
        lambda a: a.real,
    ],
)
def test_methods_match_numpy(method, host, dev):
    assert_device_equal(method(dev), method(host))


def test_copy_and_fill_are_independent(host, dev):
    twin = dev.copy()
    dev.fill(0.0)
    assert_device_equal(dev, np.zeros_like(host))
    assert_device_equal(twin, host)
    for clone in (copy.copy(twin), copy.deepcopy(twin), pickle.loads(pickle.dumps(twin))):
        assert_device_equal(clone, host)
        assert clone is not twin


@pytest.mark.parametrize(
    "key",
    [
        1,
        (1, 2),
        (slice(None), 1),
        (Ellipsis, None),
        [0, 2],
        np.array([2, 0]),
        (np.array([0, 1]), np.array([3, 2])),
    ],
    ids=repr,
)
def test_indexing_with_host_indices(key, host, dev):
    assert_device_equal(dev[key], host[key])


def test_indexing_with_device_indices(host, dev):
    assert_device_equal(dev[xp.asarray([2, 0])], host[[2, 0]])
    assert_device_equal(dev[dev > 0], host[host > 0])
    rows = xp.arange(3)
    cols = xp.argmax(dev, axis=1)
    assert_device_equal(dev[rows, cols], host.max(axis=1))


def test_setitem(host, dev):
    dev[0] = 1.0
    dev[1, [0, 2]] = xp.asarray([5.0, 6.0])
    dev[dev < -1] = 0.0
    host[0] = 1.0
    host[1, [0, 2]] = [5.0, 6.0]
    host[host < -1] = 0.0
    assert_device_equal(dev, host)
    with pytest.raises(TypeError, match="host numpy.ndarray"):
        dev[0] = np.zeros(4)


def test_iteration_yields_device_rows(host, dev):
    rows = list(dev)
    assert len(rows) == 3 and all(isinstance(r, StrictArray) for r in rows)
    assert_device_equal(rows[2], host[2])
    with pytest.raises(TypeError):
        iter(xp.asarray(1.0))


# ----------------------------------------------------------------------------- backend


def test_make_backend():
    backend = make_backend()
    assert backend.name == "fakegpu" and backend.xp is xp and backend.array_type is StrictArray
    assert isinstance(backend.from_host(np.ones(2)), StrictArray)
    assert type(backend.to_host(xp.ones(2))) is np.ndarray
    assert type(backend.to_host(np.ones(2))) is np.ndarray


def test_round_trip_through_the_backend_helpers(fake, host):
    assert ms.get_backend().xp is xp
    params = ms.asarray({"w": host, "b": np.zeros(4)}, dtype=np.float32)
    assert all(isinstance(v, StrictArray) and v.dtype == np.float32 for v in params.values())
    back = ms.to_numpy(params)
    assert type(back["w"]) is np.ndarray
    np.testing.assert_array_equal(back["w"], host.astype(np.float32))


def test_check_rejects_host_arrays(fake, host):
    assert fake.check(xp.asarray(host)) is not None
    assert fake.check(1.5) == 1.5
    with pytest.raises(ms.DeviceMismatchError, match="fakegpu"):
        fake.check(host, "weight")
