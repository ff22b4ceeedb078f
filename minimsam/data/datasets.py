"""Datasets: MNIST-1D (the default, generated locally), Fashion-MNIST and MNIST.

``load(name, ...)`` returns a :class:`Dataset` of host NumPy arrays; move batches to the
active backend with :mod:`minimsam.data.batching`.

Normalisation (``normalize=True``, the default). Every dataset is standardised with one
scalar mean and standard deviation of its FULL training split (before ``n_train``
subsetting, so a sample maps to the same input whatever the subset)::

    MNIST, Fashion-MNIST:  u = raw / 255 in [0, 1],  x = (u - mean(u_train)) / std(u_train)
    MNIST-1D:              x = (raw - mean(raw_train)) / std(raw_train)

Training inputs that are all equal (std = 0, e.g. an all-zero image file) are refused
rather than divided by zero. The test split uses the training statistics.
``Dataset.mean`` and ``Dataset.std`` record them, so ``u = x * std + mean`` undoes the
standardisation (e.g. for plots). With ``normalize=False`` images are ``raw / 255`` and
MNIST-1D is left as generated.
Labels are int64 and checked to lie in ``[0, num_classes)``, also for a
:class:`Dataset` built by hand.

A ``data_dir`` the caller names is the only place looked in: it is used, or refused
with one line naming what is missing, never replaced by another installed copy. It
must exist; for MNIST and Fashion-MNIST it holds all four files, or none of them (then,
with ``download=True``, they are downloaded into it); a folder with some but not all
four is refused (it is never completed from elsewhere). For MNIST-1D it holds the cache,
which is read from or generated into it. ``Dataset.source`` records the folder (or
cache file) the data was actually read from.

Without ``data_dir`` the IDX files are looked for, in order (:func:`search_dirs`):

1. ``$MINIMSAM_DATA/<name>``, if the variable is set;
2. the user cache, ``$XDG_CACHE_HOME/minimsam/<name>`` (default ``~/.cache/minimsam/<name>``);
3. for Fashion-MNIST, ``/usr/share/datasets/fashion-mnist`` (Debian package
   ``dataset-fashion-mnist``).

Each file may be gzipped (``train-images-idx3-ubyte.gz``) or not (``train-images-idx3-ubyte``).
If no directory holds all four, they are downloaded (``download=True``) into the first
directory of the list, from public mirrors, and checked against their SHA-256 sums.
MNIST-1D is generated with the ``mnist1d`` package (never downloaded) and cached as an
``.npz`` file in the first directory of the same list.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib.metadata
import json
import math
import os
import random
import urllib.request
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from minimsam.atomic import atomic_write
from minimsam.data.idx import IDXFormatError, read_idx_pair

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetNotFoundError",
    "DownloadError",
    "cache_dir",
    "canonical_name",
    "download",
    "flip_labels",
    "load",
    "search_dirs",
    "subset_indices",
]

DATASETS = ("mnist1d", "fashion-mnist", "mnist")
ENV_DATA = "MINIMSAM_DATA"

# The four IDX files, by role; on disk each name may carry a ".gz" suffix.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@dataclass(frozen=True)
class _IDXSource:
    """Where an IDX dataset can be found or fetched, and the SHA-256 of each ``.gz`` file."""

    title: str
    mirrors: tuple[str, ...]
    sha256: Mapping[str, str]
    class_names: tuple[str, ...]
    debian_dir: str | None = None
    debian_package: str | None = None


# SHA-256 sums of the published .gz files. The publishers list MD5 sums only (Fashion-MNIST
# README: train-images 8d4fb7e6..., train-labels 25c81989..., t10k-images bef4ecab...,
# t10k-labels bb300cfd...); these SHA-256 values are the ones used by several independent
# loaders that verify the same files. Debian's package recompresses the files, so local
# copies are validated by their IDX structure, not by these sums.
_SOURCES: dict[str, _IDXSource] = {
    "fashion-mnist": _IDXSource(
        title="Fashion-MNIST",
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        sha256={
            "train-images-idx3-ubyte.gz": (
                "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc"
            ),
            "train-labels-idx1-ubyte.gz": (
                "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc"
            ),
            "t10k-images-idx3-ubyte.gz": (
                "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229"
            ),
            "t10k-labels-idx1-ubyte.gz": (
                "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf"
            ),
        },
        class_names=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        debian_dir="/usr/share/datasets/fashion-mnist",
        debian_package="dataset-fashion-mnist",
    ),
    "mnist": _IDXSource(
        title="MNIST",
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        sha256={
            "train-images-idx3-ubyte.gz": (
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
            ),
            "train-labels-idx1-ubyte.gz": (
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
            ),
            "t10k-images-idx3-ubyte.gz": (
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
            ),
            "t10k-labels-idx1-ubyte.gz": (
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
            ),
        },
        class_names=tuple(str(d) for d in range(10)),
    ),
}

# Tests replace this with a fake that serves bytes, so no test ever touches the network.
_urlopen = urllib.request.urlopen
_DOWNLOAD_TIMEOUT_S = 60
_CHUNK = 1 << 20


class DatasetNotFoundError(FileNotFoundError):
    """The dataset's files are in none of the searched directories (and were not downloaded)."""


