"""Bad labels and data (issue 15): the loss, ``Dataset``, ``data.load`` and the MNIST-1D cache.

Each row is one input and a one-line error (type and message fragment) or the right
result. The data rows run in a private ``$HOME`` and cache with no network; rows that
write files get the test's ``tmp_path``.
"""

from __future__ import annotations

import math
import shutil
import warnings

import numpy as np
import pytest

import minimsam as ms
from minimsam import nn
from minimsam.data import Dataset, IDXFormatError, canonical_name, datasets, load
from minimsam.data.idx import write_idx

from ._library_table import Row, check, params


@pytest.fixture(autouse=True)
def isolated(tmp_path_factory, monkeypatch):
    """Own HOME and XDG cache, no $MINIMSAM_DATA, and no downloads."""
    root = tmp_path_factory.mktemp("env")
    monkeypatch.setenv("HOME", str(root / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / "xdg"))
    monkeypatch.delenv("MINIMSAM_DATA", raising=False)

    def no_network(url, *args, **kwargs):
        raise AssertionError(f"a test tried to download {url}")

    monkeypatch.setattr(datasets, "_urlopen", no_network)


def arr(values, dtype=np.float64):
    return ms.asarray(np.asarray(values, dtype=dtype))


LOGITS = [[0.0, 0.0, 0.0], [1.0, 0.0, -1.0]]


def device_flag():
    """The default checks NumPy labels; device labels need check_labels=True (a host sync)."""
    return {} if ms.get_backend().name == "numpy" else {"check_labels": True}


def ce(labels, dtype=np.int64, logits=LOGITS):
    return nn.cross_entropy(arr(logits), arr(labels, dtype), **device_flag())


LOSS_ROWS = [
    Row("cross_entropy: label -1", lambda: ce([0, -1]),
        ValueError, "labels must lie in [0, 3) for 3 classes, found values from -1 to 0"),
    Row("cross_entropy: label = number of classes", lambda: ce([3, 0]),
        ValueError, "found values from 0 to 3"),
    Row("cross_entropy: float labels", lambda: ce([0.0, 1.0], np.float64),
        ValueError, "labels must be an integer array"),
    Row("cross_entropy: boolean labels", lambda: ce([True, False], bool),
        ValueError, "labels must be an integer array"),
    Row("cross_entropy: wrong length", lambda: ce([0, 1, 2]),
        ValueError, "labels must have shape (2,)"),
    Row("cross_entropy: labels as a column", lambda: ce([[0], [1]]),
        ValueError, "got (2, 1)"),
    Row("cross_entropy: 1-D logits", lambda: ce([0], logits=[0.0, 1.0]),
        ValueError, "logits must have shape (N, K)"),
    Row("cross_entropy: labels as a list", lambda: nn.cross_entropy(arr(LOGITS), [0, 1]),
        ValueError, "labels must be an integer array"),
    Row("smoothed_targets: label -1", lambda: nn.smoothed_targets(
        arr([-1], np.int64), 3, 0.1, **device_flag()), ValueError, "labels must lie in [0, 3)"),
    Row("accuracy: labels as a column", lambda: nn.accuracy(arr(LOGITS), arr([[0], [1]], int)),
        ValueError, "labels must have shape (2,)"),
    Row("cross_entropy: uint8 labels, right value", lambda: ce([0, 0], np.uint8),
        expect=lambda v: np.testing.assert_allclose(
            float(ms.to_numpy(v)),
            (math.log(3) + math.log(1 + math.exp(-1) + math.exp(-2))) / 2, rtol=1e-12)),
]  # fmt: skip


@pytest.mark.parametrize("row", params(LOSS_ROWS))
def test_loss_labels(backend, row):
    check(row)


# ----------------------------------------------------------------------------- Dataset and load

X4 = np.zeros((4, 2), np.float32) + np.arange(4, dtype=np.float32)[:, None]


def dataset(y_train=(0, 1, 2, 0), x_train=X4, y_test=(1,), x_test=X4[:1]):
    return Dataset("toy", x_train, np.asarray(y_train), x_test, np.asarray(y_test),
                   num_classes=3, input_shape=(2,))  # fmt: skip


def idx_dir(root, images, labels=None):
    """A Fashion-MNIST-shaped IDX folder with the given training images (uint8 28x28)."""
    labels = np.arange(len(images), dtype=np.uint8) % 10 if labels is None else labels
    test = np.full((3, 28, 28), 7, np.uint8)
    for stem, a in zip(datasets.IDX_FILES.values(), (images, labels, test, np.arange(3))):
        write_idx(root / f"{stem}.gz", np.asarray(a, np.uint8))
    return root


ZEROS = np.zeros((5, 28, 28), np.uint8)
RAMP = ZEROS + np.arange(5, dtype=np.uint8)[:, None, None]  # image i is all i


def installed_copy_and(folder):
    """A complete MNIST copy in the user cache, and ``folder`` as the caller names it."""
    installed = datasets.cache_dir() / "mnist"
    installed.mkdir(parents=True)
    idx_dir(installed, RAMP)
    return folder


