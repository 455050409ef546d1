"""Tampering with ``.npz`` files for the model-file tests."""

from __future__ import annotations

import numpy as np


def rewrite_npz(path, out, **changes):
    """Copy the npz archive ``path`` to ``out`` with members replaced, added, or (None) removed."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    for k, v in changes.items():
        if v is None:
            arrays.pop(k)
        else:
            arrays[k] = v
    np.savez(out, **arrays)
    return out
