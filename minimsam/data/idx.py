"""Read and write IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is a header followed by the array's values, all big-endian::

    bytes 0-1   0x00 0x00                 (the first two bytes of the magic number)
    byte  2     dtype code                (table below)
    byte  3     ndim, the number of dimensions
    4*ndim      the dimensions, each an unsigned 32-bit integer
    rest        prod(dims) values in C order, each in the dtype's big-endian encoding

    code  0x08  0x09  0x0B   0x0C   0x0D     0x0E
    type  uint8 int8  int16  int32  float32  float64

A file may be gzip-compressed as a whole; the reader detects that from its first
two bytes (1f 8b), never from its name. Reference: Y. LeCun, C. Cortes, C. J. C.
Burges, "The MNIST database of handwritten digits" (the page that defines the format).

Every malformed file raises :class:`IDXFormatError`, naming the file and what is wrong.
"""

from __future__ import annotations

import gzip as _gzip
import os
import zlib
from pathlib import Path

import numpy as np

from minimsam.atomic import atomic_write

__all__ = ["IDXFormatError", "IDX_DTYPES", "read_idx", "read_idx_pair", "write_idx"]

#: dtype code -> big-endian NumPy dtype of the values in the file.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


class IDXFormatError(ValueError):
    """A file is not a well-formed IDX file (or a pair of files does not match)."""


def _read_bytes(path: Path) -> bytes:
    """The file's content, gunzipped if it starts with the gzip magic bytes."""
    raw = path.read_bytes()
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return _gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:
        # EOFError: the stream stops early; BadGzipFile (an OSError) / zlib.error: corrupt.
        raise IDXFormatError(f"{path}: corrupt or truncated gzip stream ({err})") from err


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (plain or gzipped) into a native-byte-order NumPy array.

    The shape is the file's dimensions; the dtype is the file's (uint8 for MNIST).
    Raises :class:`IDXFormatError` for a wrong magic number, an unknown dtype code,
    a truncated header or body, or bytes left over after the last value.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise IDXFormatError(
            f"{path}: truncated: {len(data)} bytes, shorter than the 4-byte magic number"
        )
    if data[0] != 0 or data[1] != 0:
        raise IDXFormatError(
            f"{path}: wrong magic number {data[:4].hex()}: an IDX file starts with two zero "
            "bytes (is this an IDX file?)"
        )
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise IDXFormatError(f"{path}: unknown dtype code 0x{code:02X}; known codes: {known}")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise IDXFormatError(
            f"{path}: truncated header: {ndim} dimensions need {header_len} bytes, "
            f"the file has {len(data)}"
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
    found = len(data) - header_len
    if found < expected:
        raise IDXFormatError(
            f"{path}: truncated: shape {shape} of {dtype.name} needs {expected} bytes of "
            f"data, the file has {found}"
        )
    if found > expected:
        raise IDXFormatError(
            f"{path}: too long: {found - expected} bytes after the last value of shape "
            f"{shape} (expected {expected} bytes of data)"
        )
    values = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(shape)
    return values.astype(dtype.newbyteorder("="))  # a writable native-order copy


def read_idx_pair(
    images_path: str | os.PathLike, labels_path: str | os.PathLike
) -> tuple[np.ndarray, np.ndarray]:
    """Read an images file and its labels file; check they describe the same samples.

    Returns ``(images, labels)`` with ``images.shape == (N, ...)`` and ``labels.shape
    == (N,)``. Raises :class:`IDXFormatError` if the labels are not one-dimensional
    or the two counts ``N`` differ.
    """
    images, labels = read_idx(images_path), read_idx(labels_path)
    if labels.ndim != 1:
        raise IDXFormatError(f"{labels_path}: labels must be 1-D, got shape {labels.shape}")
    if images.ndim == 0:
        raise IDXFormatError(f"{images_path}: images need a sample dimension, got a scalar")
    if images.shape[0] != labels.shape[0]:
        raise IDXFormatError(
            f"label/image count mismatch: {images_path} holds {images.shape[0]} images, "
            f"{labels_path} holds {labels.shape[0]} labels"
        )
    return images, labels


def write_idx(path: str | os.PathLike, array: np.ndarray, gzip: bool | None = None) -> Path:
    """Write ``array`` as an IDX file; gzip it if ``gzip`` is true.

    ``gzip=None`` (default) compresses when the name ends in ``.gz``. The dtype must be
    one of the six IDX types (uint8, int8, int16, int32, float32, float64) and every
    dimension below 2**32; convert with ``array.astype(...)`` first otherwise. The file
    appears atomically: it is written to a temporary file beside it, then renamed.
    Returns the path written.
    """
    path = Path(path)
    array = np.asarray(array)
    code = _CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(
            f"write_idx: dtype {array.dtype} has no IDX code; use one of "
            f"{', '.join(d.name for d in _CODES)}"
        )
    if array.ndim > 255 or any(n >= 2**32 for n in array.shape):
        raise ValueError(f"write_idx: shape {array.shape} does not fit an IDX header")
    header = bytes([0, 0, code, array.ndim])
    header += b"".join(n.to_bytes(4, "big") for n in array.shape)
    content = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    if gzip if gzip is not None else path.name.endswith(".gz"):
        content = _gzip.compress(content, mtime=0)  # mtime=0: same bytes on every run
    with atomic_write(path) as f:
        f.write(content)
    return path
