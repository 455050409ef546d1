"""Metrics and cross-validation on top of ``sklearn.metrics`` and ``sklearn.model_selection``.

Everything returns plain Python data (dicts, lists, numpy arrays) ready for JSON and plots.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray
from sklearn.base import clone
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix
from sklearn.model_selection import StratifiedKFold

from .errors import OptionError

__all__ = ["confusion_examples", "correctly_classified", "cross_validate", "cross_validate_chunked", "evaluate",
           "learning_curve", "misclassified", "regularisation_path", "sweep_C_chunked", "top_confusions"]

_T = TypeVar("_T")


def evaluate(y_true: NDArray[Any], y_pred: NDArray[Any], class_names: Sequence[str],
             labels: Sequence[Any] | None = None) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1/support, confusion matrix and the text report.

    Parameters
    ----------
    y_true, y_pred : ndarray of shape (n_samples,)
        True and predicted labels.
    class_names : sequence of str
        A readable name per label, in the order of ``labels`` (``"0"``, or ``"not 2"``).
    labels : sequence or None, default None
        The labels the rows and columns stand for; None takes the sorted labels present in
        ``y_true`` or ``y_pred``.

    Returns
    -------
    dict
        ``accuracy``, ``n_samples``, ``per_class`` (per class name: precision, recall, f1-score,
        support), ``confusion_matrix`` (list of lists, rows true and columns predicted, in the
        order of ``labels``), ``labels``, ``class_names`` and ``report_text`` (scikit-learn's
        classification report).
    """
    labels = list(labels) if labels is not None else sorted(np.unique(np.concatenate([y_true, y_pred])))
    names = [str(c) for c in class_names]
    report = classification_report(y_true, y_pred, labels=labels, target_names=names, digits=4,
                                   output_dict=True, zero_division=0)
    text = classification_report(y_true, y_pred, labels=labels, target_names=names, digits=4,
                                 zero_division=0)
    per_class = {name: {k: float(v) for k, v in report[name].items()} for name in names}
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "n_samples": len(y_true),
        "per_class": per_class,
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "labels": [int(v) for v in labels],
        "class_names": names,
        "report_text": text,
    }


def _quiet_clone(estimator: Any, **params: Any) -> Any:
    """A clone of ``estimator`` with no callback and no verbose output, and ``params`` set; for a
    scikit-learn Pipeline (a feature map before the classifier) they go to its last step."""
    model = clone(estimator)
    prefix = f"{model.steps[-1][0]}__" if hasattr(model, "steps") else ""
    known = model.get_params()
    wanted = {"callback": None, "verbose": 0, **params}
    return model.set_params(**{prefix + k: v for k, v in wanted.items() if prefix + k in known or k in params})


