"""Dataset loading: search order, local IDX files, downloads through a faked opener
(never the network), the real Fashion-MNIST from the Debian package, MNIST-1D generation
and cache, normalisation, subsets and label noise."""

from __future__ import annotations

import dataclasses
import gzip
import random
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from minimsam.data import datasets
from minimsam.data.datasets import (
    IDX_FILES,
    DatasetNotFoundError,
    DownloadError,
    flip_labels,
    load,
    search_dirs,
    subset_indices,
)
from minimsam.data.idx import IDXFormatError, write_idx

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
GZ_NAMES = [stem + ".gz" for stem in IDX_FILES.values()]


def no_debian(monkeypatch, tmp_path):
    """Point Fashion-MNIST's Debian directory at an empty place, for 'not found' tests."""
    source = datasets._SOURCES["fashion-mnist"]
    fake = dataclasses.replace(source, debian_dir=str(tmp_path / "no-debian"))
    monkeypatch.setitem(datasets._SOURCES, "fashion-mnist", fake)


# ----------------------------------------------------------------------------- search order


def test_search_order_with_everything_set(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIMSAM_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert search_dirs("fashion-mnist") == [
        tmp_path / "env" / "fashion-mnist",
        tmp_path / "xdg" / "minimsam" / "fashion-mnist",
        DEBIAN_FASHION,
    ]
    # A folder the caller names is the only place looked in (issue 25).
    assert search_dirs("fashion-mnist", tmp_path / "explicit") == [tmp_path / "explicit"]


def test_search_order_defaults_to_the_home_cache(isolated_env, monkeypatch):
    monkeypatch.delenv("XDG_CACHE_HOME")
    home_cache = isolated_env.home / ".cache" / "minimsam"
    assert search_dirs("fashion-mnist") == [home_cache / "fashion-mnist", DEBIAN_FASHION]
    assert search_dirs("mnist") == [home_cache / "mnist"]
    assert search_dirs("mnist1d") == [home_cache / "mnist1d"]


@pytest.mark.parametrize("value", ["", "relative/cache"])
def test_empty_or_relative_xdg_cache_home_is_ignored(isolated_env, monkeypatch, value):
    monkeypatch.setenv("XDG_CACHE_HOME", value)
    assert datasets.cache_dir() == isolated_env.home / ".cache" / "minimsam"


def test_empty_minimsam_data_is_ignored(isolated_env, monkeypatch):
    monkeypatch.setenv("MINIMSAM_DATA", "")
    assert search_dirs("mnist") == [isolated_env.xdg / "minimsam" / "mnist"]


@pytest.mark.parametrize("name", ["fashion-mnist", "mnist", "mnist1d"])
def test_debian_dir_is_last_and_only_for_fashion(tmp_path, monkeypatch, name):
    monkeypatch.setenv("MINIMSAM_DATA", str(tmp_path))
    dirs = search_dirs(name)
    assert (DEBIAN_FASHION in dirs) == (name == "fashion-mnist")
    if name == "fashion-mnist":
        assert dirs[-1] == DEBIAN_FASHION


@pytest.mark.parametrize(
    "alias, name",
    [("Fashion_MNIST", "fashion-mnist"), ("fmnist", "fashion-mnist"), ("MNIST-1D", "mnist1d")],
)
def test_name_aliases(isolated_env, alias, name):
    assert search_dirs(alias) == search_dirs(name)


def test_unknown_name(isolated_env):
    with pytest.raises(ValueError, match="valid names: mnist1d, fashion-mnist, mnist"):
        load("cifar10")


# ----------------------------------------------------------------------------- local IDX files


def test_first_complete_directory_wins(isolated_env, tmp_path, monkeypatch, make_idx_files):
    monkeypatch.setenv("MINIMSAM_DATA", str(tmp_path / "env"))
    incomplete_env = make_idx_files(tmp_path / "env" / "mnist", seed=2)
    (tmp_path / "env" / "mnist" / GZ_NAMES[3]).unlink()  # incomplete: skipped
    in_cache = make_idx_files(isolated_env.xdg / "minimsam" / "mnist", seed=3)
    ds = load("mnist", normalize=False, dtype=np.float64)
    np.testing.assert_array_equal(ds.y_train, in_cache["train_labels"])
    assert not np.array_equal(ds.y_train, incomplete_env["train_labels"])
    np.testing.assert_array_equal(ds.x_test, in_cache["test_images"].reshape(12, 784) / 255)
    assert ds.source == str(isolated_env.xdg / "minimsam" / "mnist")


def test_a_named_folder_is_used_or_refused_never_replaced(
    isolated_env, tmp_path, monkeypatch, make_idx_files
):
    """An incomplete data_dir is refused even though complete copies are installed."""
    monkeypatch.setenv("MINIMSAM_DATA", str(tmp_path / "env"))
    make_idx_files(tmp_path / "env" / "mnist", seed=2)
    make_idx_files(isolated_env.xdg / "minimsam" / "mnist", seed=3)
    explicit = tmp_path / "explicit"
    mine = make_idx_files(explicit, seed=1)
    ds = load("mnist", data_dir=explicit, normalize=False, dtype=np.float64)
    np.testing.assert_array_equal(ds.y_train, mine["train_labels"])
    assert ds.source == str(explicit)
    (explicit / GZ_NAMES[3]).unlink()
    with pytest.raises(DatasetNotFoundError, match="lacks t10k-labels-idx1-ubyte"):
        load("mnist", data_dir=explicit)
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        load("mnist", data_dir=tmp_path / "typo")


def test_cache_is_searched_after_the_environment(isolated_env, make_idx_files):
    in_cache = make_idx_files(isolated_env.xdg / "minimsam" / "fashion-mnist", seed=4)
    ds = load("fashion-mnist", download=False)  # found before the (real) Debian directory
    np.testing.assert_array_equal(ds.y_test, in_cache["test_labels"])


def test_uncompressed_files_are_found(tmp_path, make_idx_files):
    arrays = make_idx_files(tmp_path, seed=5, gz=False)
    ds = load("mnist", data_dir=tmp_path, download=False, normalize=False, flatten=False)
    np.testing.assert_array_equal(ds.x_train[:, 0] * 255, arrays["train_images"])


def test_image_dataset_shapes_and_types(tmp_path, make_idx_files):
    make_idx_files(tmp_path, seed=6)
    flat = load("mnist", data_dir=tmp_path)
    assert flat.x_train.shape == (30, 784) and flat.x_test.shape == (12, 784)
    assert flat.input_shape == (784,)
    assert flat.x_train.dtype == np.float32
    assert flat.y_train.dtype == np.int64 and flat.y_test.dtype == np.int64
    assert flat.num_classes == 10 and len(flat.class_names) == 10
    images = load("mnist", data_dir=tmp_path, flatten=False, dtype=np.float64)
    assert images.x_train.shape == (30, 1, 28, 28) and images.input_shape == (1, 28, 28)
    assert images.x_train.dtype == np.float64
    np.testing.assert_allclose(images.x_train.reshape(30, 784), flat.x_train, atol=1e-6)
    assert "mnist" in repr(flat) and "(30, 784)" in repr(flat)


def test_normalisation_uses_training_statistics(tmp_path, make_idx_files):
    raw = make_idx_files(tmp_path, seed=7)
    ds = load("mnist", data_dir=tmp_path, dtype=np.float64)
    u_train = raw["train_images"].reshape(30, 784) / 255.0
    u_test = raw["test_images"].reshape(12, 784) / 255.0
    mean, std = u_train.mean(), u_train.std()
    assert ds.mean == pytest.approx(mean, rel=1e-12) and ds.std == pytest.approx(std, rel=1e-12)
    np.testing.assert_allclose(ds.x_train, (u_train - mean) / std, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ds.x_test, (u_test - mean) / std, rtol=1e-12, atol=1e-12)
    assert abs(ds.x_train.mean()) < 1e-12 and ds.x_train.std() == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_allclose(ds.x_test * ds.std + ds.mean, u_test, atol=1e-12)


def test_without_normalisation_pixels_are_in_unit_interval(tmp_path, make_idx_files):
    raw = make_idx_files(tmp_path, seed=8)
    ds = load("mnist", data_dir=tmp_path, normalize=False)
    assert ds.mean == 0.0 and ds.std == 1.0
    assert ds.x_train.min() >= 0.0 and ds.x_train.max() <= 1.0
    np.testing.assert_allclose(ds.x_train * 255, raw["train_images"].reshape(30, 784), atol=1e-4)


def test_labels_out_of_range_are_rejected(tmp_path, make_idx_files):
    make_idx_files(tmp_path, seed=9)
    write_idx(tmp_path / GZ_NAMES[1], np.full(30, 10, dtype=np.uint8))
    with pytest.raises(IDXFormatError, match="0..9"):
        load("mnist", data_dir=tmp_path)


def test_images_of_the_wrong_size_are_rejected(tmp_path, make_idx_files):
    make_idx_files(tmp_path, seed=9)
    write_idx(tmp_path / GZ_NAMES[2], np.zeros((12, 32, 32), dtype=np.uint8))
    with pytest.raises(IDXFormatError, match=r"\(N, 28, 28\)"):
        load("mnist", data_dir=tmp_path)


@pytest.mark.parametrize("dtype", [np.int32, "uint8", np.bool_])
def test_dtype_must_be_floating(tmp_path, make_idx_files, dtype):
    make_idx_files(tmp_path, seed=10)
    with pytest.raises(TypeError, match="floating"):
        load("mnist", data_dir=tmp_path, dtype=dtype)


# ----------------------------------------------------------------------------- not found


def test_not_found_error_says_where_and_how(isolated_env, tmp_path, monkeypatch):
    no_debian(monkeypatch, tmp_path)
    with pytest.raises(DatasetNotFoundError) as err:
        load("fashion-mnist", download=False)
    message = str(err.value)
    for directory in search_dirs("fashion-mnist"):
        assert str(directory) in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "$MINIMSAM_DATA" in message and "train-images-idx3-ubyte.gz" in message
    assert isinstance(err.value, FileNotFoundError)


def test_mnist_not_found_has_no_apt_hint(isolated_env):
    with pytest.raises(DatasetNotFoundError) as err:
        load("mnist", download=False)
    assert "apt-get" not in str(err.value)
    assert "ossci-datasets" in str(err.value)


# ----------------------------------------------------------------------------- downloads


@pytest.fixture
def fake_mnist(monkeypatch, idx_gz_bytes, sha256):
    """Small MNIST-shaped .gz files; the MNIST source points at two fake mirrors whose
    checksums are these files'. Returns ``(files: name -> bytes, mirrors)``."""
    rng = np.random.default_rng(11)
    arrays = {
        "train_images": rng.integers(0, 256, size=(20, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, size=20, dtype=np.uint8),
        "test_images": rng.integers(0, 256, size=(8, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, size=8, dtype=np.uint8),
    }
    files = {IDX_FILES[role] + ".gz": idx_gz_bytes(a) for role, a in arrays.items()}
    mirrors = ("https://mirror-a.invalid/mnist/", "https://mirror-b.invalid/mnist/")
    source = dataclasses.replace(
        datasets._SOURCES["mnist"],
        mirrors=mirrors,
        sha256={name: sha256(data) for name, data in files.items()},
    )
    monkeypatch.setitem(datasets._SOURCES, "mnist", source)
    return files, mirrors


def routes_for(mirror: str, files: dict, **overrides) -> dict:
    return {mirror + name: overrides.get(name, data) for name, data in files.items()}


def test_download_writes_verified_files(isolated_env, fake_mnist, install_opener):
    files, (a, _) = fake_mnist
    opener = install_opener(routes_for(a, files))
    ds = load("mnist", normalize=False)
    target = isolated_env.xdg / "minimsam" / "mnist"
    assert sorted(p.name for p in target.iterdir()) == sorted(files)
    for name, data in files.items():
        assert (target / name).read_bytes() == data
    assert sorted(opener.calls) == sorted(a + name for name in files)
    assert ds.x_train.shape == (20, 784) and ds.y_test.shape == (8,)
    load("mnist")  # now found locally: no second download
    assert len(opener.calls) == 4


def test_download_goes_to_minimsam_data_when_set(tmp_path, monkeypatch, fake_mnist, install_opener):
    files, (a, _) = fake_mnist
    monkeypatch.setenv("MINIMSAM_DATA", str(tmp_path))
    install_opener(routes_for(a, files))
    load("mnist")
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == sorted(files)


def test_bad_checksum_everywhere_leaves_no_file(isolated_env, fake_mnist, install_opener):
    files, (a, b) = fake_mnist
    name = GZ_NAMES[0]
    tampered = files[name][:-1] + bytes([files[name][-1] ^ 1])
    routes = routes_for(a, files, **{name: tampered}) | routes_for(b, files, **{name: tampered})
    install_opener(routes)
    with pytest.raises(DownloadError, match="checksum mismatch") as err:
        load("mnist")
    target = isolated_env.xdg / "minimsam" / "mnist"
    assert not (target / name).exists()
    assert not [p for p in target.iterdir() if p.name.endswith(".part")]
    assert a + name in str(err.value) and b + name in str(err.value)


def test_bad_mirror_falls_back_to_the_next(isolated_env, fake_mnist, install_opener):
    files, (a, b) = fake_mnist
    missing = urllib.error.HTTPError(a + GZ_NAMES[1], 404, "Not Found", None, None)
    routes = routes_for(a, files, **{GZ_NAMES[0]: b"garbage", GZ_NAMES[1]: missing})
    opener = install_opener(routes | routes_for(b, files))
    load("mnist")
    target = isolated_env.xdg / "minimsam" / "mnist"
    for name, data in files.items():
        assert (target / name).read_bytes() == data
    assert b + GZ_NAMES[0] in opener.calls and b + GZ_NAMES[2] not in opener.calls


def test_interrupted_download_leaves_no_partial_file(
    isolated_env, fake_mnist, install_opener, fake_response
):
    files, (a, b) = fake_mnist
    name = GZ_NAMES[0]
    half = len(files[name]) // 2
    dropped = lambda: fake_response(files[name], fail_after=half)  # noqa: E731
    short = files[name][:half]  # the server closes early without an error
    install_opener(routes_for(a, files, **{name: dropped}) | routes_for(b, files, **{name: short}))
    with pytest.raises(DownloadError) as err:
        load("mnist")
    assert "connection reset" in str(err.value) and "checksum mismatch" in str(err.value)
    target = isolated_env.xdg / "minimsam" / "mnist"
    assert list(target.iterdir()) == []  # train-images is the first file fetched


def test_offline_error_says_where_and_how(isolated_env, tmp_path, monkeypatch, install_opener):
    no_debian(monkeypatch, tmp_path)
    mirrors = datasets._SOURCES["fashion-mnist"].mirrors
    offline = urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
    install_opener({m + name: offline for m in mirrors for name in GZ_NAMES})
    with pytest.raises(DownloadError) as err:
        load("fashion-mnist")
    message = str(err.value)
    assert "name resolution" in message and mirrors[0] in message and mirrors[1] in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert str(isolated_env.xdg / "minimsam" / "fashion-mnist") in message
    assert not any((isolated_env.xdg / "minimsam" / "fashion-mnist").iterdir())


def test_download_fetches_only_missing_files(tmp_path, fake_mnist, install_opener):
    files, (a, _) = fake_mnist
    (tmp_path / GZ_NAMES[0]).write_bytes(files[GZ_NAMES[0]])
    (tmp_path / GZ_NAMES[3]).write_bytes(files[GZ_NAMES[3]])
    opener = install_opener(routes_for(a, files))
    paths = datasets.download("mnist", tmp_path)
    assert sorted(opener.calls) == sorted([a + GZ_NAMES[1], a + GZ_NAMES[2]])
    assert sorted(p.name for p in paths.values()) == sorted(files)


def test_download_counts_uncompressed_files_as_present(tmp_path, fake_mnist, install_opener):
    files, (a, _) = fake_mnist
    stem = GZ_NAMES[2][: -len(".gz")]
    (tmp_path / stem).write_bytes(gzip.decompress(files[GZ_NAMES[2]]))
    opener = install_opener(routes_for(a, files))
    paths = datasets.download("mnist", tmp_path)
    assert a + GZ_NAMES[2] not in opener.calls and len(opener.calls) == 3
    assert paths["test_images"] == tmp_path / stem


def test_download_into_an_uncreatable_directory(tmp_path, fake_mnist, install_opener):
    (tmp_path / "file").write_bytes(b"")
    opener = install_opener({})
    with pytest.raises(DownloadError, match="cannot create") as err:
        datasets.download("mnist", tmp_path / "file" / "sub")
    assert "looked for in" in str(err.value) and opener.calls == []


def test_download_false_never_calls_the_opener(isolated_env, fake_mnist, install_opener):
    opener = install_opener({})
    with pytest.raises(DatasetNotFoundError):
        load("mnist", download=False)
    assert opener.calls == []


def test_real_checksums_are_sha256_hex():
    for source in datasets._SOURCES.values():
        assert sorted(source.sha256) == sorted(GZ_NAMES)
        for digest in source.sha256.values():
            assert len(digest) == 64 and int(digest, 16) >= 0
        assert all(m.endswith("/") for m in source.mirrors)


# ----------------------------------------------------------------------------- real Fashion-MNIST


@pytest.fixture(scope="module")
def real_fashion(debian_fashion_dir):
    return load("fashion-mnist", data_dir=debian_fashion_dir, download=False, flatten=False)


def test_real_fashion_mnist(real_fashion):
    ds = real_fashion
    assert ds.x_train.shape == (60000, 1, 28, 28) and ds.x_test.shape == (10000, 1, 28, 28)
    assert ds.x_train.reshape(60000, -1).shape == (60000, 784)
    # Published facts: 6000 training and 1000 test images per class, classes 0..9.
    np.testing.assert_array_equal(np.bincount(ds.y_train), np.full(10, 6000))
    np.testing.assert_array_equal(np.bincount(ds.y_test), np.full(10, 1000))
    assert ds.class_names[9] == "Ankle boot"
    assert 0.2 < ds.mean < 0.4 and 0.25 < ds.std < 0.45
    pixels = ds.x_train * ds.std + ds.mean
    assert pixels.min() == pytest.approx(0.0, abs=1e-5)
    assert pixels.max() == pytest.approx(1.0, abs=1e-5)


def test_real_fashion_mnist_is_found_through_the_search_order(real_fashion):
    ds = load("fashion-mnist", download=False, n_train=100, seed=3)  # empty cache first
    np.testing.assert_array_equal(ds.y_train, real_fashion.y_train[ds.train_indices])
    np.testing.assert_array_equal(ds.x_test, real_fashion.x_test.reshape(10000, 784))


# ----------------------------------------------------------------------------- MNIST-1D


def test_mnist1d_default(mnist1d_dir):
    ds = load("mnist1d", data_dir=mnist1d_dir)
    assert ds.x_train.shape == (4000, 40) and ds.x_test.shape == (1000, 40)
    assert ds.y_train.dtype == np.int64 and set(np.unique(ds.y_train)) == set(range(10))
    assert ds.num_classes == 10 and ds.input_shape == (40,)
    assert abs(ds.x_train.mean()) < 1e-5 and ds.x_train.std() == pytest.approx(1.0, abs=1e-5)
    conv = load("mnist1d", data_dir=mnist1d_dir, flatten=False)
    assert conv.x_train.shape == (4000, 1, 40)
    assert len(list(mnist1d_dir.glob("mnist1d-*.npz"))) == 1


def test_mnist1d_is_the_default_dataset(isolated_env, mnist1d_dir, monkeypatch):
    monkeypatch.setenv("MINIMSAM_DATA", str(mnist1d_dir.parent))
    (mnist1d_dir.parent / "mnist1d").mkdir(exist_ok=True)
    for path in mnist1d_dir.glob("*.npz"):
        (mnist1d_dir.parent / "mnist1d" / path.name).write_bytes(path.read_bytes())
    monkeypatch.setattr(datasets, "_generate_mnist1d", pytest.fail)  # must come from the cache
    assert load().name == "mnist1d"


def test_mnist1d_generation_matches_the_package(tmp_path):
    mnist1d_data = pytest.importorskip("mnist1d.data")
    ds = load(
        "mnist1d",
        data_dir=tmp_path,
        mnist1d_args={"num_samples": 200, "seed": 3},
        normalize=False,
        dtype=np.float64,
    )
    args = mnist1d_data.get_dataset_args()
    args.num_samples, args.seed = 200, 3
    state = np.random.get_state()
    try:
        reference = mnist1d_data.make_dataset(args)
    finally:
        np.random.set_state(state)
    assert ds.x_train.shape == (160, 40)  # train_split 0.8
    np.testing.assert_array_equal(ds.x_train, reference["x"])
    np.testing.assert_array_equal(ds.y_train, reference["y"])
    np.testing.assert_array_equal(ds.x_test, reference["x_test"])
    np.testing.assert_array_equal(ds.y_test, reference["y_test"])


def test_mnist1d_generation_restores_global_random_state():
    pytest.importorskip("mnist1d")
    np.random.seed(123)
    random.seed(456)
    expected = (np.random.random(), random.random())
    np.random.seed(123)
    random.seed(456)
    data = datasets._generate_mnist1d({"num_samples": 50})
    assert data["x"].shape == (40, 40) and data["x_test"].shape == (10, 40)
    assert (np.random.random(), random.random()) == expected


def test_mnist1d_unknown_argument(isolated_env):
    pytest.importorskip("mnist1d")
    with pytest.raises(ValueError, match="unknown mnist1d_args"):
        load("mnist1d", mnist1d_args={"n_samples": 10})


def test_mnist1d_args_only_for_mnist1d(tmp_path, make_idx_files):
    make_idx_files(tmp_path, seed=12)
    with pytest.raises(ValueError, match="mnist1d_args applies"):
        load("mnist", data_dir=tmp_path, mnist1d_args={"seed": 1})


@pytest.fixture
def counting_generator(monkeypatch):
    """Replace the MNIST-1D generator by a fast fake that counts its calls."""
    pytest.importorskip("mnist1d")  # its version names the cache file
    calls = []

    def generate(overrides):
        calls.append(dict(overrides))
        rng = np.random.default_rng(overrides.get("seed", 0))
        return {
            "x": rng.standard_normal((16, 40)),
            "y": np.arange(16) % 10,
            "x_test": rng.standard_normal((4, 40)),
            "y_test": np.arange(4),
        }

    monkeypatch.setattr(datasets, "_generate_mnist1d", generate)
    return calls


def test_mnist1d_cached_in_user_cache_and_reused(isolated_env, counting_generator):
    first = load("mnist1d")
    cached = list((isolated_env.xdg / "minimsam" / "mnist1d").glob("*.npz"))
    assert len(cached) == 1 and len(counting_generator) == 1
    again = load("mnist1d")
    assert len(counting_generator) == 1
    np.testing.assert_array_equal(again.x_train, first.x_train)
    other = load("mnist1d", mnist1d_args={"seed": 5})
    assert len(counting_generator) == 2 and counting_generator[-1] == {"seed": 5}
    assert len(list(cached[0].parent.glob("*.npz"))) == 2
    assert not np.array_equal(other.x_train, first.x_train)
    assert not [p for p in cached[0].parent.iterdir() if p.name.endswith(".part")]


def test_unreadable_mnist1d_cache_is_regenerated(isolated_env, counting_generator):
    load("mnist1d")
    (path,) = (isolated_env.xdg / "minimsam" / "mnist1d").glob("*.npz")
    path.write_bytes(b"not a zip file")
    with pytest.warns(UserWarning, match="unreadable"):
        ds = load("mnist1d")
    assert len(counting_generator) == 2 and ds.x_train.shape == (16, 40)
    with np.load(path) as f:  # rewritten whole
        assert f["x"].shape == (16, 40)


# ----------------------------------------------------------------------------- subsets


def test_subset(mnist1d_dir):
    full = load("mnist1d", data_dir=mnist1d_dir)
    sub = load("mnist1d", data_dir=mnist1d_dir, n_train=500, seed=7)
    idx = sub.train_indices
    assert sub.x_train.shape == (500, 40) and len(np.unique(idx)) == 500
    assert np.all(np.diff(idx) > 0) and idx[0] >= 0 and idx[-1] < 4000
    np.testing.assert_array_equal(sub.x_train, full.x_train[idx])
    np.testing.assert_array_equal(sub.y_train, full.y_train[idx])
    np.testing.assert_array_equal(sub.x_test, full.x_test)  # test split untouched
    assert sub.mean == full.mean and sub.std == full.std  # statistics of the full split
    again = load("mnist1d", data_dir=mnist1d_dir, n_train=500, seed=7)
    np.testing.assert_array_equal(again.train_indices, idx)
    other = load("mnist1d", data_dir=mnist1d_dir, n_train=500, seed=8)
    assert not np.array_equal(other.train_indices, idx)


def test_subsets_with_one_seed_are_nested():
    small, large = subset_indices(1000, 100, seed=3), subset_indices(1000, 400, seed=3)
    assert set(small) <= set(large)
    np.testing.assert_array_equal(subset_indices(50, 50, seed=0), np.arange(50))


@pytest.mark.parametrize(
    "n_train, error", [(0, ValueError), (4001, ValueError), (1.5, TypeError), (True, TypeError)]
)
def test_invalid_subset_size(mnist1d_dir, n_train, error):
    with pytest.raises(error, match="n_train"):
        load("mnist1d", data_dir=mnist1d_dir, n_train=n_train)


@pytest.mark.parametrize("seed", [-1, 1.0, None])
def test_invalid_seed(mnist1d_dir, seed):
    with pytest.raises(ValueError, match="seed"):
        load("mnist1d", data_dir=mnist1d_dir, seed=seed)


# ----------------------------------------------------------------------------- label noise


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.25, 0.5, 1.0])
def test_flip_labels_counts_and_classes(fraction):
    y = np.arange(1000) % 10
    noisy = flip_labels(y, fraction, num_classes=10, seed=0)
    k = int(np.floor(fraction * 1000 + 0.5))
    assert np.sum(noisy != y) == k  # exactly k changed, none "flipped" to its own class
    assert noisy.dtype == np.int64 and noisy.min() >= 0 and noisy.max() <= 9
    np.testing.assert_array_equal(y, np.arange(1000) % 10)  # input not modified


def test_flip_labels_rounds_half_up_and_draws_every_other_class():
    assert np.sum(flip_labels(np.zeros(10, dtype=int), 0.15, 3, seed=1) != 0) == 2  # 1.5 -> 2
    assert np.sum(flip_labels(np.zeros(10, dtype=int), 0.14, 3, seed=1) != 0) == 1
    y = np.arange(9000) % 10
    shift = (flip_labels(y, 1.0, 10, seed=2) - y) % 10
    counts = np.bincount(shift, minlength=10)
    assert counts[0] == 0 and np.all(counts[1:] > 800)  # about 1000 each of shifts 1..9


@pytest.mark.parametrize("fraction", [-0.1, 1.5, float("nan")])
def test_flip_labels_rejects_bad_fractions(fraction):
    with pytest.raises(ValueError, match="label_noise"):
        flip_labels(np.zeros(4, dtype=int), fraction, 10, seed=0)


def test_label_noise_in_load(mnist1d_dir):
    clean = load("mnist1d", data_dir=mnist1d_dir, n_train=1000, seed=4)
    noisy = load("mnist1d", data_dir=mnist1d_dir, n_train=1000, seed=4, label_noise=0.2)
    assert clean.y_train_clean is None
    np.testing.assert_array_equal(noisy.y_train_clean, clean.y_train)
    assert np.sum(noisy.y_train != clean.y_train) == 200
    np.testing.assert_array_equal(noisy.x_train, clean.x_train)
    np.testing.assert_array_equal(noisy.y_test, clean.y_test)  # test labels never touched
    np.testing.assert_array_equal(noisy.x_test, clean.x_test)
    assert "noisy_labels=200" in repr(noisy)
    same = load("mnist1d", data_dir=mnist1d_dir, n_train=1000, seed=4, label_noise=0.2)
    np.testing.assert_array_equal(same.y_train, noisy.y_train)
    other = load("mnist1d", data_dir=mnist1d_dir, n_train=1000, seed=5, label_noise=0.2)
    assert not np.array_equal(other.y_train_clean, noisy.y_train_clean)


def test_label_noise_on_the_full_test_split_untouched(tmp_path, make_idx_files):
    raw = make_idx_files(tmp_path, seed=13)
    ds = load("mnist", data_dir=tmp_path, label_noise=1.0)
    np.testing.assert_array_equal(ds.y_test, raw["test_labels"])
    assert np.all(ds.y_train != raw["train_labels"])
