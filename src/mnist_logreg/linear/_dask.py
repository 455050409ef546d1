"""Logistic regression on Dask arrays: the same loss and solver, chunk by chunk on the workers.

A Dask array ``X`` chunked along rows becomes one in-memory loss per chunk of rows (its rows as a
:class:`~._data.DesignMatrix`, uint8 pixels kept 1 byte each, with its labels and weights),
built and persisted where the chunk is: the data never comes to the client. :class:`ChunkedLoss`
implements the :class:`~._loss.Loss` protocol over those chunks: every value and gradient,
Hessian-vector product and curvature sum is one task per chunk, added up on the workers by a
tree reduction, so only sums the size of the parameters reach the client, where the solver runs
exactly as it does in memory. Each chunk's state (its probabilities) stays on its worker between
the value and the products that need it.

Any Dask scheduler runs it: the active ``distributed.Client`` (a ``LocalCluster`` or a remote
scheduler), else Dask's local threads. If a worker dies, Dask recomputes its chunks from the
graph that made them (the source array or the Zarr store) and the fit goes on.

This module holds every Dask-specific line of the package's linear models.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._data import preprocessed_matrix
from ._loss import BinaryLogLoss, SoftmaxLogLoss
from ._penalties import Penalty, make_penalty

__all__ = ["ChunkedLoss", "chunked_losses", "compute_all", "distinct_values", "is_dask_collection", "map_rows",
           "row_aligned", "rows_chunked", "weighted_accuracy", "weights_per_class"]

# chunks added together per reduction task (a tree of this fan-in)
_FAN_IN = 8
_NO_PENALTY = make_penalty(float("inf"))


def is_dask_collection(a: Any) -> bool:
    """Whether ``a`` is a Dask collection (without importing Dask when it is not loaded)."""
    dask = sys.modules.get("dask")
    return dask is not None and dask.is_dask_collection(a)


def _dask():
    try:
        import dask
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - the dask extra is installed by make test
        raise ImportError("Dask arrays need the dask extra: pip install 'mnist-logreg[dask]'") from exc
    return dask, da


def rows_chunked(X: Any, name: str = "X") -> Any:
    """``X`` as a 2-D Dask array chunked along rows only (one chunk across the columns)."""
    _, da = _dask()
    X = da.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array (n_samples, n_features), found {X.ndim}-D {X.shape}")
    if any(np.isnan(c) for c in X.chunks[0]):
        raise ValueError(f"{name}: the row chunks have unknown sizes; call {name}.compute_chunk_sizes() first")
    return X.rechunk({1: -1}) if len(X.chunks[1]) > 1 else X


def row_aligned(a: Any, row_chunks: tuple[int, ...], name: str) -> Any:
    """A 1-D array (numpy or Dask) as a Dask array with the given row chunks."""
    _, da = _dask()
    n = sum(row_chunks)
    if not is_dask_collection(a):
        a = np.asarray(a)
        if a.ndim != 1 or a.shape[0] != n:
            raise ValueError(f"{name}: expected shape ({n},), found {a.shape}")
        return da.from_array(a, chunks=(row_chunks,))
    if a.ndim != 1 or a.shape[0] != n:
        raise ValueError(f"{name}: expected shape ({n},), found {a.shape}")
    return a.rechunk((row_chunks,)) if a.chunks[0] != tuple(row_chunks) else a


def compute_all(*values):
    """Compute Dask collections (numpy values pass through) in one pass over the data."""
    dask, _ = _dask()
    return dask.compute(*values)


def distinct_values(y) -> np.ndarray:
    """The sorted distinct values of a 1-D Dask array (computed)."""
    _, da = _dask()
    return np.asarray(da.unique(y).compute())


def weights_per_class(codes, weights, n_classes: int):
    """The total weight of each class 0..n_classes-1 (lazy)."""
    _, da = _dask()
    return da.bincount(codes, weights=weights, minlength=n_classes)


def weighted_accuracy(predicted, y, sample_weight=None) -> float:
    """The (weighted) share of ``predicted == y``, reduced where the chunks are."""
    _, da = _dask()
    predicted = da.asarray(predicted)
    y = row_aligned(y, predicted.chunks[0], "y")
    hits = (predicted == y).astype(np.float64)
    if sample_weight is None:
        return float(hits.mean().compute())
    w = row_aligned(sample_weight, predicted.chunks[0], "sample_weight")
    total, correct = compute_all(w.sum(), (w * hits).sum())
    return float(correct / total)


def map_rows(X: Any, fn, n_out: int | None, dtype: Any) -> Any:
    """``fn`` (numpy rows -> rows of results) applied to each chunk of rows of the Dask array ``X``.

    ``n_out`` is the number of result columns, or None for one value per row (a 1-D result).
    """
    X = rows_chunked(X)
    dtype = np.dtype(dtype)
    if n_out is None:
        return X.map_blocks(fn, drop_axis=1, dtype=dtype, meta=np.empty((0,), dtype=dtype))
    return X.map_blocks(fn, chunks=(X.chunks[0], (n_out,)), dtype=dtype, meta=np.empty((0, 0), dtype=dtype))


@dataclass(frozen=True)
class _ChunkModel:
    """What each chunk's loss is: binary (on ``target``, or on codes 0/1) or softmax."""

    n_classes: int
    softmax: bool
    fit_intercept: bool
    dtype: str
    target: int | None = None