def cross_validate(estimator: Any, X: NDArray[Any], y: NDArray[Any], k: int = 5, *, random_state: int = 0,
                   n_jobs: int = 2, on_fold: Callable[[int, float], None] | None = None) -> dict[str, Any]:
    """Stratified k-fold accuracy of ``estimator`` on ``X, y``, folds fitted in parallel threads.

    The solvers spend their time in BLAS, which releases the GIL, so threads run folds in
    parallel without copying the data. ``on_fold(i, score)`` is called for each fold in order
    (fold 2 is reported once folds 1 and 2 have finished).

    Parameters
    ----------
    estimator : estimator
        Cloned for each fold (without callback or verbose output); not fitted itself.
    X : ndarray of shape (n_samples, n_features)
        The data.
    y : ndarray of shape (n_samples,)
        Its labels; the folds keep their proportions.
    k : int, default 5
        Folds, at least 2 (an ``OptionError`` otherwise).
    random_state : int, default 0
        Seed of the fold assignment.
    n_jobs : int, default 2
        Folds fitted at once (threads; BLAS runs single-threaded when there are several).
    on_fold : callable or None, default None
        ``on_fold(i, score)`` for fold ``i`` (from 0) with its accuracy, in fold order.

    Returns
    -------
    dict
        ``k``, ``scores`` (each fold's accuracy, in order), ``mean`` and ``std`` of the scores.
    """
    if not (isinstance(k, int) and k >= 2):
        raise OptionError(f"cross-validation needs k >= 2 folds, got {k!r}")
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from threadpoolctl import threadpool_limits

    folds = list(StratifiedKFold(n_splits=k, shuffle=True, random_state=random_state).split(X, y))

    def run(i: int) -> tuple[int, float]:
        train, test = folds[i]
        model = _quiet_clone(estimator)
        model.fit(X[train], y[train])
        return i, float(model.score(X[test], y[test]))

    scores: list[Any] = [None] * k  # a fold's score, None until it ends
    reported = 0
    workers = max(1, min(n_jobs, k))
    with threadpool_limits(limits=1 if workers > 1 else None), ThreadPoolExecutor(workers) as pool:
        for fut in as_completed([pool.submit(run, i) for i in range(k)]):
            i, score = fut.result()
            scores[i] = score
            while reported < k and scores[reported] is not None:  # in fold order
                if on_fold is not None:
                    on_fold(reported, scores[reported])
                reported += 1
    return {"k": k, "scores": scores, "mean": float(np.mean(scores)), "std": float(np.std(scores))}


def _in_order(results: list[Future[_T]], on_result: Callable[[int, _T], None] | None) -> list[_T]:
    """The results of concurrent futures, in submission order; ``on_result(i, value)`` is told
    each one in that order as soon as it and all before it have finished."""
    from concurrent.futures import as_completed

    index = {fut: i for i, fut in enumerate(results)}
    values: list[Any] = [None] * len(results)
    done = [False] * len(results)
    reported = 0
    for fut in as_completed(results):
        i = index[fut]
        values[i], done[i] = fut.result(), True
        while reported < len(results) and done[reported]:
            if on_result is not None:
                on_result(reported, values[reported])
            reported += 1
    return values


def cross_validate_chunked(estimator: Any, X: Any, y: Any, k: int = 5, *, groups: Any = None,
                           on_fold: Callable[[int, float], None] | None = None) -> dict[str, Any]:
    """k-fold accuracy of ``estimator`` on Dask arrays, the folds fitted concurrently on the cluster.

    No data moves: fold ``f`` fits on all the chunks with the rows it holds out weighted 0
    (``held_out``: the rows whose group id ``g`` has ``g % k == f``, so that the copies of a
    digit share its fold), and is scored on those rows where they are. Each fold's fit
    builds and persists its own per-chunk losses, so ``k`` folds need ``k`` times the memory of
    one fit.

    Parameters
    ----------
    estimator : LogisticRegression
        Cloned for each fold.
    X, y : dask arrays
        Chunked along rows.
    k : int
        Number of folds (at least 2).
    groups : dask array of int, optional
        One group id per row (chunked as ``X``): the copies of a digit share one. By default
        every row is its own group.
    on_fold : callable, optional
        ``on_fold(i, score)`` for each fold, in order.

    Returns
    -------
    dict
        ``k``, ``scores`` (per fold), ``mean``, ``std``.
    """
    from concurrent.futures import ThreadPoolExecutor

    from ._chunks import held_out, row_aligned, row_groups, rows_chunked

    if not (isinstance(k, int) and k >= 2):
        raise OptionError(f"cross-validation needs k >= 2 folds, got {k!r}")
    X = rows_chunked(X)
    groups = (row_groups(X.chunks[0]) if groups is None else row_aligned(groups, X.chunks[0], "groups")).persist()

    def run(fold: int) -> float:
        model = _quiet_clone(estimator)
        model.fit(X, y, sample_weight=held_out(groups, k, fold, weight_of_held_out=0.0, weight_of_others=1.0))
        return float(model.score(X, y, sample_weight=held_out(groups, k, fold)))

    with ThreadPoolExecutor(k) as pool:  # the client's threads wait; the workers compute
        scores = _in_order([pool.submit(run, f) for f in range(k)], on_fold)
    return {"k": k, "scores": scores, "mean": float(np.mean(scores)), "std": float(np.std(scores))}