def lacking_test_labels(root):
    folder = idx_dir(root, ZEROS + 1)
    next(folder.glob("t10k-labels*")).unlink()
    return folder


def read_from_the_folder(result):
    """The folder's images (all 1/255), not the installed copy's (image i is all i/255)."""
    ds, folder = result
    assert ds.source == str(folder), ds.source
    np.testing.assert_array_equal(ds.x_train, np.float32(1 / 255))


def summary_of_a_run_on(folder, out):
    """summary.json of a one-epoch run on the MNIST files of ``folder``."""
    import json

    from minimsam import optim, train

    ds = load("mnist", data_dir=installed_copy_and(folder))
    model = nn.MLP([784, 10])
    train.fit(model, model.init(0), optim.SGD(0.1), ds, 1, batch_size=5, out_dir=out,
              progress=False)  # fmt: skip
    return json.loads((out / "summary.json").read_text()), folder


def finite_inputs(ds):
    assert np.all(np.isfinite(ds.x_train)) and np.all(np.isfinite(ds.x_test))


DATA_ROWS = [
    Row("Dataset: label 3 of 3 classes", lambda tmp: dataset(y_train=(0, 1, 3, 0)),
        ValueError, "toy y_train must lie in [0, 3) for 3 classes, found 0..3"),
    Row("Dataset: label -1", lambda tmp: dataset(y_test=(-1,)),
        ValueError, "toy y_test must lie in [0, 3)"),
    Row("Dataset: float labels", lambda tmp: dataset(y_train=(0.0, 1.0, 2.0, 0.5)),
        ValueError, "toy y_train must be a 1-D integer array"),
    Row("Dataset: fewer labels than inputs", lambda tmp: dataset(y_train=(0, 1, 2)),
        ValueError, "toy y_train has 3 labels for 4 inputs"),
    Row("Dataset: NaN input", lambda tmp: dataset(x_test=np.full((1, 2), np.nan, np.float32)),
        ValueError, "toy x_test holds NaN"),
    Row("load: all-zero training images", lambda tmp: load(
        "fashion-mnist", data_dir=idx_dir(tmp, ZEROS)), ValueError, "std = 0"),
    Row("load: all-zero images, normalize=False", lambda tmp: load(
        "fashion-mnist", data_dir=idx_dir(tmp, ZEROS), normalize=False), expect=finite_inputs),
    Row("load: label 12 in an IDX file", lambda tmp: load("mnist", data_dir=idx_dir(
        tmp, ZEROS + 1, labels=[0, 1, 12, 3, 4])), IDXFormatError, "labels must lie in 0..9"),
    Row("load: 'fashion_mnist' is 'fashion-mnist'", lambda tmp: load(
        "fashion_mnist", data_dir=idx_dir(tmp, RAMP)),
        expect=lambda ds: ds.name == "fashion-mnist" or pytest.fail(ds.name)),
    # A folder the caller names is used or refused, never replaced by an installed copy.
    Row("load: data_dir lacks the test labels", lambda tmp: load("mnist", data_dir=
        installed_copy_and(lacking_test_labels(tmp))), datasets.DatasetNotFoundError,
        "lacks t10k-labels-idx1-ubyte(.gz) of the four MNIST files: add it"),
    Row("load: data_dir does not exist", lambda tmp: load("mnist", data_dir=installed_copy_and(
        tmp / "typo")), datasets.DatasetNotFoundError, "typo does not exist: fix the path"),
    Row("load: data_dir is a file", lambda tmp: load("mnist", data_dir=installed_copy_and(
        write_idx(tmp / "f.gz", RAMP) or tmp / "f.gz")), datasets.DatasetNotFoundError,
        "f.gz is a file, not a folder"),
    Row("load: empty data_dir, download=False", lambda tmp: load("mnist", download=False,
        data_dir=installed_copy_and(tmp)), datasets.DatasetNotFoundError,
        "holds none of the four MNIST files: put them there, or pass download=True"),
    Row("load: mnist1d, data_dir does not exist", lambda tmp: pytest.importorskip("mnist1d")
        and load("mnist1d", data_dir=tmp / "typo"), datasets.DatasetNotFoundError,
        "does not exist"),
    Row("load: source is the named folder", lambda tmp: (load("mnist", data_dir=
        installed_copy_and(idx_dir(tmp, ZEROS + 1)), normalize=False), tmp),
        expect=read_from_the_folder),
    Row("fit: summary.json records the folder the data came from", lambda tmp:
        summary_of_a_run_on(idx_dir((tmp / "mine").mkdir() or tmp / "mine", RAMP), tmp / "run"),
        expect=lambda out: out[0]["run"]["data"]["source"] == str(out[1]) or pytest.fail(out)),
    Row("load: unknown name", lambda tmp: load("cifar10"),
        ValueError, "unknown dataset 'cifar10'; valid names: mnist1d, fashion-mnist, mnist"),
    Row("load: name not a string", lambda tmp: load(3), ValueError, "must be a string"),
    *(Row(f"canonical_name({alias!r})", lambda tmp, a=alias: canonical_name(a),
          expect=lambda name, c=canonical: name == c or pytest.fail(name))
      for alias, canonical in [("fashion_mnist", "fashion-mnist"), ("Fashion-MNIST",
          "fashion-mnist"), ("fmnist", "fashion-mnist"), ("MNIST_1D", "mnist1d"),
          ("mnist", "mnist")]),
]  # fmt: skip


