"""Batching: every sample exactly once per epoch, determinism in (seed, epoch) so a
resumed run sees the same batches, batches on the active backend, eager argument checks."""

from __future__ import annotations

import numpy as np
import pytest

import minimsam as ms
from minimsam.data import Dataset
from minimsam.data.batching import epoch_batches, epoch_order, iterate_batches, num_batches


def toy(n: int) -> tuple[np.ndarray, np.ndarray]:
    """x[i] = (i, -i) and y[i] = i, so a batch reveals which samples it holds."""
    y = np.arange(n, dtype=np.int64)
    return np.stack([y, -y], axis=1).astype(np.float32), y


def toy_dataset(n: int) -> Dataset:
    x, y = toy(n)
    return Dataset("toy", x, y, x[:2], y[:2], num_classes=n, input_shape=(2,))


def labels_of(batches) -> list[np.ndarray]:
    return [ms.to_numpy(yb) for _, yb in batches]


@pytest.mark.parametrize(
    "n, batch_size, expected, expected_drop",
    [(10, 3, 4, 3), (9, 3, 3, 3), (2, 5, 1, 0), (0, 4, 0, 0), (7, 1, 7, 7)],
)
def test_num_batches(n, batch_size, expected, expected_drop):
    assert num_batches(n, batch_size) == expected
    assert num_batches(n, batch_size, drop_last=True) == expected_drop
    x, y = toy(n)
    assert len(list(iterate_batches(x, y, batch_size, seed=0))) == expected
    assert len(list(iterate_batches(x, y, batch_size, seed=0, drop_last=True))) == expected_drop


@pytest.mark.parametrize("n, batch_size", [(10, 3), (12, 4), (5, 8), (1, 1)])
@pytest.mark.parametrize("shuffle", [True, False])
def test_every_sample_exactly_once(n, batch_size, shuffle):
    x, y = toy(n)
    batches = list(iterate_batches(x, y, batch_size, shuffle=shuffle, seed=1))
    sizes = [len(yb) for _, yb in batches]
    assert sizes == [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
    seen = np.concatenate(labels_of(batches))
    np.testing.assert_array_equal(np.sort(seen), np.arange(n))
    if not shuffle:
        np.testing.assert_array_equal(seen, np.arange(n))
    for xb, yb in batches:  # inputs and labels stay paired
        np.testing.assert_array_equal(ms.to_numpy(xb)[:, 0], ms.to_numpy(yb))


def test_drop_last_skips_only_the_remainder():
    x, y = toy(10)
    batches = list(iterate_batches(x, y, 3, seed=2, drop_last=True))
    assert [len(yb) for _, yb in batches] == [3, 3, 3]
    seen = np.concatenate(labels_of(batches))
    assert len(np.unique(seen)) == 9
    order = np.random.default_rng(2).permutation(10)
    np.testing.assert_array_equal(seen, order[:9])


def test_shuffle_is_the_generator_permutation():
    x, y = toy(11)
    seen = np.concatenate(labels_of(iterate_batches(x, y, 4, seed=5)))
    np.testing.assert_array_equal(seen, np.random.default_rng(5).permutation(11))
    rng_seen = np.concatenate(labels_of(iterate_batches(x, y, 4, rng=np.random.default_rng(5))))
    np.testing.assert_array_equal(rng_seen, seen)


def test_unseeded_shuffle_still_covers_every_sample():
    x, y = toy(20)
    seen = np.concatenate(labels_of(iterate_batches(x, y, 6)))
    np.testing.assert_array_equal(np.sort(seen), np.arange(20))


def test_epoch_batches_are_deterministic_in_seed_and_epoch():
    ds = toy_dataset(50)
    first = labels_of(epoch_batches(ds, 8, seed=3, epoch=0))
    again = labels_of(epoch_batches(ds, 8, seed=3, epoch=0))
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    next_epoch = np.concatenate(labels_of(epoch_batches(ds, 8, seed=3, epoch=1)))
    other_seed = np.concatenate(labels_of(epoch_batches(ds, 8, seed=4, epoch=0)))
    assert not np.array_equal(next_epoch, np.concatenate(first))
    assert not np.array_equal(other_seed, np.concatenate(first))
    np.testing.assert_array_equal(np.concatenate(first), epoch_order(50, seed=3, epoch=0))
    np.testing.assert_array_equal(
        epoch_order(50, 3, 1), np.random.default_rng([3, 1]).permutation(50)
    )


def test_resume_reproduces_the_remaining_epochs():
    ds = toy_dataset(30)
    uninterrupted = [labels_of(epoch_batches(ds, 7, seed=9, epoch=e)) for e in range(4)]
    # A "restart" after epoch 1: only (seed, epoch) is needed, no generator state.
    resumed = [labels_of(epoch_batches(ds, 7, seed=9, epoch=e)) for e in (2, 3)]
    for old, new in zip(uninterrupted[2:], resumed):
        assert len(old) == len(new)
        for a, b in zip(old, new):
            np.testing.assert_array_equal(a, b)


def test_batches_live_on_the_active_backend(backend):
    x, y = toy(9)
    for xb, yb in iterate_batches(x, y, 4, seed=0):
        assert isinstance(xb, backend.array_type) and isinstance(yb, backend.array_type)
        assert xb.dtype == np.float32 and yb.dtype == np.int64
    for xb, yb in epoch_batches(toy_dataset(9), 4, seed=0, epoch=0, to_device=False):
        assert isinstance(xb, np.ndarray) and isinstance(yb, np.ndarray)


def test_device_arrays_can_be_batched(backend):
    x, y = toy(10)
    xd, yd = ms.asarray(x), ms.asarray(y)
    for shuffle in (True, False):
        batches = list(iterate_batches(xd, yd, 3, shuffle=shuffle, seed=4))
        assert all(isinstance(yb, backend.array_type) for _, yb in batches)
        seen = np.concatenate(labels_of(batches))
        expected = np.random.default_rng(4).permutation(10) if shuffle else np.arange(10)
        np.testing.assert_array_equal(seen, expected)


def test_arguments_are_checked_at_the_call():
    x, y = toy(6)
    with pytest.raises(ValueError, match="same length"):
        iterate_batches(x, y[:5], 2)
    with pytest.raises(ValueError, match="seed or rng"):
        iterate_batches(x, y, 2, seed=0, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="positive"):
        iterate_batches(x, y, 0)
    with pytest.raises(TypeError, match="batch_size"):
        iterate_batches(x, y, 2.0)
    with pytest.raises(ValueError, match="seed"):
        epoch_batches(toy_dataset(6), 2, seed=-1, epoch=0)
    with pytest.raises(ValueError, match="epoch"):
        epoch_batches(toy_dataset(6), 2, seed=0, epoch=-1)
