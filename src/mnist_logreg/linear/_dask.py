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

This module and ``mnist_logreg._chunks`` (the Dask-array helpers the estimator and the feature
maps share) hold every Dask-specific line of the package.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from .._chunks import (
    _dask,
    compute_all,
    distinct_values,
    row_aligned,
    rows_chunked,
    weights_per_class,
)
from ._backend import FitProblem, NumpyBackend
from ._data import DenseMatrix, DesignMatrix, preprocessed_array, preprocessed_matrix
from ._inputs import ACCEPTED_DTYPES, class_weights_from_counts, fit_scaling
from ._loss import BinaryLogLoss, Loss, SoftmaxLogLoss
from ._penalties import Penalty, make_penalty
from ._solvers import Callback, epoch_seed, sgd, visiting_order

__all__ = ["ChunkedLoss", "DaskBackend", "SGDSettings", "chunked_losses", "sgd_epochs"]

# chunks added together per reduction task (a tree of this fan-in)
_FAN_IN = 8
_NO_PENALTY = make_penalty(float("inf"))


@dataclass(frozen=True)
class _ChunkModel:
    """What each chunk's loss is: binary (on ``target``, or on codes 0/1) or softmax."""

    n_classes: int
    softmax: bool
    fit_intercept: bool
    dtype: str
    target: int | None = None


def _make_data(X_block: Any, active: np.ndarray, offset: np.ndarray, scale: np.ndarray, dtype: str) -> DesignMatrix:
    return preprocessed_matrix(np.asarray(X_block)[:, active], offset, scale, dtype)


def _make_loss(data: DesignMatrix, codes: Any, weights: Any, model: _ChunkModel) -> Loss:
    s = np.asarray(weights, dtype=model.dtype)[:, None]
    codes = np.asarray(codes)
    if model.softmax:
        return SoftmaxLogLoss(data, codes, s, _NO_PENALTY, model.fit_intercept, model.n_classes)
    y = codes == model.target if model.target is not None else codes
    return BinaryLogLoss(data, y.astype(np.float64), s, _NO_PENALTY, model.fit_intercept)


def _value_grad(loss: Loss, theta: np.ndarray) -> tuple[tuple[float, Any], Any]:
    """((value, gradient), state) of one chunk: the first part travels, the state stays."""
    f, g, state = loss.value_grad(theta)
    return (f, g), state


def _hessp(loss: Loss, state: Any, V: np.ndarray) -> Any:
    return loss.hessp(state, V)


def _curvature(loss: Loss, state: Any, seed: int, left_out: float, exact: bool) -> Any:
    return loss.curvature_sums(state, seed=seed, left_out=left_out, exact=exact)


