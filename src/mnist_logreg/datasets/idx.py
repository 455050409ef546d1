"""Read and write IDX files, the format of the original MNIST distribution.

An IDX file is: two zero bytes, a data-type code, the number of dimensions ``ndim``, then
``ndim`` big-endian uint32 sizes, then the values in big-endian C order. Files may be gzip
compressed (detected from the content, not the name).

The reader is strict: wrong magic bytes, an unknown type code, a payload shorter or longer
than the dimensions imply each raise :class:`IDXFormatError` naming the file, what was
expected and what was found.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._atomic import atomic_write
from ..errors import DataError

__all__ = ["IDXFormatError", "idx_bytes", "idx_md5", "parse_idx", "read_idx", "write_idx"]

#: IDX type code -> numpy big-endian dtype
TYPE_CODES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_FOR_KIND = {(dt.kind, dt.itemsize): code for code, dt in TYPE_CODES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


class IDXFormatError(DataError, ValueError):
    """An IDX file (or bytes) does not follow the format."""


def parse_idx(data: bytes | bytearray, name: str = "<bytes>") -> NDArray[Any]:
    """Decode IDX bytes (already decompressed) into a native-endian array.

    Parameters
    ----------
    data : bytes or bytearray
        The whole uncompressed file.
    name : str, default "<bytes>"
        Used in error messages (usually the file name).

    Returns
    -------
    ndarray
        The array the bytes encode, in its dtype and shape, native-endian.
    """
    if len(data) < 4:
        raise IDXFormatError(f"{name}: truncated header: expected at least 4 bytes, found {len(data)}")
    if data[0] != 0 or data[1] != 0:
        raise IDXFormatError(
            f"{name}: wrong magic bytes: expected 00 00 at the start, found {data[:2].hex(' ')}"
        )
    code, ndim = data[2], data[3]
    if code not in TYPE_CODES:
        known = ", ".join(f"0x{c:02X}" for c in TYPE_CODES)
        raise IDXFormatError(f"{name}: unsupported data-type code 0x{code:02X}: expected one of {known}")
    if ndim == 0:
        raise IDXFormatError(f"{name}: number of dimensions is 0: expected at least 1")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise IDXFormatError(
            f"{name}: truncated header: expected {header_len} bytes for {ndim} dimensions, "
            f"found {len(data)}"
        )
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = TYPE_CODES[code]
    expected = math.prod(shape) * dtype.itemsize
    found = len(data) - header_len
    if found < expected:
        raise IDXFormatError(
            f"{name}: truncated payload: dimensions {shape} of {dtype.name} need {expected} bytes, "
            f"found {found}"
        )
    if found > expected:
        raise IDXFormatError(
            f"{name}: {found - expected} trailing bytes: dimensions {shape} of {dtype.name} need "
            f"{expected} bytes, found {found}"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=dtype.itemsize > 1 or not arr.flags.writeable)


#: the most bytes an IDX file may inflate to when its header is no help (a gzip bomb is refused)
MAX_IDX_BYTES = 1 << 30
#: inflate at most this much at a time, so a bomb is caught after one piece
_PIECE = 1 << 20


def _declared_size(prefix: bytes | bytearray) -> int | None:
    """The whole size an IDX file declares in its header, from the first bytes of it.

    ``None`` while ``prefix`` is too short to tell; 0 when the header is already invalid
    (nothing more is worth inflating: :func:`parse_idx` then names the problem).
    """
    if len(prefix) < 4:
        return None
    if prefix[0] != 0 or prefix[1] != 0 or prefix[2] not in TYPE_CODES or prefix[3] == 0:
        return 0
    header_len = 4 + 4 * prefix[3]
    if len(prefix) < header_len:
        return None
    shape = np.frombuffer(bytes(prefix[4:header_len]), dtype=">u4")
    return header_len + math.prod(int(s) for s in shape) * TYPE_CODES[prefix[2]].itemsize


def _decompress(raw: bytes, name: str, max_size: int | None = None) -> bytes | bytearray:
    """Inflate gzip ``raw`` (plain bytes pass through), never beyond the size expected.

    The size expected is ``max_size`` when the file's size is known (a download), otherwise
    what the IDX header declares, capped at :data:`MAX_IDX_BYTES`; inflating stops one piece
    past it, so a small file that inflates to gigabytes costs no more memory than the data it
    claims to hold.
    """
    limit = MAX_IDX_BYTES if max_size is None else max_size
    if raw[:2] != _GZIP_MAGIC:
        if len(raw) > limit:
            raise IDXFormatError(f"{name}: {len(raw)} bytes, more than the {limit} expected")
        return raw
    out, rest = bytearray(), raw
    declared: int | None = None
    try:
        while rest[:2] == _GZIP_MAGIC:  # one or more gzip members
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            pending = rest
            while not d.eof:
                want = min(_PIECE, limit + 1 - len(out))
                piece = d.decompress(pending, want)
                out += piece
                pending = d.unconsumed_tail
                if declared is None and max_size is None:
                    declared = _declared_size(out)
                    if declared == 0:
                        return out  # an invalid header: parse_idx names the problem
                    if declared is not None:
                        limit = min(limit, declared)
                if len(out) > limit:
                    raise IDXFormatError(f"{name}: inflates to more than {limit} bytes (the most expected)")
                if not pending and len(piece) < want:
                    break  # all input used and no output held back
            if not d.eof:
                raise IDXFormatError(f"{name}: corrupt gzip stream: truncated")
            rest = d.unused_data
    except zlib.error as exc:
        raise IDXFormatError(f"{name}: corrupt gzip stream: {exc}") from exc
    return out


def read_idx(path: str | os.PathLike[str]) -> NDArray[Any]:
    """Read an IDX file (plain or gzip) into a numpy array.

    Parameters
    ----------
    path : str or os.PathLike
        The file; gzip is recognised by its magic bytes and decompressed first.

    Returns
    -------
    ndarray
        The array the file holds, in its dtype and shape, native-endian.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    IDXFormatError
        The content is not a valid IDX file; the message names the file and the problem.
    """
    path = Path(path)
    raw = path.read_bytes()
    return parse_idx(_decompress(raw, str(path)), name=str(path))


def idx_bytes(array: NDArray[Any]) -> bytes:
    """Encode ``array`` as uncompressed IDX bytes.

    Parameters
    ----------
    array : ndarray
        The array to encode, in a dtype IDX has.

    Returns
    -------
    bytes
        The IDX header (magic number and dimensions) followed by the big-endian data.
    """
    array = np.asarray(array)
    key = (array.dtype.kind, array.dtype.itemsize)
    if key not in _CODE_FOR_KIND or array.ndim == 0 or array.ndim > 255:
        raise IDXFormatError(
            f"cannot write dtype {array.dtype} with {array.ndim} dimensions as IDX: expected "
            "uint8, int8, int16, int32, float32 or float64 with 1 to 255 dimensions"
        )
    code = _CODE_FOR_KIND[key]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(array, dtype=TYPE_CODES[code]).tobytes()


def idx_md5(array: NDArray[Any]) -> str:
    """MD5 of the uncompressed IDX encoding of ``array`` (what MNIST's published checksums hash).

    Parameters
    ----------
    array : ndarray
        The array to hash, in a dtype IDX has.

    Returns
    -------
    str
        The hexadecimal MD5 digest of ``idx_bytes(array)``.
    """
    return hashlib.md5(idx_bytes(array)).hexdigest()


def write_idx(path: str | os.PathLike[str], array: NDArray[Any], *, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file, atomically; gzip when ``compress`` (default: name ends .gz).

    Parameters
    ----------
    path : str or os.PathLike
        The file to write (replaced whole, never left half-written).
    array : ndarray
        The array to store, in a dtype IDX has (uint8, int8, int16, int32, float32, float64).
    compress : bool or None, default None
        Gzip the file; None compresses when ``path`` ends ``.gz``.
    """
    path = Path(path)
    data = idx_bytes(array)
    if compress is None:
        compress = path.suffix == ".gz"
    if compress:
        data = gzip.compress(data, compresslevel=6, mtime=0)
    with atomic_write(path) as fh:
        fh.write(data)