@pytest.mark.parametrize("row", params(DATA_ROWS))
def test_dataset_and_load(tmp_path, row):
    check(row, tmp_path)


# ----------------------------------------------------------------------------- mnist1d_args


def mnist1d(args):
    return load("mnist1d", mnist1d_args=args)


ARGS_ROWS = [
    Row("num_samples=-5", lambda: mnist1d({"num_samples": -5}),
        ValueError, "mnist1d_args['num_samples'] must be an int >= 10"),
    Row("num_samples=5.5", lambda: mnist1d({"num_samples": 5.5}), ValueError, "num_samples"),
    Row("unknown key", lambda: mnist1d({"n_samples": 100}),
        ValueError, "unknown mnist1d_args ['n_samples']; valid keys:"),
    Row("train_split=1", lambda: mnist1d({"train_split": 1.0}),
        ValueError, "mnist1d_args['train_split'] must be a number in (0, 1)"),
    Row("empty training split", lambda: mnist1d({"num_samples": 10, "train_split": 0.05}),
        ValueError, "leaves an empty split (0 train, 10 test)"),
    Row("seed=-1", lambda: mnist1d({"seed": -1}), ValueError, "mnist1d_args['seed']"),
    Row("padding of one number", lambda: mnist1d({"padding": [5]}),
        ValueError, "mnist1d_args['padding'] must be a pair"),
    Row("negative noise", lambda: mnist1d({"iid_noise_scale": -0.1}),
        ValueError, "iid_noise_scale"),
    Row("final_seq_length=0", lambda: mnist1d({"final_seq_length": 0}),
        ValueError, "final_seq_length"),
    Row("shuffle_seq='yes'", lambda: mnist1d({"shuffle_seq": "yes"}),
        ValueError, "True or False"),
    Row("not a dict", lambda: mnist1d([("seed", 1)]), ValueError, "mnist1d_args must be a dict"),
]  # fmt: skip


@pytest.mark.parametrize("row", params(ARGS_ROWS))
def test_mnist1d_args_are_checked_before_mnist1d_runs(monkeypatch, row):
    pytest.importorskip("mnist1d")
    monkeypatch.setattr(datasets, "_generate_mnist1d", pytest.fail)  # must not be reached
    check(row)


# ----------------------------------------------------------------------------- the MNIST-1D cache

SMALL = {"num_samples": 100, "seed": 1}
OTHER = {"num_samples": 100, "seed": 2}


def cache_path(args):
    return datasets.search_dirs("mnist1d")[0] / datasets._mnist1d_cache_name(args)


def replace_arrays(keep_fingerprint):
    """Overwrite SMALL's cache with valid arrays of other data (same shapes and dtypes)."""
    path = cache_path(SMALL)
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    rng = np.random.default_rng(0)
    arrays["x"] = rng.standard_normal(arrays["x"].shape).astype(arrays["x"].dtype)
    arrays["y"] = rng.integers(0, 10, arrays["y"].shape).astype(arrays["y"].dtype)
    if not keep_fingerprint:
        del arrays["meta"]
    np.savez(path, **arrays)


def copy_other_setting():
    """Put the cache of another generation setting in SMALL's place."""
    mnist1d(OTHER)
    shutil.copyfile(cache_path(OTHER), cache_path(SMALL))


# (id, how the cache is damaged, the warning the next load gives)
CACHE_ROWS = [
    ("arrays of other data, no fingerprint", lambda: replace_arrays(False), "no fingerprint"),
    ("arrays of other data, old fingerprint kept", lambda: replace_arrays(True),
     "its sha256 does not match"),
    ("the cache of another setting", copy_other_setting, "its args does not match"),
]  # fmt: skip


@pytest.mark.parametrize("damage, warning", [pytest.param(*r[1:], id=r[0]) for r in CACHE_ROWS])
def test_a_replaced_mnist1d_cache_is_not_loaded_as_the_dataset(damage, warning):
    """The next load ignores the damaged file with a warning, regenerates it and returns
    the dataset of its arguments again; the load after that is silent."""
    pytest.importorskip("mnist1d")
    first = mnist1d(SMALL)
    damage()
    with pytest.warns(UserWarning, match=warning):
        again = mnist1d(SMALL)
    np.testing.assert_array_equal(again.x_train, first.x_train)
    np.testing.assert_array_equal(again.y_train, first.y_train)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mnist1d(SMALL)  # the regenerated file is valid