class DownloadError(OSError):
    """A download failed: network error, interrupted transfer or checksum mismatch."""


# ----------------------------------------------------------------------------- the dataset


@dataclass(repr=False)
class Dataset:
    """A classification dataset as host NumPy arrays.

    ``x_train``: ``(N, *input_shape)`` floating; ``y_train``: ``(N,)`` int64 in
    ``[0, num_classes)``; the same for the test split. ``mean``/``std``: the
    standardisation applied (see the module docstring). ``y_train_clean``: the training
    labels before ``label_noise`` (``None`` without noise). ``train_indices``: the rows of
    the full training split kept by ``n_train``, in order. ``source``: the folder (or
    cache file) :func:`load` read the data from (``None`` for a dataset built by hand).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    input_shape: tuple[int, ...]
    class_names: tuple[str, ...] = ()
    mean: float = 0.0
    std: float = 1.0
    y_train_clean: np.ndarray | None = None
    train_indices: np.ndarray | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            check_labels(y, len(x), self.num_classes, f"{self.name} y_{split}")
            if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
                raise ValueError(f"{self.name} x_{split} holds NaN or infinite values")

    def __repr__(self) -> str:
        noise = ""
        if self.y_train_clean is not None:
            noise = f", noisy_labels={int(np.sum(self.y_train != self.y_train_clean))}"
        return (
            f"Dataset({self.name!r}, train={self.x_train.shape}, test={self.x_test.shape}, "
            f"dtype={self.x_train.dtype}, num_classes={self.num_classes}{noise})"
        )


# ----------------------------------------------------------------------------- where files are


def cache_dir() -> Path:
    """minimsam's user cache: ``$XDG_CACHE_HOME/minimsam``, else ``~/.cache/minimsam``.

    A relative ``XDG_CACHE_HOME`` is ignored, as the XDG base-directory spec requires.
    """
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "minimsam"


def search_dirs(name: str, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The directories where dataset ``name`` is looked for, in order (module docstring).

    The first entry is also where downloads and the MNIST-1D cache are written; the
    Debian directory, when the dataset has one, is always last. A ``data_dir`` is the
    only entry: a folder the caller names is never replaced by another.
    """
    name = canonical_name(name)
    if data_dir is not None:
        return [Path(data_dir).expanduser()]
    dirs = []
    env = os.environ.get(ENV_DATA)
    if env:
        dirs.append(Path(env).expanduser() / name)
    dirs.append(cache_dir() / name)
    source = _SOURCES.get(name)
    if source is not None and source.debian_dir is not None:
        dirs.append(Path(source.debian_dir))
    return dirs


def canonical_name(name: str) -> str:
    """The dataset's name as in :data:`DATASETS`; case, "_" for "-" and the aliases
    ``fashion``, ``fmnist``, ``mnist-1d`` are accepted (``fashion_mnist`` is ``fashion-mnist``)."""
    if not isinstance(name, str):
        raise ValueError(f"dataset name must be a string, got {name!r}")
    key = name.lower().replace("_", "-")
    key = {"mnist-1d": "mnist1d", "fashion": "fashion-mnist", "fmnist": "fashion-mnist"}.get(
        key, key
    )
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")
    return key


