"""IDX reader and writer: byte layout from the format definition, round trips, and every
malformed file the reader must reject with an IDXFormatError naming the file."""

from __future__ import annotations

import gzip
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minimsam.atomic import atomic_write
from minimsam.data.idx import IDXFormatError, read_idx, read_idx_pair, write_idx

DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.int16,
    0x0C: np.int32,
    0x0D: np.float32,
    0x0E: np.float64,
}


def header(code: int, shape: tuple[int, ...]) -> bytes:
    """An IDX header written out from the format definition."""
    return bytes([0, 0, code, len(shape)]) + b"".join(n.to_bytes(4, "big") for n in shape)


def sample(dtype, shape, rng) -> np.ndarray:
    """Values that use the whole range of the dtype (and special floats)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        x = rng.standard_normal(shape).astype(dtype) * dtype.type(1e3)
        flat = x.reshape(-1)
        specials = np.array([np.inf, -np.inf, -0.0, np.finfo(dtype).tiny, np.finfo(dtype).max])
        flat[: min(flat.size, specials.size)] = specials[: flat.size]
        return x
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)


# ----------------------------------------------------------------------------- the writer


def test_uint8_layout_matches_the_format_definition(tmp_path):
    x = np.array([[1, 2, 3], [4, 5, 255]], dtype=np.uint8)
    write_idx(tmp_path / "a.idx", x)
    expected = b"\x00\x00\x08\x02" + b"\x00\x00\x00\x02" + b"\x00\x00\x00\x03"
    expected += bytes([1, 2, 3, 4, 5, 255])
    assert (tmp_path / "a.idx").read_bytes() == expected


@pytest.mark.parametrize(
    "dtype, values, payload",
    [
        (np.int8, [-1, 127], b"\xff\x7f"),
        (np.int16, [-2, 258], b"\xff\xfe\x01\x02"),  # big-endian two's complement
        (np.int32, [1, -1], b"\x00\x00\x00\x01\xff\xff\xff\xff"),
        (np.float32, [1.0, -2.0], b"\x3f\x80\x00\x00\xc0\x00\x00\x00"),  # IEEE 754
        (np.float64, [0.5], b"\x3f\xe0\x00\x00\x00\x00\x00\x00"),
    ],
)
def test_values_are_big_endian(tmp_path, dtype, values, payload):
    code = {np.dtype(v): k for k, v in DTYPES.items()}[np.dtype(dtype)]
    write_idx(tmp_path / "a.idx", np.array(values, dtype=dtype))
    assert (tmp_path / "a.idx").read_bytes() == header(code, (len(values),)) + payload


def test_gzip_follows_the_name_unless_given(tmp_path):
    x = np.arange(6, dtype=np.uint8)
    assert write_idx(tmp_path / "a.gz", x).read_bytes()[:2] == b"\x1f\x8b"
    assert write_idx(tmp_path / "a.idx", x).read_bytes()[:2] == b"\x00\x00"
    assert write_idx(tmp_path / "b.idx", x, gzip=True).read_bytes()[:2] == b"\x1f\x8b"
    assert write_idx(tmp_path / "b.gz", x, gzip=False).read_bytes()[:2] == b"\x00\x00"
    assert gzip.decompress((tmp_path / "b.idx").read_bytes()) == (tmp_path / "a.idx").read_bytes()


@pytest.mark.parametrize("dtype", [np.int64, np.uint16, np.float16, np.bool_, np.complex64])
def test_writer_rejects_dtypes_without_a_code(tmp_path, dtype):
    with pytest.raises(ValueError, match="no IDX code"):
        write_idx(tmp_path / "a.idx", np.zeros(3, dtype=dtype))
    assert list(tmp_path.iterdir()) == []


def test_writer_leaves_no_temporary_file(tmp_path):
    write_idx(tmp_path / "a.gz", np.zeros((2, 2), dtype=np.uint8))
    assert [p.name for p in tmp_path.iterdir()] == ["a.gz"]


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_write(path) as f:
        f.write(b"half of the new cont")
        raise RuntimeError("disk full (simulated)")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


# ----------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("shape", [(), (0,), (7,), (3, 4, 5)], ids=str)
@pytest.mark.parametrize("dtype", list(DTYPES.values()), ids=lambda d: np.dtype(d).name)
def test_round_trip(tmp_path, rng, dtype, shape, gz):
    x = sample(dtype, shape, rng)
    path = write_idx(tmp_path / "x.idx", x, gzip=gz)
    y = read_idx(path)
    assert y.dtype == np.dtype(dtype) and y.dtype.isnative
    assert y.shape == shape
    np.testing.assert_array_equal(y, x)
    assert np.array_equal(np.signbit(y), np.signbit(x))  # -0.0 survives
    y[...] = 0  # the result is a writable copy, not a view of the file's bytes


def test_round_trip_of_a_big_endian_array(tmp_path):
    x = np.array([[1.5, -2.25], [3.0, 1e-30]], dtype=">f8")
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "x.gz", x)), x)


@settings(max_examples=25, deadline=None)
@given(hnp.arrays(np.int16, hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5)))
def test_round_trip_any_shape(tmp_path_factory, x):
    path = write_idx(tmp_path_factory.mktemp("idx") / "x.gz", x)
    np.testing.assert_array_equal(read_idx(path), x)


def test_gzip_is_detected_by_content_not_by_name(tmp_path):
    x = np.arange(12, dtype=np.int32).reshape(3, 4)
    plain_named_gz = write_idx(tmp_path / "plain.gz", x, gzip=False)
    gzipped_named_plain = write_idx(tmp_path / "packed.idx", x, gzip=True)
    np.testing.assert_array_equal(read_idx(plain_named_gz), x)
    np.testing.assert_array_equal(read_idx(gzipped_named_plain), x)


def test_read_pair(tmp_path):
    images = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    labels = np.array([7, 1], dtype=np.uint8)
    x, y = read_idx_pair(write_idx(tmp_path / "i.gz", images), write_idx(tmp_path / "l", labels))
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)


# ----------------------------------------------------------------------------- corrupt files

GOOD = header(0x0B, (2, 3)) + np.arange(6, dtype=">i2").tobytes()  # 12 + 12 bytes


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "truncated"),
        (b"\x00\x00\x08", "truncated"),
        (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "wrong magic"),
        (b"\x00\x01\x08\x01\x00\x00\x00\x01\x05", "wrong magic"),
        (b"hello, world", "wrong magic"),
        (b"\x00\x00\x0a\x01\x00\x00\x00\x01\x05", "unknown dtype code 0x0A"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", "unknown dtype code 0x07"),
        (GOOD[:10], "truncated header"),  # ndim 2 needs a 12-byte header
        (GOOD[:6], "truncated header"),
        (GOOD[:12], "needs 12 bytes of data, the file has 0"),  # header only
        (GOOD[:-1], "needs 12 bytes of data, the file has 11"),  # last value cut
        (GOOD + b"\x00", "too long"),
        (GOOD + b"\x00" * 6, "too long: 6 bytes"),
        (header(0x08, (2**31, 2**31)), "truncated"),  # huge dims, no data
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_corrupt_file_is_rejected(tmp_path, content, message, gz):
    path = tmp_path / "bad-file.idx"
    path.write_bytes(gzip.compress(content) if gz else content)
    with pytest.raises(IDXFormatError, match=message) as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_the_good_reference_file_reads(tmp_path):
    (tmp_path / "good").write_bytes(GOOD)
    np.testing.assert_array_equal(read_idx(tmp_path / "good"), np.arange(6).reshape(2, 3))


@pytest.mark.parametrize("cut", [1, 10, 20])
def test_truncated_gzip_stream_is_rejected(tmp_path, cut):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(GOOD)[:-cut])
    with pytest.raises(IDXFormatError, match="gzip") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_corrupt_gzip_stream_is_rejected(tmp_path):
    data = bytearray(gzip.compress(GOOD * 50))
    data[len(data) // 2] ^= 0xFF  # a flipped byte in the deflate stream or the CRC check fails
    path = tmp_path / "flipped.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(IDXFormatError, match="gzip"):
        read_idx(path)


def test_gzip_magic_alone_is_rejected(tmp_path):
    (tmp_path / "magic").write_bytes(b"\x1f\x8b")
    with pytest.raises(IDXFormatError, match="gzip"):
        read_idx(tmp_path / "magic")


def test_format_error_is_a_value_error():
    assert issubclass(IDXFormatError, ValueError)


def test_pair_count_mismatch(tmp_path):
    images = write_idx(tmp_path / "images.gz", np.zeros((5, 2, 2), dtype=np.uint8))
    labels = write_idx(tmp_path / "labels.gz", np.zeros(4, dtype=np.uint8))
    with pytest.raises(IDXFormatError, match="count mismatch") as err:
        read_idx_pair(images, labels)
    assert "5 images" in str(err.value) and "4 labels" in str(err.value)
    assert str(images) in str(err.value) and str(labels) in str(err.value)


def test_pair_labels_must_be_one_dimensional(tmp_path):
    images = write_idx(tmp_path / "images", np.zeros((4, 2, 2), dtype=np.uint8))
    labels = write_idx(tmp_path / "labels", np.zeros((4, 1), dtype=np.uint8))
    with pytest.raises(IDXFormatError, match="1-D"):
        read_idx_pair(images, labels)


def test_pair_images_need_a_sample_dimension(tmp_path):
    images = write_idx(tmp_path / "images", np.zeros((), dtype=np.uint8))
    labels = write_idx(tmp_path / "labels", np.zeros(1, dtype=np.uint8))
    with pytest.raises(IDXFormatError, match="sample dimension"):
        read_idx_pair(images, labels)


@given(st.binary(max_size=40))
@settings(max_examples=200, deadline=None)
def test_arbitrary_bytes_never_crash_the_reader(tmp_path_factory, content):
    """Any byte string either parses or raises IDXFormatError, never something else."""
    path = tmp_path_factory.mktemp("fuzz") / "f"
    path.write_bytes(content)
    try:
        read_idx(path)
    except IDXFormatError:
        pass


def test_written_files_get_the_usual_permissions(tmp_path):
    """Not the 0600 of a private temporary file: 0666 less the umask, like open()."""
    old = os.umask(0o022)
    try:
        path = write_idx(tmp_path / "a.gz", np.zeros(3, dtype=np.uint8))
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
