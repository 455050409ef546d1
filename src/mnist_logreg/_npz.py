"""Reading ``.npz`` archives safely: every member's size is checked from its header first."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .errors import InputError

__all__ = ["NpzError", "read_npz"]


class NpzError(InputError, ValueError):
    """An ``.npz`` archive that cannot be read safely (the message names the file and why).

    Attributes
    ----------
    reason : str
        Why, for callers that answer differently: ``"not_npz"`` (not a zip archive, or not an
        ``.npz``), ``"unexpected_member"`` (a name ``expected`` rejects), ``"member_too_large"``,
        ``"too_large_in_all"`` or ``"unreadable"`` (zipfile or numpy failed on it).
    """

    def __init__(self, message: str, reason: str = "unreadable") -> None:
        super().__init__(message)
        self.reason = reason


def read_npz(path: str | os.PathLike[str], max_member_bytes: int, *, max_total_bytes: int | None = None,
             expected: Callable[[str], bool] | None = None) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` archive (no pickles), sizes checked before anything is read.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    NpzError
        Anything else wrong (a ValueError), and only this: not an ``.npz`` archive; a member whose header
        declares, or whose zip entry inflates to, more than ``max_member_bytes`` (so a small
        file cannot make the reader allocate gigabytes); or an archive that zipfile or numpy
        cannot read (they raise a dozen different types for damaged files; the message keeps
        the original type and text); members whose declared sizes add up to more than
        ``max_total_bytes``; a member whose name ``expected`` rejects (checked before any is read).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic != b"PK\x03\x04" and magic != b"PK\x05\x06":  # a zip archive's first bytes (an empty one: the latter)
        raise NpzError(f"{path}: not an .npz archive (it starts with {magic!r}, not a zip archive's PK)",
                       reason="not_npz")
    try:
        z = np.load(path, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise NpzError(f"{path}: not an .npz archive (found a {type(z).__name__})", reason="not_npz")
        with z:
            archive = z.zip
            assert archive is not None  # numpy sets it to None only when the file is closed
            total = 0
            for info in archive.infolist():
                name = info.filename.removesuffix(".npy")
                if expected is not None and not expected(name):
                    raise NpzError(f"{path}: unexpected member {name!r}", reason="unexpected_member")
                if info.file_size > max_member_bytes:
                    raise NpzError(f"{path}: member {name!r} inflates to {info.file_size} bytes, more than "
                                   f"the {max_member_bytes} allowed", reason="member_too_large")
                with archive.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read_header(fh)
                declared = math.prod(shape) * dtype.itemsize
                if declared > max_member_bytes:
                    raise NpzError(f"{path}: member {name!r} declares shape {shape} ({declared} bytes), "
                                   f"more than the {max_member_bytes} allowed", reason="member_too_large")
                total += max(declared, info.file_size)
                if max_total_bytes is not None and total > max_total_bytes:
                    raise NpzError(f"{path}: the members hold more than the {max_total_bytes} bytes allowed in all",
                                   reason="too_large_in_all")
            return {name: z[name] for name in z.files}
    except NpzError:
        raise
    except Exception as exc:  # damaged archives raise many types (ValueError too); one is documented
        raise NpzError(f"{path}: not a readable archive ({type(exc).__name__}: {str(exc)[:200]})",
                       reason="unreadable") from exc