def sweep_C_chunked(estimator: Any, X: Any, y: Any, Cs: Sequence[float], *, groups: Any = None,
                    eval_sets: dict[str, tuple[Any, Any]] | None = None,
                    on_step: Callable[[int, dict[str, Any]], None] | None = None
                    ) -> tuple[list[dict[str, Any]], list[NDArray[Any]]]:
    """Fit ``estimator`` at each ``C`` on Dask arrays, all concurrently on the cluster, 10% of
    the rows held out (weighted 0; the copies of a digit together, as in
    :func:`cross_validate_chunked`) to choose among them.

    Parameters
    ----------
    estimator : LogisticRegression
        Cloned for each ``C``; its other parameters are kept.
    X : dask.array.Array of shape (n_samples, n_features)
        The data, chunked along rows (rechunked so where it is not).
    y : array-like of shape (n_samples,)
        Its labels (numpy or Dask).
    Cs : sequence of float
        The values of ``C``; fitted concurrently, reported in increasing order.
    groups : array-like of shape (n_samples,) or None, default None
        A group id per row: rows of one group fall on the same side (an augmented store's
        copies of a digit); None puts each row in its own group.
    eval_sets : dict of name -> (X, y), optional
        Accuracy on each is recorded per ``C`` as ``<name>_accuracy``.
    on_step : callable or None, default None
        Called with ``(index, row)`` for each ``C``, in increasing order.

    Returns
    -------
    rows, coefs
        As :func:`regularisation_path` (``train_accuracy`` on the 90%, ``validation_accuracy``
        on the 10%, and each of ``eval_sets``), in increasing ``C``. The fits are not
        warm-started: they run side by side.
    """
    from concurrent.futures import ThreadPoolExecutor

    from ._chunks import held_out, row_aligned, row_groups, rows_chunked

    X = rows_chunked(X)
    groups = (row_groups(X.chunks[0]) if groups is None else row_aligned(groups, X.chunks[0], "groups")).persist()
    Cs = sorted(float(C) for C in Cs)

    def run(C: float) -> tuple[dict[str, Any], NDArray[Any]]:
        fit_w = held_out(groups, 10, 0, weight_of_held_out=0.0, weight_of_others=1.0)
        val_w = held_out(groups, 10, 0)
        model = _quiet_clone(estimator, C=C)
        model.fit(X, y, sample_weight=fit_w)
        row = {"C": C, "train_accuracy": float(model.score(X, y, sample_weight=fit_w)),
               "validation_accuracy": float(model.score(X, y, sample_weight=val_w)),
               **{f"{name}_accuracy": float(model.score(Xe, ye)) for name, (Xe, ye) in (eval_sets or {}).items()},
               "n_iter": int(np.max(model.n_iter_)), "fit_time_s": float(model.fit_time_),
               "penalty": model.get_params().get("penalty", "l2"),
               "zero_fraction": float(np.mean(model.coef_ == 0)), "converged": bool(model.converged_)}
        return row, np.array(model.coef_, copy=True)

    with ThreadPoolExecutor(len(Cs)) as pool:
        results = _in_order([pool.submit(run, C) for C in Cs],
                            None if on_step is None else lambda i, result: on_step(i, result[0]))
    return [r for r, _ in results], [c for _, c in results]


def misclassified(y_true: NDArray[Any], y_pred: NDArray[Any], proba: NDArray[Any], limit: int = 40) -> dict[str, Any]:
    """Indices of wrongly classified rows, most confident mistakes first, with their confidence.

    Parameters
    ----------
    y_true, y_pred : ndarray of shape (n_samples,)
        True and predicted labels.
    proba : ndarray of shape (n_samples, n_classes)
        Predicted probabilities; a row's confidence is its largest.
    limit : int, default 40
        The most rows returned.

    Returns
    -------
    dict
        ``index`` (rows, at most ``limit``), ``true``, ``pred`` and ``confidence`` (arrays of the
        same length), the most confident mistakes first.
    """
    wrong = np.flatnonzero(y_true != y_pred)
    conf = proba.max(axis=1)[wrong]
    order = wrong[np.argsort(-conf, kind="stable")][:limit]
    return {"index": order, "true": y_true[order], "pred": y_pred[order], "confidence": proba.max(axis=1)[order]}