def check_labels(y: Any, n: int, num_classes: int, what: str) -> None:
    """One-line ``ValueError`` unless ``y`` holds ``n`` integer labels in ``[0, num_classes)``."""
    dtype = getattr(y, "dtype", None)
    if dtype is None or dtype.kind not in "iu" or getattr(y, "ndim", None) != 1:
        raise ValueError(
            f"{what} must be a 1-D integer array of class labels, got "
            f"{dtype} of shape {getattr(y, 'shape', None)}"
        )
    if len(y) != n:
        raise ValueError(f"{what} has {len(y)} labels for {n} inputs")
    y = np.asarray(y)
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(
            f"{what} must lie in [0, {num_classes}) for {num_classes} classes, "
            f"found {y.min()}..{y.max()}"
        )


def _find_idx_files(directory: Path) -> dict[str, Path] | None:
    """The four IDX files in ``directory`` (gzipped name preferred), or None if any is missing."""
    found = {}
    for role, stem in IDX_FILES.items():
        candidates = [directory / f"{stem}.gz", directory / stem]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            return None
        found[role] = path
    return found


def _how_to_get(name: str, dirs: list[Path]) -> str:
    """The help text of every 'not found' error: where we looked, and how to get the files."""
    source = _SOURCES[name]
    files = ", ".join(f"{stem}.gz" for stem in IDX_FILES.values())
    lines = [f"{source.title} files ({files}; gzipped or not) were looked for in:"]
    lines += [f"  {i}. {d}" for i, d in enumerate(dirs, 1)]
    if not os.environ.get(ENV_DATA):
        lines.append(f"  (${ENV_DATA} is not set)")
    lines.append("To get them:")
    if source.debian_package:
        lines.append(f"  - sudo apt-get install {source.debian_package}   (Debian/Ubuntu)")
    lines.append(
        f"  - or download the four .gz files from {source.mirrors[0]} and put them in "
        f"${ENV_DATA}/{name}, or pass data_dir=... to load()"
    )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- downloading


def download(name: str, directory: str | os.PathLike | None = None) -> dict[str, Path]:
    """Download the IDX files of ``name`` missing from ``directory``; return all four paths.

    ``directory`` defaults to the first of :func:`search_dirs`. Each file comes from the
    first mirror that delivers bytes with the expected SHA-256; it is streamed to a
    temporary file beside its final name and renamed only once verified, so a failed or
    interrupted download never leaves a partial file. Raises :class:`DownloadError`
    (which says where the files are expected and how to get them) if every mirror fails.
    """
    name = canonical_name(name)
    if name not in _SOURCES:
        raise ValueError(f"{name!r} is generated locally, not downloaded")
    directory = Path(directory) if directory is not None else search_dirs(name)[0]
    # For the error message: this directory first, then the usual search order.
    dirs = [directory] + [d for d in search_dirs(name) if d != directory]
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DownloadError(
            f"cannot create {directory} ({err})\n{_how_to_get(name, dirs)}"
        ) from err
    paths = {}
    for role, stem in IDX_FILES.items():
        present = [p for p in (directory / f"{stem}.gz", directory / stem) if p.is_file()]
        paths[role] = present[0] if present else directory / f"{stem}.gz"
        if not present:
            _fetch_from_mirrors(name, paths[role], dirs)
    return paths


def _fetch_from_mirrors(name: str, dest: Path, dirs: list[Path]) -> None:
    source = _SOURCES[name]
    failures = []
    for mirror in source.mirrors:
        url = mirror + dest.name
        try:
            _fetch(url, dest, source.sha256[dest.name])
            return
        except (OSError, http.client.HTTPException) as err:
            failures.append(f"  {url}: {err}")
    raise DownloadError(
        f"could not download {dest.name} of {source.title}:\n"
        + "\n".join(failures)
        + "\n"
        + _how_to_get(name, dirs)
    )


def _fetch(url: str, dest: Path, sha256: str) -> None:
    """Stream ``url`` into ``dest`` atomically, verifying its SHA-256 before the rename."""
    digest = hashlib.sha256()
    with _urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response, atomic_write(dest) as f:
        while chunk := response.read(_CHUNK):
            digest.update(chunk)
            f.write(chunk)
        if digest.hexdigest() != sha256:
            # Raised inside atomic_write: the temporary file is deleted, dest is untouched.
            raise DownloadError(
                f"checksum mismatch: SHA-256 {digest.hexdigest()}, expected {sha256}"
            )


