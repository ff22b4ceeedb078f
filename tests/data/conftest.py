"""Fixtures for the data tests: an isolated environment, no network, small IDX datasets.

Every test here runs with ``$HOME`` and ``$XDG_CACHE_HOME`` pointing into its own
temporary directory and ``$MINIMSAM_DATA`` unset, so nothing is read from or written to
the real user cache, and with the URL opener replaced by one that fails the test: a
download is only ever served by the fakes that a test installs itself.
"""

from __future__ import annotations

import gzip
import hashlib
import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from minimsam.data import datasets
from minimsam.data.idx import write_idx


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory, monkeypatch):
    """Private HOME and XDG cache (returned as ``.home``, ``.xdg``), no $MINIMSAM_DATA,
    and no network. Kept apart from ``tmp_path``, which stays empty for the test."""
    root = tmp_path_factory.mktemp("env")
    env = SimpleNamespace(home=root / "home", xdg=root / "xdg-cache")
    env.home.mkdir()
    monkeypatch.setenv("HOME", str(env.home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(env.xdg))
    monkeypatch.delenv("MINIMSAM_DATA", raising=False)

    def no_network(url, *args, **kwargs):
        raise AssertionError(f"a test tried to download {url}")

    monkeypatch.setattr(datasets, "_urlopen", no_network)
    return env


def _make_idx_files(directory: Path, seed: int, n_train: int = 30, n_test: int = 12, gz=True):
    """Write a tiny MNIST-shaped dataset (28x28 uint8 images, labels 0..9) into ``directory``.

    Returns the arrays written, keyed like ``datasets.IDX_FILES``.
    """
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, size=n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, size=n_test, dtype=np.uint8),
    }
    directory.mkdir(parents=True, exist_ok=True)
    for role, stem in datasets.IDX_FILES.items():
        write_idx(directory / (stem + (".gz" if gz else "")), arrays[role])
    return arrays


def _idx_gz_bytes(array: np.ndarray) -> bytes:
    """The bytes of ``array`` as a gzipped IDX file (what a mirror would serve)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as f:
        f.write(bytes([0, 0, 0x08, array.ndim]))
        f.write(b"".join(n.to_bytes(4, "big") for n in array.shape))
        f.write(np.ascontiguousarray(array, dtype=np.uint8).tobytes())
    return buffer.getvalue()


class FakeResponse(io.BytesIO):
    """A response serving ``data``; with ``fail_after`` it raises once that many bytes were read."""

    def __init__(self, data: bytes, fail_after: int | None = None):
        super().__init__(data)
        self.fail_after = fail_after

    def read(self, size=-1):
        if self.fail_after is not None and self.tell() >= self.fail_after:
            raise ConnectionResetError("connection reset by peer (fake)")
        limit = size if self.fail_after is None else min(size, self.fail_after - self.tell())
        return super().read(limit)


class FakeOpener:
    """Replaces ``urllib.request.urlopen``: serves bytes or raises, per URL, and logs calls."""

    def __init__(self, routes: dict):
        self.routes = routes
        self.calls: list[str] = []

    def __call__(self, url, timeout=None):
        self.calls.append(url)
        route = self.routes.get(url)
        if route is None:
            raise AssertionError(f"unexpected URL {url}")
        if isinstance(route, BaseException):
            raise route
        return route() if callable(route) else FakeResponse(route)


@pytest.fixture
def make_idx_files():
    """``make_idx_files(directory, seed, n_train=30, n_test=12, gz=True) -> arrays``."""
    return _make_idx_files


@pytest.fixture
def idx_gz_bytes():
    """``idx_gz_bytes(uint8_array) -> bytes`` of a gzipped IDX file, built by hand."""
    return _idx_gz_bytes


@pytest.fixture
def install_opener(monkeypatch):
    """``install_opener(routes) -> FakeOpener``: routes map URL -> bytes, exception, or
    a callable returning a response. Replaces the download opener for this test."""

    def install(routes: dict) -> FakeOpener:
        opener = FakeOpener(routes)
        monkeypatch.setattr(datasets, "_urlopen", opener)
        return opener

    return install


@pytest.fixture
def fake_response():
    """The ``FakeResponse`` class, for routes that fail part-way."""
    return FakeResponse


@pytest.fixture
def sha256():
    return lambda data: hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="session")
def mnist1d_dir(tmp_path_factory):
    """A directory holding the default MNIST-1D, generated once per test session."""
    pytest.importorskip("mnist1d")
    directory = tmp_path_factory.mktemp("mnist1d")
    with pytest.MonkeyPatch.context() as mp:  # keep the real user cache out of it
        mp.setenv("XDG_CACHE_HOME", str(directory / "xdg-cache"))
        mp.delenv("MINIMSAM_DATA", raising=False)
        datasets.load("mnist1d", data_dir=directory)
    return directory
