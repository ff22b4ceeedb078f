"""Shared fixtures: the backend is a test parameter (numpy, a strict fake GPU, cupy).

A test that takes the ``backend`` fixture runs once per backend: ``numpy``, the strict
``fakegpu`` double (refuses host/device mixing as CuPy does), and ``cupy`` where a GPU
exists. The backend is active for the duration of the test and restored afterwards.
Set ``MINIMSAM_TEST_BACKENDS=cupy`` (comma-separated) to choose the list explicitly,
e.g. on a GPU machine.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import minimsam as ms
from minimsam.data import Dataset


def _backends_under_test() -> list[str]:
    chosen = os.environ.get("MINIMSAM_TEST_BACKENDS")
    if chosen:
        return [name.strip() for name in chosen.split(",") if name.strip()]
    names = ["numpy", "fakegpu"]
    try:
        ms.set_backend("cupy")
        names.append("cupy")
    except ms.BackendUnavailableError:
        pass
    finally:
        ms.set_backend("numpy")
    return names


BACKENDS = _backends_under_test()


@pytest.fixture(params=BACKENDS)
def backend(request):
    """The active backend for this test (numpy, fakegpu, and cupy when a GPU is present)."""
    with ms.use_backend(request.param) as active:
        yield active


@pytest.fixture
def rng():
    """A seeded host random generator; draw on the host, then ms.asarray(...) to the device."""
    return np.random.default_rng(0)


DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


@pytest.fixture(scope="session")
def debian_fashion_dir():
    """Debian's Fashion-MNIST folder (package dataset-fashion-mnist).

    Missing, it is a failure in CI, which installs the package (.ci/run), and a skip with
    the reason on a workstation without it.
    """
    from pathlib import Path

    path = Path(DEBIAN_FASHION_MNIST)
    if not path.is_dir():
        message = f"{path} missing: apt-get install dataset-fashion-mnist"
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide Fashion-MNIST: {message}")
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def blobs():
    """Three Gaussian blobs in 6-D: 150 training samples (5 batches of 32), 60 test."""
    rng = np.random.default_rng(0)
    centers = 2.0 * rng.standard_normal((3, 6))

    def draw(n):
        y = rng.integers(0, 3, n)
        return (centers[y] + rng.standard_normal((n, 6))).astype(np.float32), y.astype(np.int64)

    (x, y), (xt, yt) = draw(150), draw(60)
    return Dataset("blobs", x, y, xt, yt, num_classes=3, input_shape=(6,))