# ----------------------------------------------------------------------------- raw arrays


def _named_folder(data_dir) -> Path:
    """The caller's ``data_dir``, which must be an existing folder."""
    folder = Path(data_dir).expanduser()
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise DatasetNotFoundError(
            f"data_dir {folder} {what}: fix the path, create the folder, or leave data_dir "
            f"out to use the usual places (${ENV_DATA}, {cache_dir()})"
        )
    return folder


def _idx_files_in_named_folder(name: str, folder: Path, allow_download: bool) -> dict[str, Path]:
    """The four IDX files of the caller's folder: all there, or none and downloaded there."""
    files = _find_idx_files(folder)
    if files is not None:
        return files
    missing = [f"{stem}(.gz)" for stem in IDX_FILES.values()
               if not any((folder / n).is_file() for n in (stem, f"{stem}.gz"))]  # fmt: skip
    title = _SOURCES[name].title
    if len(missing) < len(IDX_FILES):
        raise DatasetNotFoundError(
            f"data_dir {folder} lacks {', '.join(missing)} of the four {title} files: add "
            f"{'it' if len(missing) == 1 else 'them'} (a folder is never completed from elsewhere)"
        )
    if not allow_download:
        raise DatasetNotFoundError(
            f"data_dir {folder} holds none of the four {title} files: put them there, or "
            f"pass download=True to download them into it"
        )
    return download(name, folder)


def _load_idx_dataset(name: str, data_dir, allow_download: bool) -> dict[str, Any]:
    if data_dir is not None:
        files = _idx_files_in_named_folder(name, _named_folder(data_dir), allow_download)
    else:
        dirs = search_dirs(name)
        files = next((f for f in map(_find_idx_files, dirs) if f is not None), None)
        if files is None:
            if not allow_download:
                raise DatasetNotFoundError(_how_to_get(name, dirs))
            files = download(name, dirs[0])
    x_train, y_train = read_idx_pair(files["train_images"], files["train_labels"])
    x_test, y_test = read_idx_pair(files["test_images"], files["test_labels"])
    source = _SOURCES[name]
    for images, labels, role in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        _check_images(images, labels, files[f"{role}_images"], files[f"{role}_labels"])
    return {
        "x_train": x_train,
        "y_train": y_train,
        "x_test": x_test,
        "y_test": y_test,
        "num_classes": len(source.class_names),
        "class_names": source.class_names,
        "scale": 255.0,  # uint8 pixels -> [0, 1]
        "source": str(files["train_images"].parent),
    }


def _check_images(images: np.ndarray, labels: np.ndarray, images_path, labels_path) -> None:
    if images.dtype != np.uint8 or images.shape[1:] != (28, 28):
        raise IDXFormatError(
            f"{images_path}: expected uint8 images of shape (N, 28, 28), "
            f"got {images.dtype} {images.shape}"
        )
    if labels.size and not (labels.min() >= 0 and labels.max() <= 9):
        raise IDXFormatError(
            f"{labels_path}: labels must lie in 0..9, found {labels.min()}..{labels.max()}"
        )


_MNIST1D_MISSING = 'MNIST-1D needs the mnist1d package: pip install mnist1d (or "minimsam[cli]")'
_MNIST1D_CACHE_FORMAT = 2  # 2: the file holds a fingerprint ("meta") that is checked on load
_MNIST1D_KEYS = ("x", "y", "x_test", "y_test")


def _mnist1d_defaults() -> dict[str, Any]:
    try:
        from mnist1d.data import get_dataset_args
    except ImportError as err:
        raise ImportError(_MNIST1D_MISSING) from err
    return get_dataset_args(as_dict=True)


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


