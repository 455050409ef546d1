import gzip

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mnist_logreg.datasets.idx import IDXFormatError, idx_bytes, parse_idx, read_idx, write_idx

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("gz", [False, True])
def test_round_trip(tmp_path, dtype, gz):
    a = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4)
    path = tmp_path / ("a.idx.gz" if gz else "a.idx")
    write_idx(path, a)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == gz
    b = read_idx(path)
    assert b.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(a, b)


def _header(code, dims):
    return bytes([0, 0, code, len(dims)]) + np.asarray(dims, dtype=">u4").tobytes()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\x00\x00", "truncated header"),
        (b"\x01\x00\x08\x01" + b"\x00" * 8, "wrong magic"),
        (_header(0x07, [3]) + b"abc", "unsupported data-type code 0x07"),
        (_header(0x08, [2, 2])[:10], "truncated header"),
        (_header(0x08, [2, 3]) + b"\x00" * 5, "truncated payload"),
        (_header(0x08, [2, 3]) + b"\x00" * 7, "1 trailing bytes"),
        (bytes([0, 0, 8, 0]), "number of dimensions is 0"),
    ],
)
def test_bad_bytes_raise_named_errors(tmp_path, data, words):
    path = tmp_path / "bad-idx"
    path.write_bytes(data)
    with pytest.raises(IDXFormatError) as err:
        read_idx(path)
    assert words in str(err.value)
    assert str(path) in str(err.value)


def test_expected_and_found_in_message():
    with pytest.raises(IDXFormatError, match=r"need 6 bytes, found 5"):
        parse_idx(_header(0x08, [2, 3]) + b"\x00" * 5, "x")


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros(10, np.uint8)))[:-6])
    with pytest.raises(IDXFormatError, match="corrupt gzip"):
        read_idx(path)


def test_failed_write_keeps_old_file(tmp_path):
    path = tmp_path / "keep.idx"
    write_idx(path, np.arange(4, dtype=np.uint8))
    before = path.read_bytes()
    with pytest.raises(IDXFormatError):
        write_idx(path, np.zeros(3, dtype=np.complex64))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.idx"]


@settings(max_examples=60, deadline=None)
@given(arrays(st.sampled_from(DTYPES), st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple)))
def test_round_trip_property(a):
    b = parse_idx(idx_bytes(a))
    np.testing.assert_array_equal(a, b)
    assert b.shape == a.shape


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64), st.integers(0, 63), st.integers(0, 255))
def test_corrupted_bytes_only_raise_idx_errors(noise, pos, value):
    good = bytearray(idx_bytes(np.arange(12, dtype=np.int16).reshape(3, 4)))
    if pos < len(good):
        good[pos] = value
    for data in (bytes(good), bytes(good) + noise, bytes(good[: pos % len(good)]), noise):
        try:
            parse_idx(data)
        except IDXFormatError:
            pass
