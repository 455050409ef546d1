"""Metrics and cross-validation on top of ``sklearn.metrics`` and ``sklearn.model_selection``.

Everything returns plain Python data (dicts, lists, numpy arrays) ready for JSON and plots.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from sklearn.base import clone
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix
from sklearn.model_selection import StratifiedKFold

__all__ = ["correctly_classified", "cross_validate", "evaluate", "misclassified", "regularisation_path"]


def evaluate(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str],
             labels: Sequence | None = None) -> dict:
    """Accuracy, per-class precision/recall/F1/support, confusion matrix and the text report."""
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


def cross_validate(estimator, X: np.ndarray, y: np.ndarray, k: int = 5, *, random_state: int = 0,
                   n_jobs: int = 2, on_fold: Callable[[int, float], None] | None = None) -> dict:
    """Stratified k-fold accuracy of ``estimator`` on ``X, y``, folds fitted in parallel threads.

    The solvers spend their time in BLAS, which releases the GIL, so threads run folds in
    parallel without copying the data. ``on_fold(i, score)`` is called for each fold in order
    (fold 2 is reported once folds 1 and 2 have finished).
    """
    if not (isinstance(k, int) and k >= 2):
        raise ValueError(f"cross-validation needs k >= 2 folds, got {k!r}")
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from threadpoolctl import threadpool_limits

    folds = list(StratifiedKFold(n_splits=k, shuffle=True, random_state=random_state).split(X, y))

    def run(i):
        train, test = folds[i]
        model = clone(estimator).set_params(callback=None, verbose=0)
        model.fit(X[train], y[train])
        return i, float(model.score(X[test], y[test]))

    scores: list[float | None] = [None] * k
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


def misclassified(y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray, limit: int = 40) -> dict:
    """Indices of wrongly classified rows, most confident mistakes first, with their confidence."""
    wrong = np.flatnonzero(y_true != y_pred)
    conf = proba.max(axis=1)[wrong]
    order = wrong[np.argsort(-conf, kind="stable")][:limit]
    return {"index": order, "true": y_true[order], "pred": y_pred[order], "confidence": proba.max(axis=1)[order]}


def correctly_classified(y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray, limit: int = 20,
                         seed: int = 0) -> dict:
    """A random sample of correctly classified rows with their predicted labels and confidence."""
    right = np.flatnonzero(y_true == y_pred)
    pick = np.sort(np.random.default_rng(seed).choice(right, min(limit, len(right)), replace=False))
    return {"index": pick, "true": y_true[pick], "pred": y_pred[pick], "confidence": proba.max(axis=1)[pick]}


def regularisation_path(model, X_train: np.ndarray, y_train: np.ndarray, Cs: Sequence[float],
                        eval_sets: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
                        on_step: Callable[[int, dict], None] | None = None) -> tuple[list[dict], list[np.ndarray]]:
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
    rows, coefs = [], []
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