# Each generation argument: (is the value valid?, what a valid value is).
_MNIST1D_RULES: dict[str, tuple[Any, str]] = {
    "num_samples": (lambda v: _is_int(v) and v >= 10, "an int >= 10 (num_samples // 10 per class)"),
    "train_split": (lambda v: _is_real(v) and 0 < v < 1, "a number in (0, 1)"),
    "template_len": (lambda v: _is_int(v) and v >= 1, "an int >= 1"),
    "padding": (
        lambda v: isinstance(v, (list, tuple)) and len(v) == 2 and all(map(_is_int, v))
        and 0 <= v[0] <= v[1],
        "a pair [low, high] of ints, 0 <= low <= high",
    ),
    "scale_coeff": (lambda v: _is_real(v) and 0 <= v < math.inf, "a finite number >= 0"),
    "max_translation": (lambda v: _is_int(v) and v >= 0, "an int >= 0"),
    "corr_noise_scale": (lambda v: _is_real(v) and 0 <= v < math.inf, "a finite number >= 0"),
    "iid_noise_scale": (lambda v: _is_real(v) and 0 <= v < math.inf, "a finite number >= 0"),
    "shear_scale": (lambda v: _is_real(v) and 0 <= v < math.inf, "a finite number >= 0"),
    "shuffle_seq": (lambda v: isinstance(v, (bool, np.bool_)), "True or False"),
    "final_seq_length": (lambda v: _is_int(v) and v >= 1, "an int >= 1"),
    "seed": (lambda v: _is_int(v) and 0 <= v < 2**32, "an int in [0, 2**32)"),
    "url": (lambda v: isinstance(v, str), "a string"),
}  # fmt: skip


def check_mnist1d_args(overrides: Any) -> dict[str, Any]:
    """The full generation arguments: mnist1d's defaults updated by ``overrides``, each
    checked here (one-line ``ValueError``) rather than failing inside mnist1d."""
    if not isinstance(overrides, Mapping):
        raise ValueError(f"mnist1d_args must be a dict, got {type(overrides).__name__}")
    args = _mnist1d_defaults()
    unknown = sorted(str(k) for k in set(overrides) - set(args))
    if unknown:
        raise ValueError(f"unknown mnist1d_args {unknown}; valid keys: {', '.join(sorted(args))}")
    args.update(overrides)
    for key, value in overrides.items():
        valid, expected = _MNIST1D_RULES.get(key, (lambda v: True, ""))
        if not valid(value):
            raise ValueError(f"mnist1d_args[{key!r}] must be {expected}, got {value!r}")
    n_total = args["num_samples"] // 10 * 10
    n_train = int(n_total * args["train_split"])
    if not 0 < n_train < n_total:
        raise ValueError(
            f"mnist1d_args num_samples={args['num_samples']} with train_split="
            f"{args['train_split']} leaves an empty split ({n_train} train, "
            f"{n_total - n_train} test)"
        )
    return args


def _mnist1d_version() -> str:
    try:
        return importlib.metadata.version("mnist1d")
    except importlib.metadata.PackageNotFoundError as err:
        raise ImportError(_MNIST1D_MISSING) from err


def _mnist1d_cache_name(overrides: Mapping[str, Any]) -> str:
    """Cache file name: the mnist1d version plus a hash of the generation arguments."""
    version = _mnist1d_version()
    key = json.dumps(
        {"version": version, "args": dict(overrides), "format": _MNIST1D_CACHE_FORMAT},
        sort_keys=True,
        default=str,
    )
    return f"mnist1d-{version}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"


def _fingerprint(arrays: Mapping[str, np.ndarray], overrides: Mapping[str, Any]) -> dict:
    """What a cache file must match: the generator, its arguments, the arrays' shapes, dtypes
    and a SHA-256 of their bytes (so swapped-in arrays of the wrong data are noticed)."""
    digest = hashlib.sha256()
    for k in _MNIST1D_KEYS:
        a = np.ascontiguousarray(arrays[k])
        digest.update(f"{k}:{a.dtype.str}:{a.shape};".encode())
        digest.update(a.tobytes())
    return json.loads(
        json.dumps(
            {
                "format": _MNIST1D_CACHE_FORMAT,
                "version": _mnist1d_version(),
                "args": dict(overrides),
                "shapes": {k: list(arrays[k].shape) for k in _MNIST1D_KEYS},
                "sha256": digest.hexdigest(),
            },
            sort_keys=True,
            default=str,
        )
    )