def _add_all(items: list[Any]) -> Any:
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

    def __init__(self, chunks: list[Any], *, penalty: Penalty, fit_intercept: bool, n_outputs: int, d: int,
                 dtype: Any) -> None:
        self.chunks, self.penalty, self.fit_intercept = list(chunks), penalty, fit_intercept
        self.n_outputs, self.d, self.dtype = n_outputs, d, np.dtype(dtype)
        self.xp, self.alpha = np, penalty.curvature

    def _sum(self, tasks: list[Any]) -> Any:
        """Add the chunk results up on the workers (a tree of fan-in ``_FAN_IN``) and fetch the sum."""
        dask, _ = _dask()
        while len(tasks) > 1:
            tasks = [dask.delayed(_add_all)(tasks[i : i + _FAN_IN]) for i in range(0, len(tasks), _FAN_IN)]
        return dask.compute(tasks[0])[0]

    def _broadcast(self, a: np.ndarray) -> Any:
        """One graph node for a small parameter array, shared by every chunk's task."""
        dask, _ = _dask()
        return dask.delayed(np.ascontiguousarray(a, dtype=self.dtype), pure=True)

    def value_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray, Any]:
        """Objective, gradient and state (the chunks' persisted results) at ``theta``."""
        dask, _ = _dask()
        shared = self._broadcast(theta)
        outs = [dask.delayed(_value_grad, nout=2)(c, shared) for c in self.chunks]
        # one computation keeps both: the sums to add up now, the states for the products to come
        persisted = dask.persist(*[o[0] for o in outs], *[o[1] for o in outs])
        heads, states = persisted[: len(outs)], persisted[len(outs) :]
        f, g = self._sum(list(heads))
        W = theta[: self.d]
        f += self.penalty.value(np, W)
        if self.alpha:
            g[: self.d] += self.penalty.gradient(np, W)
        return float(f), g.astype(self.dtype), states

    def hessp(self, state: Any, V: np.ndarray) -> np.ndarray:
        """``H @ V`` at the point where ``state`` was computed."""
        dask, _ = _dask()
        shared = self._broadcast(V)
        HV: np.ndarray = self._sum([dask.delayed(_hessp)(c, p, shared)
                                    for c, p in zip(self.chunks, state, strict=True)])
        if self.alpha:
            HV[: self.d] += self.alpha * V[: self.d]
        return HV.astype(self.dtype)

    def curvature_sums(self, state: Any, *, seed: int = 0, left_out: float = 0.0,
                       exact: bool = False) -> tuple[np.ndarray, np.ndarray, Any]:
        """``(G, S_sum, w_sum)``, each the sum of the chunks' (see :class:`~._loss.Loss`)."""
        dask, _ = _dask()
        G, S, w = self._sum([dask.delayed(_curvature)(c, p, seed + 7919 * i, left_out, exact)
                             for i, (c, p) in enumerate(zip(self.chunks, state, strict=True))])
        return G.astype(self.dtype), S.astype(self.dtype), w

    def initial(self) -> np.ndarray:
        """The starting point: all zeros."""
        return np.zeros((self.d + int(self.fit_intercept), self.n_outputs), dtype=self.dtype)