def _make_data(X_block, active, offset, scale, dtype):
    return preprocessed_matrix(np.asarray(X_block)[:, active], offset, scale, dtype)


def _make_loss(data, codes, weights, model: _ChunkModel):
    s = np.asarray(weights, dtype=model.dtype)[:, None]
    codes = np.asarray(codes)
    if model.softmax:
        return SoftmaxLogLoss(data, codes, s, _NO_PENALTY, model.fit_intercept, model.n_classes)
    y = codes == model.target if model.target is not None else codes
    return BinaryLogLoss(data, y.astype(np.float64), s, _NO_PENALTY, model.fit_intercept)


def _value_grad(loss, theta):
    f, g, state = loss.value_grad(theta)
    return f, g, loss, state


def _head(part):
    return part[0], part[1]


def _hessp(part, V):
    return part[2].hessp(part[3], V)


def _curvature(part, seed):
    return part[2].curvature_sums(part[3], seed=seed)


def _add_all(items):
    """Elementwise sum of a list of arrays, floats or tuples of them, accumulated in float64."""
    first = items[0]
    if isinstance(first, tuple):
        return tuple(_add_all([it[k] for it in items]) for k in range(len(first)))
    if isinstance(first, np.ndarray):
        total = first.astype(np.float64)
        for it in items[1:]:
            total += it
        return total
    return float(sum(items))