def _generate_mnist1d(overrides: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Run ``mnist1d.data.make_dataset`` on its default arguments updated by ``overrides``.

    Never calls ``get_dataset``, which may download. ``make_dataset`` reseeds the global
    ``random`` and ``numpy.random`` generators; their states are restored afterwards.
    """
    try:
        from mnist1d.data import make_dataset
        from mnist1d.utils import ObjectView
    except ImportError as err:
        raise ImportError(_MNIST1D_MISSING) from err
    args = check_mnist1d_args(overrides)
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(ObjectView(args))
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {"x": data["x"], "y": data["y"], "x_test": data["x_test"], "y_test": data["y_test"]}


def _read_mnist1d_cache(path: Path, overrides: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The arrays of a cache file; ``ValueError`` saying why if it is not this dataset's."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in _MNIST1D_KEYS}
            meta = json.loads(str(f["meta"])) if "meta" in f.files else None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"unreadable ({err})") from err
    if meta is None:
        raise ValueError("it has no fingerprint (not written by this version of minimsam)")
    expected = _fingerprint(arrays, overrides)
    for field in ("format", "version", "args", "shapes", "sha256"):
        if meta.get(field) != expected[field]:
            raise ValueError(
                f"its {field} does not match (found {str(meta.get(field))[:60]}, "
                f"expected {str(expected[field])[:60]})"
            )
    return arrays


def _load_mnist1d(data_dir, overrides: Mapping[str, Any]) -> dict[str, Any]:
    if data_dir is not None:
        data_dir = _named_folder(data_dir)
    dirs = search_dirs("mnist1d", data_dir)
    fname = _mnist1d_cache_name(overrides)
    arrays = None
    for path in (d / fname for d in dirs):
        if path.is_file():
            try:
                arrays = _read_mnist1d_cache(path, overrides)
                break
            except ValueError as err:
                warnings.warn(f"ignoring MNIST-1D cache {path}: {err}; regenerating", stacklevel=3)
    if arrays is None:
        arrays = _generate_mnist1d(overrides)
        path = dirs[0] / fname
        if not _write_cache(path, arrays, _fingerprint(arrays, overrides)):
            path = f"generated by mnist1d {_mnist1d_version()} (not cached)"
    return {
        "source": str(path),
        "x_train": arrays["x"],
        "y_train": arrays["y"].astype(np.int64),
        "x_test": arrays["x_test"],
        "y_test": arrays["y_test"].astype(np.int64),
        "num_classes": 10,
        "class_names": tuple(str(d) for d in range(10)),
        "scale": 1.0,
    }


def _write_cache(path: Path, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> bool:
    """Write the cache file; False (with a warning) if it cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as f:
            np.savez(f, **arrays, meta=np.array(json.dumps(meta, sort_keys=True)))
    except OSError as err:  # a read-only cache costs a regeneration next time, nothing more
        warnings.warn(f"could not cache MNIST-1D at {path} ({err})", stacklevel=3)
        return False
    return True


# ----------------------------------------------------------------------------- subset and noise


def subset_indices(n: int, n_train: int, seed: int) -> np.ndarray:
    """``n_train`` distinct indices of ``range(n)``, uniformly at random, sorted.

    With the same seed the subsets are nested: the first ``k`` entries of one
    permutation are kept, so ``n_train=500`` is contained in ``n_train=1000``.
    """
    _check_count("n_train", n_train, n)
    rng = np.random.default_rng([seed, 0])
    return np.sort(rng.permutation(n)[:n_train])


def flip_labels(y: np.ndarray, fraction: float, num_classes: int, seed: int) -> np.ndarray:
    """A copy of ``y`` with exactly ``k = floor(fraction * N + 1/2)`` labels changed.

    The ``k`` positions are drawn without replacement; each gets a class drawn uniformly
    from the ``num_classes - 1`` classes other than its own:
    ``y_i <- (y_i + s_i) mod C`` with ``s_i`` uniform on ``{1, ..., C-1}``.
    """
    if not (0.0 <= fraction <= 1.0):
        raise ValueError(f"label_noise must be in [0, 1], got {fraction!r}")
    if num_classes < 2 and fraction > 0:
        raise ValueError("label_noise needs at least two classes")
    y = np.array(y, dtype=np.int64)
    k = int(np.floor(fraction * len(y) + 0.5))
    rng = np.random.default_rng([seed, 1])
    where = rng.choice(len(y), size=k, replace=False)
    y[where] = (y[where] + rng.integers(1, num_classes, size=k)) % num_classes
    return y


def _check_count(what: str, value: Any, upper: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{what} must be an int, got {value!r}")
    if not 1 <= value <= upper:
        raise ValueError(f"{what} must be in [1, {upper}], got {value}")


# ----------------------------------------------------------------------------- load


def load(
    name: str = "mnist1d",
    *,
    data_dir: str | os.PathLike | None = None,
    n_train: int | None = None,
    label_noise: float = 0.0,
    seed: int = 0,
    flatten: bool = True,
    dtype: Any = np.float32,
    normalize: bool = True,
    download: bool = True,
    mnist1d_args: Mapping[str, Any] | None = None,
) -> Dataset:
    """Load a dataset as a :class:`Dataset` of host arrays.

    Args:
        name: ``"mnist1d"`` (default; 4000 train / 1000 test signals of length 40),
            ``"fashion-mnist"`` or ``"mnist"`` (60000 / 10000 images of 28x28); 10 classes each.
            Spellings are normalised by :func:`canonical_name` (``"fashion_mnist"`` works too).
        data_dir: the folder to read the data from, and no other (module docstring): it
            is used, or refused with a :class:`DatasetNotFoundError` naming what is missing.
        n_train: keep this many training samples, chosen by ``seed`` (:func:`subset_indices`).
        label_noise: fraction of TRAINING labels replaced by a different class, chosen by
            ``seed`` (:func:`flip_labels`); the test labels are never changed.
        flatten: inputs of shape ``(N, D)`` for MLPs (D = 784 or 40); else ``(N, 1, 28, 28)``
            for images and ``(N, 1, 40)`` for MNIST-1D, channels first, for CNNs.
        dtype: floating dtype of the inputs (float32 default; float64 for exact cross-checks).
        normalize: standardise with the training statistics (module docstring).
        download: fetch missing Fashion-MNIST/MNIST files; if False, raise
            :class:`DatasetNotFoundError` instead.
        mnist1d_args: overrides of ``mnist1d.data.get_dataset_args()`` for generation, e.g.
            ``{"num_samples": 10000, "seed": 1}``; each setting is cached separately, with a
            fingerprint (arguments, shapes, SHA-256 of the arrays) that is checked on load: a
            cache file that does not match is ignored with a warning and regenerated.
            Unknown keys and bad values are refused before mnist1d runs.
    """
    name = canonical_name(name)
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"dtype must be a floating type, got {dtype}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if name == "mnist1d":
        overrides = dict(mnist1d_args) if isinstance(mnist1d_args, Mapping) else mnist1d_args
        check_mnist1d_args(overrides if mnist1d_args is not None else {})
        raw = _load_mnist1d(data_dir, overrides or {})
    elif mnist1d_args:
        raise ValueError("mnist1d_args applies to name='mnist1d' only")
    else:
        raw = _load_idx_dataset(name, data_dir, download)

    mean, std = 0.0, 1.0
    if normalize:
        # Statistics of the full training split, in float64, on the [0, 1] scale.
        mean = float(raw["x_train"].mean(dtype=np.float64)) / raw["scale"]
        std = float(raw["x_train"].std(dtype=np.float64)) / raw["scale"]
        if not std > 0:
            raise ValueError(
                f"the {name} training inputs all have the value {mean:g}, so they cannot be "
                f"standardised (std = 0): the data files are broken; replace them, or pass "
                f"normalize=False"
            )

    def prepare(x: np.ndarray) -> np.ndarray:
        x = (x.astype(dtype) / dtype.type(raw["scale"]) - dtype.type(mean)) / dtype.type(std)
        return x.reshape(len(x), -1) if flatten else x.reshape(len(x), 1, *x.shape[1:])

    x_train, y_train = raw["x_train"], raw["y_train"].astype(np.int64)
    train_indices = np.arange(len(y_train))
    if n_train is not None:
        train_indices = subset_indices(len(y_train), n_train, seed)
        x_train, y_train = x_train[train_indices], y_train[train_indices]
    y_clean = None
    if label_noise:
        y_clean = y_train
        y_train = flip_labels(y_clean, label_noise, raw["num_classes"], seed)

    x_train = prepare(x_train)
    return Dataset(
        name=name,
        x_train=x_train,
        y_train=y_train,
        x_test=prepare(raw["x_test"]),
        y_test=raw["y_test"].astype(np.int64),
        num_classes=raw["num_classes"],
        input_shape=x_train.shape[1:],
        class_names=raw["class_names"],
        mean=mean,
        std=std,
        y_train_clean=y_clean,
        train_indices=train_indices,
        source=raw["source"],
    )
