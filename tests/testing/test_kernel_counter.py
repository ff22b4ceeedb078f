"""The fake GPU's kernel counter counts what CuPy would launch and sync, nothing else."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

import minimsam as ms
from minimsam.kernels import Kernels
from minimsam.testing.fake_gpu import CUPY_KERNEL_LAUNCHES, count_kernels, xp


@pytest.fixture
def fake():
    with ms.use_backend("fakegpu") as backend:
        yield backend


@pytest.fixture
def a():
    return xp.asarray(np.arange(12, dtype=np.float32).reshape(3, 4))


@pytest.fixture
def b():
    return xp.asarray(np.ones((3, 4), dtype=np.float32))


def counted(fn):
    with count_kernels() as counter:
        fn()
    return counter.launches, counter.syncs


@pytest.mark.parametrize(
    "op",
    [
        lambda a, b: a + b,
        lambda a, b: 2.0 * a,
        lambda a, b: -a,
        lambda a, b: a.__iadd__(b),
        lambda a, b: xp.exp(a),
        lambda a, b: np.exp(a),  # NumPy's function on a device array dispatches to it
        lambda a, b: a.sum(),
        lambda a, b: xp.vdot(a.reshape(-1), b.reshape(-1)),
        lambda a, b: a @ b.T,
        lambda a, b: a.astype(np.float64),
        lambda a, b: a[[0, 2]],  # advanced indexing gathers
        lambda a, b: a.__setitem__(0, 1.0),
        lambda a, b: xp.zeros(5),
        lambda a, b: xp.concatenate([a.reshape(-1), b.reshape(-1)]),
        lambda a, b: xp.add.at(a, [0, 0], b[0]),
    ],
)
def test_each_array_operation_is_one_launch(fake, a, b, op):
    assert counted(lambda: op(a, b)) == (1, 0)


@pytest.mark.parametrize(
    "op",
    [
        lambda a: a.reshape(-1),
        lambda a: a[1:],
        lambda a: a.T,
        lambda a: a.astype(np.float32, copy=False),
        lambda a: xp.asarray(a),
        lambda a: xp.empty(7),
        lambda a: (a.shape, a.dtype, a.ndim),
    ],
)
def test_views_and_metadata_launch_nothing(fake, a, op):
    assert counted(lambda: op(a)) == (0, 0)


@pytest.mark.parametrize(
    "read", [float, int, bool, lambda s: s.item(), lambda s: s.tolist(), lambda s: s.get()]
)
def test_reads_to_the_host_are_syncs(fake, a, read):
    total = a.sum()
    assert counted(lambda: read(total)) == (0, 1)


def test_kernels_count_as_their_cuda_versions(fake, a, b):
    k = fake.kernels
    assert counted(lambda: k.axpy(0.5, a, b)) == (1, 0)  # a*x, then += y: one CUDA kernel
    assert counted(lambda: k.sumsq([a])) == (1, 0)
    assert counted(lambda: k.sumsq([a, b, a])) == (4, 0)  # 3 reductions + 1 adding them
    assert counted(lambda: k.sumsq_segments(a.reshape(-1), (5, 7))) == (1, 0)
    assert counted(lambda: k.over_norm(0.3, a.sum(), 1e-12)) == (2, 0)  # the sum, then 1
    assert counted(lambda: k.dot(a, b)) == (1, 0)


def test_kernels_with_mixed_dtypes_count_the_array_code_cupy_falls_back_to(fake, a, b):
    scalar64 = xp.asarray(np.float64(0.5))
    assert counted(lambda: fake.kernels.axpy(scalar64, a, b)) == (2, 0)


def test_every_kernel_has_a_launch_model():
    assert set(CUPY_KERNEL_LAUNCHES) == {f.name for f in fields(Kernels)}


def test_counted_kernels_compute_what_the_array_code_computes(fake, a, b):
    from minimsam.kernels import array_kernels

    reference = array_kernels(xp)
    np.testing.assert_array_equal(
        fake.kernels.axpy(0.5, a, b).get(), reference.axpy(0.5, a, b).get()
    )
    assert float(fake.kernels.sumsq_segments(a.reshape(-1), (5, 7))) == float(
        reference.sumsq([a.reshape(-1)[:5], a.reshape(-1)[5:]])
    )


def test_nested_counters_all_count_and_nothing_counts_outside(fake, a, b):
    with count_kernels() as outer:
        a + b
        with count_kernels() as inner:
            a * b
            float(a.sum())
    a + b  # after the block: not counted
    assert (outer.launches, outer.syncs) == (3, 1)
    assert (inner.launches, inner.syncs) == (2, 1)


def test_a_counter_is_closed_even_when_the_block_raises(fake, a):
    with pytest.raises(ZeroDivisionError):
        with count_kernels() as counter:
            a + a
            raise ZeroDivisionError
    a + a
    assert counter.launches == 1
