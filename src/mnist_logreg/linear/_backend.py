"""Array backends: numpy on the CPU, or PyTorch (CPU or CUDA) through array-api-compat.

The loss and solver code is written once against the array API standard; this module turns
numpy inputs into the chosen backend's arrays and back.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np

__all__ = ["Backend", "get_backend"]


class Backend:
    """Converts arrays to and from one array namespace on one device."""

    def __init__(self, name: str, device: str, dtype: str):
        self.name, self.device, self.dtype_name = name, device, dtype
        if name == "numpy":
            if device != "cpu":
                raise ValueError(f"device={device!r} needs the torch backend; numpy runs on 'cpu' only")
            self.xp = np
            self.dtype = np.dtype(dtype)
        else:
            try:
                import torch
                from array_api_compat import array_namespace
            except ImportError as exc:
                raise ImportError(
                    "the torch backend needs PyTorch: pip install 'mnist-logreg[gpu]'"
                ) from exc
            if device.startswith("cuda") and not torch.cuda.is_available():
                raise ValueError(f"device={device!r} but torch sees no CUDA GPU")
            self.torch = torch
            self.xp = array_namespace(torch.empty(0))
            self.dtype = getattr(torch, dtype)

    def session(self) -> AbstractContextManager:
        """A context for a whole fit: numpy's passes and Gram matrices run in row threads with
        BLAS single-threaded throughout (``_data.row_threads``); nothing for torch."""
        if self.name == "numpy":
            from ._data import row_threads

            return row_threads
        return nullcontext()

    def asarray(self, a: Any, dtype: Any = None) -> Any:
        """``a`` (numpy) as an array of this backend, in the working dtype unless told otherwise."""
        if self.name == "numpy":
            return np.asarray(a, dtype=dtype or self.dtype)
        t = self.torch.from_numpy(np.ascontiguousarray(a))
        return t.to(device=self.device, dtype=dtype or self.dtype)

    def to_numpy(self, a: Any) -> np.ndarray:
        """A backend array as a numpy array on the host."""
        if self.name == "numpy":
            return np.asarray(a)
        return a.detach().cpu().numpy()

    def eigh(self, G: Any) -> tuple[Any, Any]:
        """Eigenvalues and eigenvectors of a symmetric matrix, computed in float64."""
        if self.name == "numpy":
            lam, U = np.linalg.eigh(np.asarray(G, dtype=np.float64))
            return lam.astype(self.dtype), U.astype(self.dtype)
        lam, U = self.torch.linalg.eigh(G.to(self.torch.float64))
        return lam.to(self.dtype), U.to(self.dtype)


def get_backend(backend: str, device: str, dtype: str) -> Backend:
    """Pick the backend: "auto" means numpy on "cpu" and torch on any other device."""
    if backend == "auto":
        backend = "numpy" if device == "cpu" else "torch"
    if backend not in ("numpy", "torch"):
        raise ValueError(f"backend must be 'auto', 'numpy' or 'torch', got {backend!r}")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return Backend(backend, device, dtype)
