"""Reading ``.npz`` archives safely: every member's size is checked from its header first."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

__all__ = ["open_npz"]


def open_npz(path: str | os.PathLike[str], max_member_bytes: int):
    """``np.load`` of an ``.npz`` archive (no pickles) whose members are checked before any is read.

    Raises
    ------
    ValueError
        The file is not an ``.npz`` archive, or a member's header declares (or its zip entry
        inflates to) more than ``max_member_bytes``: a small file cannot make the reader
        allocate gigabytes. Unreadable archives raise what ``np.load`` and ``zipfile`` raise
        (OSError, EOFError, zipfile.BadZipFile, ValueError).
    """
    path = Path(path)
    z = np.load(path, allow_pickle=False)
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: not an .npz archive (found a {type(z).__name__})")
    try:
        for info in z.zip.infolist():
            name = info.filename.removesuffix(".npy")
            if info.file_size > max_member_bytes:
                raise ValueError(f"{path}: member {name!r} inflates to {info.file_size} bytes, more than "
                                 f"the {max_member_bytes} allowed")
            with z.zip.open(info) as fh:
                version = np.lib.format.read_magic(fh)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, _, dtype = read_header(fh)
            declared = math.prod(shape) * dtype.itemsize
            if declared > max_member_bytes:
                raise ValueError(f"{path}: member {name!r} declares shape {shape} ({declared} bytes), more "
                                 f"than the {max_member_bytes} allowed")
    except BaseException:
        z.close()
        raise
    return z