class ChunkedLoss:
    """A penalised log loss over chunks of rows held by Dask (implements :class:`~._loss.Loss`).

    Parameters
    ----------
    chunks : list of dask.delayed.Delayed
        One persisted unpenalised loss per chunk of rows (binary or softmax, all alike).
    penalty : Penalty
        Applied once, on the client.
    fit_intercept : bool
    n_outputs, d : int
        Columns and feature rows of the parameters.
    dtype : numpy dtype
        Of the parameters.
    """

    def __init__(self, chunks: list, *, penalty: Penalty, fit_intercept: bool, n_outputs: int, d: int,
                 dtype: Any):
        self.chunks, self.penalty, self.fit_intercept = list(chunks), penalty, fit_intercept
        self.n_outputs, self.d, self.dtype = n_outputs, d, np.dtype(dtype)
        self.xp, self.alpha = np, penalty.curvature

    def _sum(self, tasks: list) -> Any:
        """Add the chunk results up on the workers (a tree of fan-in ``_FAN_IN``) and fetch the sum."""
        dask, _ = _dask()
        while len(tasks) > 1:
            tasks = [dask.delayed(_add_all)(tasks[i : i + _FAN_IN]) for i in range(0, len(tasks), _FAN_IN)]
        return dask.compute(tasks[0])[0]

    def _broadcast(self, a):
        """One graph node for a small parameter array, shared by every chunk's task."""
        dask, _ = _dask()
        return dask.delayed(np.ascontiguousarray(a, dtype=self.dtype), pure=True)

    def value_grad(self, theta):
        """Objective, gradient and state (the chunks' persisted results) at ``theta``."""
        dask, _ = _dask()
        shared = self._broadcast(theta)
        parts = dask.persist(*[dask.delayed(_value_grad)(c, shared) for c in self.chunks])
        f, g = self._sum([dask.delayed(_head)(p) for p in parts])
        W = theta[: self.d]
        f += self.penalty.value(np, W)
        if self.alpha:
            g[: self.d] += self.penalty.gradient(np, W)
        return float(f), g.astype(self.dtype), parts

    def hessp(self, state, V):
        """``H @ V`` at the point where ``state`` was computed."""
        dask, _ = _dask()
        shared = self._broadcast(V)
        HV = self._sum([dask.delayed(_hessp)(p, shared) for p in state])
        if self.alpha:
            HV[: self.d] += self.alpha * V[: self.d]
        return HV.astype(self.dtype)

    def curvature_sums(self, state, *, seed: int = 0):
        """``(G, S_sum, w_sum)``, each the sum of the chunks' (see :class:`~._loss.Loss`)."""
        dask, _ = _dask()
        G, S, w = self._sum([dask.delayed(_curvature)(p, seed + 7919 * i) for i, p in enumerate(state)])
        return G.astype(self.dtype), S.astype(self.dtype), w

    def initial(self):
        """The starting point: all zeros."""
        return np.zeros((self.d + int(self.fit_intercept), self.n_outputs), dtype=self.dtype)


def chunked_losses(X, codes, weights, *, active: np.ndarray, offset: np.ndarray, scale: np.ndarray,
                   dtype: str, penalty: Penalty, fit_intercept: bool, n_classes: int, one_vs_rest: bool
                   ) -> list[ChunkedLoss]:
    """The losses of a fit on Dask arrays, their chunks built and persisted on the workers.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features), chunked along rows
    codes, weights : dask.array.Array of shape (n_samples,), with ``X``'s row chunks
        Class indices 0..n_classes-1 and sample weights (class weights included).
    active : ndarray of int
        The columns that enter the model.
    offset, scale : ndarray
        Preprocessing of the active columns: the model sees ``(X - offset) * scale``.
    dtype : str
        Working precision.
    penalty, fit_intercept
        As for the in-memory losses.
    n_classes : int
    one_vs_rest : bool
        One binary loss per class instead of one softmax loss (ignored for 2 classes).

    Returns
    -------
    list of ChunkedLoss
        One loss (binary or softmax), or one per class for one-vs-rest.
    """
    dask, _ = _dask()
    offset = np.asarray(offset, dtype=np.float64)
    scale = np.asarray(scale, dtype=np.float64)
    X_parts = X.to_delayed().ravel()
    code_parts, weight_parts = codes.to_delayed().ravel(), weights.to_delayed().ravel()
    data = dask.persist(*[dask.delayed(_make_data)(x, active, offset, scale, dtype) for x in X_parts])
    if n_classes == 2:
        models = [_ChunkModel(2, False, fit_intercept, dtype)]
    elif one_vs_rest:
        models = [_ChunkModel(n_classes, False, fit_intercept, dtype, target=k) for k in range(n_classes)]
    else:
        models = [_ChunkModel(n_classes, True, fit_intercept, dtype)]
    losses = []
    for model in models:
        chunks = dask.persist(*[dask.delayed(_make_loss)(x, c, w, model)
                                for x, c, w in zip(data, code_parts, weight_parts, strict=True)])
        losses.append(ChunkedLoss(chunks, penalty=penalty, fit_intercept=fit_intercept,
                                  n_outputs=n_classes if model.softmax else 1, d=len(active), dtype=dtype))
    return losses