def correctly_classified(y_true: NDArray[Any], y_pred: NDArray[Any], proba: NDArray[Any], limit: int = 20,
                         seed: int = 0) -> dict[str, Any]:
    """A random sample of correctly classified rows with their predicted labels and confidence.

    Parameters
    ----------
    y_true, y_pred : ndarray of shape (n_samples,)
        True and predicted labels.
    proba : ndarray of shape (n_samples, n_classes)
        Predicted probabilities; a row's confidence is its largest.
    limit : int, default 20
        The most rows returned.
    seed : int, default 0
        Seed of the sample.

    Returns
    -------
    dict
        ``index`` (rows, at most ``limit``, increasing), ``true``, ``pred`` and ``confidence``
        (arrays of the same length).
    """
    right = np.flatnonzero(y_true == y_pred)
    pick = np.sort(np.random.default_rng(seed).choice(right, min(limit, len(right)), replace=False))
    return {"index": pick, "true": y_true[pick], "pred": y_pred[pick], "confidence": proba.max(axis=1)[pick]}


def regularisation_path(model: Any, X_train: NDArray[Any], y_train: NDArray[Any], Cs: Sequence[float],
                        eval_sets: dict[str, tuple[NDArray[Any], NDArray[Any]]] | None = None,
                        on_step: Callable[[int, dict[str, Any]], None] | None = None
                        ) -> tuple[list[dict[str, Any]], list[NDArray[Any]]]:
    """Fit ``model`` (a LogisticRegression) at each ``C``, smallest first, each fit warm-started.

    Parameters
    ----------
    model : LogisticRegression
        Cloned; its other parameters (penalty, tol...) are kept.
    X_train, y_train : arrays
        The data the path is fitted on.
    Cs : sequence of float
        Penalty strengths; fitted in increasing order (strongest penalty first).
    eval_sets : dict of name -> (X, y), optional
        Accuracy on each is recorded per C (``"train"`` is always included).
    on_step : callable, optional
        Called with ``(index, row)`` after each fit.

    Returns
    -------
    rows : list of dict
        Per C: ``C``, ``<name>_accuracy`` for each set, ``n_iter``, ``fit_time_s``,
        ``penalty``, ``zero_fraction`` (share of coefficients exactly 0; with L2 only those of
        features that are constant in training), ``converged``.
    coefs : list of ndarray
        ``coef_`` at each C (a copy), in the same order.
    """
    Cs = sorted(float(C) for C in Cs)
    sets = {"train": (X_train, y_train), **(eval_sets or {})}
    path_model = clone(model).set_params(warm_start=True)
    rows: list[dict[str, Any]] = []
    coefs: list[NDArray[Any]] = []
    for i, C in enumerate(Cs):
        path_model.set_params(C=C).fit(X_train, y_train)
        row = {"C": C, **{f"{name}_accuracy": float(path_model.score(X, y)) for name, (X, y) in sets.items()},
               "n_iter": int(np.max(path_model.n_iter_)), "fit_time_s": float(path_model.fit_time_),
               "penalty": path_model.get_params().get("penalty", "l2"),
               "zero_fraction": float(np.mean(path_model.coef_ == 0)),
               "converged": bool(path_model.converged_)}
        rows.append(row)
        coefs.append(np.array(path_model.coef_, copy=True))
        if on_step is not None:
            on_step(i, row)
    return rows, coefs