def chunked_losses(X: Any, codes: Any, weights: Any, *, active: np.ndarray, offset: np.ndarray, scale: np.ndarray,
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


@dataclass(frozen=True)
class SGDSettings:
    """What each chunk's SGD task needs besides its rows (see :func:`sgd_epochs`)."""

    n_classes: int
    fit_intercept: bool
    dtype: str
    alpha: float
    batch_size: int
    eta0: float
    power_t: float
    steps_per_epoch: int
    offset: np.ndarray
    scale: np.ndarray


def _sgd_on_chunk(carry: tuple[Any, Any, int, int], X_block: Any, codes: Any, weights: Any, seed: int,
                  settings: SGDSettings) -> tuple[Any, Any, int, int]:
    """One pass of mini-batch SGD over one chunk's rows in the order ``seed`` draws
    (``visiting_order``), the rows weighted 0 left out. ``carry`` is ``(theta, sum of averaged
    iterates, their count, updates so far)``."""
    theta, avg_sum, count, t = carry
    weights = np.asarray(weights, dtype=np.float64)
    order = visiting_order(seed, len(weights))
    order = order[weights[order] > 0]
    if order.size == 0:
        return carry
    X = preprocessed_array(np.asarray(X_block)[order], settings.offset, settings.scale, settings.dtype)
    codes = np.asarray(codes)[order]
    s = np.asarray(weights[order], dtype=settings.dtype)[:, None]
    no_penalty = _NO_PENALTY
    K = settings.n_classes
    y = codes.astype(np.float64) if K == 2 else codes

    def make_loss(rows: DesignMatrix, y_rows: Any, s_rows: Any) -> Loss:
        if K == 2:
            return BinaryLogLoss(rows, y_rows, s_rows, no_penalty, settings.fit_intercept)
        return SoftmaxLogLoss(rows, y_rows, s_rows, no_penalty, settings.fit_intercept, K)

    avg, theta, t_new = sgd(make_loss, DenseMatrix(np, X), np.asarray(y, dtype=settings.dtype if K == 2 else None),
                            s, theta, alpha=settings.alpha, batch_size=settings.batch_size, epochs=1,
                            eta0=settings.eta0, power_t=settings.power_t, t_start=t, rng=None,
                            steps_per_epoch=settings.steps_per_epoch)
    updates = t_new - t
    return theta, avg_sum + avg * updates, count + updates, t_new


def sgd_epochs(X: Any, codes: Any, weights: Any, theta: np.ndarray, t: int, rng: np.random.Generator, epochs: int,
               settings: SGDSettings, callback: Callback | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Mini-batch SGD over a Dask array's chunks, one chunk's task after another.

    SGD is sequential: each update starts from the previous one. Each epoch visits the chunks in
    a random order and each chunk's rows in a random order drawn here (with one chunk, the same
    order as an in-memory fit with the same generator). A chunk's task runs where the chunk is
    and passes on only the parameters and the running average of the epoch's iterates, so the
    data never moves; one worker at a time is busy. Rows weighted 0 are left out, as if absent
    (cross-validation's held-out rows).

    Parameters
    ----------
    X : dask.array.Array, chunked along rows
    codes, weights : dask.array.Array with ``X``'s row chunks
        Class indices and sample weights.
    theta : ndarray
        The starting parameters (features then intercept, by outputs).
    t : int
        Updates made before (the step size schedule goes on from there).
    rng : numpy.random.Generator
        Draws the visiting orders.
    epochs : int
    settings : SGDSettings
    callback : callable, optional
        ``callback({"epoch": e, "epochs": epochs})`` after each epoch.

    Returns
    -------
    (averaged parameters of the last epoch, last iterate, updates made in all)
    """
    dask, _ = _dask()
    X_parts = X.to_delayed().ravel()
    code_parts, weight_parts = codes.to_delayed().ravel(), weights.to_delayed().ravel()
    sizes = X.chunks[0]
    avg = theta
    task = dask.delayed(_sgd_on_chunk, pure=True)
    for epoch in range(epochs):
        chunk_order = rng.permutation(len(sizes)) if len(sizes) > 1 else [0]
        carry = (theta, 0.0, 0, t)
        for c in chunk_order:
            # the task draws its rows' order from one number: the graph holds no permutations
            carry = task(carry, X_parts[c], code_parts[c], weight_parts[c], epoch_seed(rng), settings)
        theta, avg_sum, count, t = dask.compute(carry)[0]
        avg = avg_sum / max(count, 1)
        if callback is not None:
            callback({"epoch": epoch + 1, "epochs": epochs})
    return avg, theta, t


class DaskBackend(NumpyBackend):
    """Dask arrays, fitted where their chunks are (chosen by ``_backend.select_backend``).

    The solver runs in this process on numpy arrays the size of the coefficients; the losses
    are :class:`ChunkedLoss` over the chunks. ``fit_problem`` and ``fit_sgd`` do the Dask side of
    the estimators' fits: the checks, classes, scaling and weights computed where the chunks are.
    """

    name = "dask"
    chunked = True
    accepts_sparse = False

    def fit_problem(self, est: Any, X: Any, y: Any, sample_weight: Any, penalty: Penalty) -> FitProblem:
        """The losses of ``LogisticRegression.fit`` on Dask arrays (their chunks persisted on
        the workers); sets ``est``'s ``n_features_in_``, ``classes_``, ``offset_`` and ``scale_``."""
        X, y, weights = self._aligned(X, y, sample_weight)
        est.__dict__.pop("feature_names_in_", None)
        est.n_features_in_ = X.shape[1]
        est._set_classes(distinct_values(y))  # checks there are 2 or more
        n_classes = len(est.classes_)
        codes = y.map_blocks(partial(np.searchsorted, est.classes_), dtype=np.intp)
        offset, scale = fit_scaling(X, est.scaling)
        active, offset, scale, counts, bad_weight = compute_all(
            (X != offset).any(axis=0), offset, scale, weights_per_class(codes, weights, n_classes),
            ((weights < 0) | ~np.isfinite(weights)).any())
        if bad_weight:
            raise ValueError("sample_weight must be finite and non-negative")
        if not counts.sum() > 0:
            raise ValueError("sample_weight: every weight is zero; at least one must be positive")
        est.offset_, est.scale_ = np.asarray(offset, dtype=np.float64), np.asarray(scale, dtype=np.float64)
        if est.class_weight is not None:
            per_class = class_weights_from_counts(est.class_weight, est.classes_, counts)
            weights = weights * codes.map_blocks(per_class.take, dtype=np.float64)
        active = np.flatnonzero(active)
        losses = chunked_losses(
            X, codes, weights, active=active, offset=est.offset_[active], scale=est.scale_[active],
            dtype=est.dtype, penalty=penalty, fit_intercept=est.fit_intercept, n_classes=n_classes,
            one_vs_rest=est.multiclass == "ovr")
        return FitProblem(active, losses, None, 1.0)

    @staticmethod
    def _aligned(X: Any, y: Any, sample_weight: Any) -> tuple[Any, Any, Any]:
        X = rows_chunked(X)
        if X.dtype not in ACCEPTED_DTYPES:
            raise ValueError(f"X: expected dtype uint8, float32 or float64, found {X.dtype}")
        y = row_aligned(y, X.chunks[0], "y")
        weights = row_aligned(np.ones(X.shape[0]) if sample_weight is None else sample_weight, X.chunks[0],
                              "sample_weight")
        return X, y, weights

    def fit_sgd(self, est: Any, X: Any, y: Any, classes: Any, sample_weight: Any, epochs: int,
                reset: bool) -> Any:
        """``SGDLogisticRegression``'s epochs over a Dask array's chunks, one after another where
        each chunk is (:func:`sgd_epochs`); sets ``est``'s fitted attributes."""
        X, y, weights = self._aligned(X, y, sample_weight)
        if not reset and X.shape[1] != est.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(est).__name__} is expecting "
                             f"{est.n_features_in_} features as input")
        labels, bad_weight, n_positive = compute_all(
            distinct_values(y, lazy=True), ((weights < 0) | ~np.isfinite(weights)).any(), (weights > 0).sum())
        if bad_weight:
            raise ValueError("sample_weight must be finite and non-negative")
        if not n_positive:
            raise ValueError("sample_weight: every weight is zero; at least one must be positive")
        if reset:
            est.__dict__.pop("feature_names_in_", None)
            est.n_features_in_ = X.shape[1]
        est._start(X, labels, classes, reset)
        if reset:
            offset, scale = compute_all(est.offset_, est.scale_)  # lazy for scaling="standard"
            est.offset_, est.scale_ = np.asarray(offset, dtype=np.float64), np.asarray(scale, dtype=np.float64)
        est._check_labels(labels)
        batch_size = est._batch_size(int(n_positive))
        K = len(est.classes_)
        codes = y.map_blocks(partial(np.searchsorted, est.classes_), dtype=np.intp)
        settings = SGDSettings(
            n_classes=K, fit_intercept=est.fit_intercept, dtype=est.dtype, alpha=float(est.alpha),
            batch_size=batch_size, eta0=float(est.eta0), power_t=float(est.power_t),
            steps_per_epoch=max(1, math.ceil(int(n_positive) / batch_size)), offset=est.offset_, scale=est.scale_)
        p = X.shape[1] + int(est.fit_intercept)
        theta = np.zeros((p, 1 if K == 2 else K), dtype=est.dtype) if reset else est.theta_.astype(est.dtype)
        t0 = time.perf_counter()
        avg, last, est.t_ = sgd_epochs(X, codes, weights, theta, est.t_, est._rng, epochs, settings,
                                       callback=est.callback)
        est.fit_time_ = time.perf_counter() - t0
        est._set_fitted(avg, last, X.shape[1], epochs, reset)
        return est
