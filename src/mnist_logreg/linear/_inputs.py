"""What the estimators accept, and the preprocessing and class weights every backend shares."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = ["ACCEPTED_DTYPES", "SCALINGS", "SPARSE_FORMATS", "class_weights_from_counts", "fit_scaling"]

#: the dtypes of ``X`` fitted without a copy to float (uint8 pixels stay 1 byte each)
ACCEPTED_DTYPES = [np.float64, np.float32, np.uint8]
#: the scipy sparse formats fitted as they are (never densified)
SPARSE_FORMATS = ["csr", "csc"]
#: the estimators' ``scaling`` values
SCALINGS = ("auto", "pixels", "standard", None)


def fit_scaling(X: Any, scaling: str | None) -> tuple[Any, Any]:
    """Offset and scale per feature so that the model sees ``(X - offset) * scale``.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        numpy, scipy sparse or Dask (then the offset and scale are lazy for "standard").
    scaling : {"auto", "pixels", "standard", None}
        "auto": "pixels" for uint8 ``X``, else None; "pixels": ``x / 255``; "standard": centre
        and scale by the mean and standard deviation (a column constant up to rounding is
        centred, not scaled, as scikit-learn's ``StandardScaler``); None: as it is.

    Returns
    -------
    offset, scale : arrays of shape (n_features,)
    """
    d = X.shape[1]
    if scaling == "auto":
        scaling = "pixels" if X.dtype == np.uint8 else None
    if scaling is None:
        return np.zeros(d), np.ones(d)
    if scaling == "pixels":
        return np.zeros(d), np.full(d, 1.0 / 255.0)
    if scaling == "standard":
        if sp.issparse(X):
            raise ValueError("scaling='standard' would densify sparse X (it centres the columns); "
                             "use scaling=None or 'pixels' for sparse input")
        mean = X.mean(axis=0, dtype=np.float64)
        var = X.var(axis=0, dtype=np.float64)
        # scikit-learn's test for a feature constant up to rounding (StandardScaler)
        eps = np.finfo(np.float64).eps
        n = X.shape[0]
        constant = var <= n * eps * var + (n * mean * eps) ** 2
        return mean, 1.0 / np.where(constant, 1.0, np.sqrt(var))
    raise ValueError(f"scaling must be 'auto', 'pixels', 'standard' or None, got {scaling!r}")


def class_weights_from_counts(class_weight: Any, classes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per-class weights from the weighted count of each class (scikit-learn's rules).

    Parameters
    ----------
    class_weight : "balanced" or dict
        "balanced": ``n / (K * count)``; a dict: the weight of each label named, 1 for the others.
    classes : array of shape (K,)
    counts : array of shape (K,)
        The (weighted) number of rows of each class.

    Returns
    -------
    array of shape (K,)
    """
    if class_weight == "balanced":
        with np.errstate(divide="ignore"):
            return np.asarray(counts.sum() / (len(classes) * counts))
    out = np.ones(len(classes))
    for label, weight in class_weight.items():
        where = np.flatnonzero(classes == label)
        if where.size == 0:
            raise ValueError(f"class_weight: label {label!r} is not among the classes {classes.tolist()}")
        out[where[0]] = weight
    return out