def top_confusions(cm: Sequence[Sequence[int]], k: int = 5) -> list[tuple[int, int, int]]:
    """The ``k`` largest off-diagonal cells of a confusion matrix, largest first (ties in
    row-major order): ``(true index, predicted index, count)``, counts above 0 only.

    Parameters
    ----------
    cm : sequence of sequences of int
        A confusion matrix, rows true and columns predicted.
    k : int, default 5
        The most cells returned.

    Returns
    -------
    list of (int, int, int)
        ``(true index, predicted index, count)`` per cell, at most ``k``.
    """
    cells = [(i, j, int(cm[i][j])) for i in range(len(cm)) for j in range(len(cm[i])) if i != j and cm[i][j] > 0]
    return sorted(cells, key=lambda c: -c[2])[:k]


def confusion_examples(y_true: NDArray[Any], y_pred: NDArray[Any], proba: NDArray[Any], labels: Sequence[Any],
                       k: int = 5, per_confusion: int = 8) -> list[dict[str, Any]]:
    """Example digits of each of the ``k`` top confusions, the most confident mistakes first.

    Parameters
    ----------
    y_true, y_pred : ndarray of shape (n_samples,)
        True and predicted labels.
    proba : ndarray of shape (n_samples, n_classes)
        Predicted probabilities; a row's confidence is its largest.
    labels : sequence
        The labels, in the order of the confusion matrix's rows and columns.
    k : int, default 5
        The confusions shown (see :func:`top_confusions`).
    per_confusion : int, default 8
        The most examples per confusion.

    Returns
    -------
    list of dict
        Per confusion, as :func:`top_confusions` ranks them: ``true`` and ``pred`` (labels),
        ``count``, and ``index`` (rows of the test set, at most ``per_confusion``).
    """
    labels = list(labels)
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    confidence = proba.max(axis=1)
    out = []
    for i, j, count in top_confusions(cm, k):
        rows = np.flatnonzero((y_true == labels[i]) & (y_pred == labels[j]))
        rows = rows[np.argsort(-confidence[rows], kind="stable")][:per_confusion]
        out.append({"true": labels[i], "pred": labels[j], "count": count, "index": rows})
    return out


def learning_curve(model: Any, X_train: NDArray[Any], y_train: NDArray[Any], X_test: NDArray[Any],
                   y_test: NDArray[Any], sizes: Sequence[int], *, max_scored: int = 10000,
                   on_step: Callable[[int, dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Accuracy against the number of training digits: ``model`` fitted on the first ``n``
    rows for each ``n`` of ``sizes``, smallest first, each fit warm-started from the previous
    one (where the model has ``warm_start``).

    Parameters
    ----------
    model : estimator
        Cloned; its parameters are kept.
    X_train, y_train : arrays
        Already shuffled: the first ``n`` rows are a random sample.
    X_test, y_test : arrays
        Scored after every fit.
    sizes : sequence of int
        Training-set sizes; those with fewer classes than ``y_train`` are skipped.
    max_scored : int
        Train accuracy is measured on at most this many of the ``n`` rows.
    on_step : callable, optional
        Called with ``(index, row)`` after each fit.

    Returns
    -------
    list of dict
        Per size: ``n``, ``train_accuracy``, ``test_accuracy``, ``fit_time_s``.
    """
    curve_model = clone(model)
    if "warm_start" in curve_model.get_params():
        curve_model.set_params(warm_start=True)
    n_classes = len(np.unique(y_train))
    rows = []
    for n in sorted({int(n) for n in sizes if 0 < n <= len(y_train)}):
        if len(np.unique(y_train[:n])) < n_classes:
            continue
        t0 = time.perf_counter()
        curve_model.fit(X_train[:n], y_train[:n])
        scored = min(n, max_scored)
        row = {"n": n, "train_accuracy": float(curve_model.score(X_train[:scored], y_train[:scored])),
               "test_accuracy": float(curve_model.score(X_test, y_test)), "fit_time_s": time.perf_counter() - t0}
        rows.append(row)
        if on_step is not None:
            on_step(len(rows) - 1, row)
    return rows
