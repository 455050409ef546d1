"""Feature maps on Dask arrays: fitted on a sample, applied chunk by chunk where the chunks are.

The features of a large training set are never made in one place: each worker transforms its own
chunks of pixels (``map_blocks``), and the linear model's Dask fit persists them there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._chunks import map_rows, rows_chunked

__all__ = ["SAMPLE_ROWS", "fit_on_sample", "transform_chunks"]

#: rows the feature map is fitted on (PCA and k-means need a sample, not all of the data)
SAMPLE_ROWS = 20_000


def fit_on_sample(feature_map: Any, X: Any, y: Any = None, rows: int = SAMPLE_ROWS) -> Any:
    """Fit ``feature_map`` on ``rows`` rows of the Dask array ``X`` spread evenly over it.

    Parameters
    ----------
    feature_map : scikit-learn transformer
    X : dask.array.Array of shape (n_samples, n_features)
    y : dask.array.Array of shape (n_samples,), optional
    rows : int
        Size of the sample brought to this process.

    Returns
    -------
    feature_map
        Fitted.
    """
    n = X.shape[0]
    picked = np.unique(np.linspace(0, n - 1, min(rows, n)).astype(np.int64))
    sample = np.asarray(X[picked].compute())
    labels = None if y is None else np.asarray(y[picked].compute())
    return feature_map.fit(sample, labels)


def transform_chunks(feature_map: Any, X: Any) -> Any:
    """``feature_map.transform`` of each chunk of rows of the Dask array ``X`` (lazy).

    Parameters
    ----------
    feature_map : transformer
        A fitted feature map (a step or a Pipeline of them); it is called once on a row of zeros
        to learn its output's width and dtype.
    X : dask.array.Array of shape (n_samples, n_features)
        The rows, chunked along rows (rechunked so where it is not).

    Returns
    -------
    dask.array.Array of shape (n_samples, n_features_out)
    """
    X = rows_chunked(X)
    probe = feature_map.transform(np.zeros((1, X.shape[1]), dtype=X.dtype))
    return map_rows(X, feature_map.transform, probe.shape[1], probe.dtype)
