"""Array backends, chosen in one place (:func:`select_backend`): numpy on the CPU, PyTorch (CPU
or CUDA) through array-api-compat, or Dask arrays fitted where their chunks are (``_dask.py``).

The loss and solver code is written once against the array API standard and the
``DesignMatrix`` contract (``_data.py``); a backend turns the estimator's numpy inputs into its
own arrays and design matrices and back. The estimators ask a backend what it can do
(``chunked``, ``accepts_sparse``) and never test which one it is.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any, NamedTuple

import numpy as np

from .._chunks import is_dask_collection
from ._data import DenseMatrix, ScaledIntegerMatrix, SparseMatrix, preprocessed_matrix
from ._penalties import Penalty

__all__ = ["BACKENDS", "DTYPES", "Backend", "FitProblem", "NumpyBackend", "TorchBackend", "by_chunks",
           "chunked_accuracy", "select_backend"]

#: the ``backend`` values the estimators accept
BACKENDS = ("auto", "numpy", "torch")
#: the working dtypes the estimators accept
DTYPES = ("float32", "float64")


class FitProblem(NamedTuple):
    """What a backend gives the solver: the losses over the active columns.

    ``centre`` is None, or the active columns' means the losses' data has taken away (the
    intercept is then that of the centred columns); the losses see ``sample_weight / unit``
    and ``C * unit`` (the objective divided by ``unit``, exactly).
    """

    active: np.ndarray
    losses: list[Any]
    centre: np.ndarray | None
    unit: float


class Backend:
    """Converts arrays to and from one array namespace on one device.

    Attributes
    ----------
    name : str
        For messages ("numpy", "torch", "dask").
    chunked : bool
        True where the data stays where its chunks are: the backend builds the losses itself
        (``fit_problem``) and the estimator never sees the rows.
    accepts_sparse : bool
        Whether scipy sparse input is fitted as it is.
    """

    name = "base"
    chunked = False
    accepts_sparse = False

    def __init__(self, device: str, dtype: str) -> None:
        self.device, self.dtype_name = device, dtype
        self.dtype: Any = np.dtype(dtype)
        self.xp: Any = np

    def session(self) -> AbstractContextManager[Any]:
        """A context for a whole fit (nothing by default)."""
        return nullcontext()

    def asarray(self, a: Any, dtype: Any = None) -> Any:
        """``a`` (numpy) as an array of this backend, in the working dtype unless told otherwise."""
        return np.asarray(a, dtype=dtype or self.dtype)

    def class_codes(self, codes: np.ndarray) -> Any:
        """Class codes (0..K-1) as this backend's integer array (softmax's labels)."""
        return np.asarray(codes)

    def to_numpy(self, a: Any) -> np.ndarray:
        """A backend array as a numpy array on the host."""
        return np.asarray(a)

    def eigh(self, G: Any) -> tuple[Any, Any]:
        """Eigenvalues and eigenvectors of a symmetric matrix, computed in float64."""
        lam, U = np.linalg.eigh(np.asarray(G, dtype=np.float64))
        return lam.astype(self.dtype), U.astype(self.dtype)

    def sparse_matrix(self, X: Any) -> Any:
        """The design matrix of preprocessed sparse ``X`` (refused where not ``accepts_sparse``)."""
        raise ValueError(f"sparse X is fitted on the CPU with the numpy backend, not {self.name!r} on "
                         f"device={self.device!r}; densify it or use device='cpu'")

    def dense_rows(self, X: np.ndarray) -> Any:
        """The design matrix of already preprocessed dense ``X`` (SGD's)."""
        return DenseMatrix(self.xp, self.asarray(X))

    def dense_matrix(self, X: np.ndarray, offset: np.ndarray, scale: np.ndarray, active: np.ndarray,
                     codes: np.ndarray, preprocess: Any) -> tuple[Any, np.ndarray | None]:
        """The design matrix of ``(X[:, active] - offset) * scale`` and the order of its rows
        (None: as given). ``preprocess(X, dtype, active)`` makes the preprocessed copy."""
        return DenseMatrix(self.xp, self.asarray(preprocess(X, self.dtype_name, active))), None

    def fit_problem(self, est: Any, X: Any, y: Any, sample_weight: Any, penalty: Penalty) -> FitProblem:
        """The losses of ``LogisticRegression.fit``, built by a ``chunked`` backend where the data is
        (the others never get this call: the estimator builds the losses itself)."""
        raise NotImplementedError(f"the {self.name} backend is not chunked: the estimator builds the losses")

    def fit_sgd(self, est: Any, X: Any, y: Any, classes: Any, sample_weight: Any, epochs: int,
                reset: bool) -> Any:
        """``SGDLogisticRegression``'s epochs run by a ``chunked`` backend where the data is; sets
        ``est``'s fitted attributes (the others never get this call)."""
        raise NotImplementedError(f"the {self.name} backend is not chunked: the estimator runs the epochs")


class NumpyBackend(Backend):
    """numpy on the CPU: passes and Gram matrices in row threads with BLAS single-threaded."""

    name = "numpy"
    accepts_sparse = True

    def __init__(self, device: str, dtype: str) -> None:
        if device != "cpu":
            raise ValueError(f"device={device!r} needs the torch backend; numpy runs on 'cpu' only")
        super().__init__(device, dtype)

    def session(self) -> AbstractContextManager[Any]:
        """Row threads with BLAS single-threaded for the whole fit (``_data.row_threads``)."""
        from ._data import row_threads

        return row_threads

    def sparse_matrix(self, X: Any) -> Any:
        return SparseMatrix(X, dtype=self.dtype)

    def dense_matrix(self, X: np.ndarray, offset: np.ndarray, scale: np.ndarray, active: np.ndarray,
                     codes: np.ndarray, preprocess: Any) -> tuple[Any, np.ndarray | None]:
        if X.dtype.kind in "iu" and not np.any(offset):
            # uint8 pixels stay 1 byte each; products convert cache-sized blocks (4x less memory
            # traffic). The rows go in class order: a block of one class leaves out the pixels
            # none of its digits touches (ScaledIntegerMatrix), and the loss is a sum over rows
            order = np.argsort(codes, kind="stable")
            return ScaledIntegerMatrix(X, scale[active], self.dtype, rows=order, columns=active), order
        # np.take copies the columns twice as fast as X[:, active]
        return preprocessed_matrix(np.take(X, active, axis=1), offset[active], scale[active], self.dtype), None


class TorchBackend(Backend):
    """PyTorch on any of its devices (the ``gpu`` extra), through array-api-compat."""

    name = "torch"

    def __init__(self, device: str, dtype: str) -> None:
        try:
            import torch
            from array_api_compat import array_namespace
        except ImportError as exc:
            raise ImportError("the torch backend needs PyTorch: pip install 'mnist-logreg[gpu]'") from exc
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device={device!r} but torch sees no CUDA GPU")
        super().__init__(device, dtype)
        self.torch = torch
        self.xp = array_namespace(torch.empty(0))
        self.dtype = getattr(torch, dtype)

    def asarray(self, a: Any, dtype: Any = None) -> Any:
        t = self.torch.from_numpy(np.ascontiguousarray(a))
        return t.to(device=self.device, dtype=dtype or self.dtype)

    def class_codes(self, codes: np.ndarray) -> Any:
        return self.asarray(codes, dtype=self.torch.int64)

    def to_numpy(self, a: Any) -> np.ndarray:
        return np.asarray(a.detach().cpu().numpy())

    def eigh(self, G: Any) -> tuple[Any, Any]:
        lam, U = self.torch.linalg.eigh(G.to(self.torch.float64))
        return lam.to(self.dtype), U.to(self.dtype)


def select_backend(X: Any, y: Any, backend: str, device: str, dtype: str) -> Backend:
    """The one place a backend is chosen.

    Parameters
    ----------
    X, y : array-like
        The data to fit: Dask arrays choose the chunked backend (``_dask.DaskBackend``).
    backend : {"auto", "numpy", "torch"}
        "auto" means numpy on "cpu" and torch on any other device.
    device : str
        "cpu" or a torch device.
    dtype : {"float32", "float64"}
        The working dtype.

    Returns
    -------
    Backend
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be 'auto', 'numpy' or 'torch', got {backend!r}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    if is_dask_collection(X) or is_dask_collection(y):
        from ._dask import DaskBackend

        if device != "cpu" or backend == "torch":
            raise ValueError("Dask arrays are fitted by the numpy backend on the workers' CPUs; "
                             f"got device={device!r}, backend={backend!r}")
        return DaskBackend(device, dtype)
    if backend == "auto":
        backend = "numpy" if device == "cpu" else "torch"
    return NumpyBackend(device, dtype) if backend == "numpy" else TorchBackend(device, dtype)


def by_chunks(X: Any, method: Any, n_out: int | None, dtype: Any) -> Any:
    """``method`` mapped over the row chunks of a Dask array ``X`` (lazy), or None for
    in-memory ``X`` (the caller then computes in place)."""
    if not is_dask_collection(X):
        return None
    from .._chunks import map_rows

    return map_rows(X, method, n_out, dtype)


def chunked_accuracy(predict: Any, X: Any, y: Any, sample_weight: Any = None) -> float | None:
    """The (weighted) accuracy of ``predict`` on Dask arrays, reduced where the chunks are (only
    the total comes back), or None for in-memory ``X`` and ``y``."""
    if not (is_dask_collection(X) or is_dask_collection(y)):
        return None
    from .._chunks import weighted_accuracy

    return weighted_accuracy(predict(X), y, sample_weight)
