"""Convolutional patch features: a dictionary of k-means patch filters, rectified, pooled.

The single-layer unsupervised features of Coates, Lee and Ng (2011): every ``p x p`` patch of an
image is contrast-normalised and whitened, compared with ``K`` filters (k-means centroids of
whitened training patches), each response split into its positive and negative parts above a
threshold, and the ``2K`` response maps summed over a ``g x g`` grid of regions. A square root
(``power=0.5``) tames the sums. With a logistic regression on top this is still a convex,
reproducible model, and on deskewed MNIST it passes 99% test accuracy.

The transform runs over row blocks small enough to stay in cache, in threads (numpy releases the
GIL), and writes straight into one float32 output: nothing of size ``n x positions x K`` is held.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Self

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.cluster import MiniBatchKMeans
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from ._images import as_images, image_shape_for

__all__ = ["PatchFeatures"]

_BLOCK_ROWS = 32


def _pool_edges(size: int, cells: int) -> NDArray[np.int_]:
    return np.linspace(0, size, cells + 1).round().astype(int)


class PatchFeatures(TransformerMixin, BaseEstimator):
    """k-means patch filters, rectified in both signs and sum-pooled on a grid (transformer).

    Parameters
    ----------
    n_filters : int
        Number of filters ``K`` (k-means centroids); the output has ``2 K g^2`` columns.
    patch_size : int
        Side ``p`` of the square patches (clipped to the image).
    pool_grid : int
        Regions per side ``g`` over which responses are summed.
    threshold : float
        Responses below it (in whitened units) are set to 0.
    power : float
        Pooled sums are raised to this power (0.5: square root; 1: as they are).
    n_patches : int
        Training patches sampled for whitening and k-means.
    whitening : float
        Regulariser added to the patch covariance's eigenvalues before whitening.
    contrast : float
        Regulariser of the patch contrast normalisation, relative to the squared pixel range.
    image_shape : tuple of int or None
        ``(height, width)`` of the rows of ``X``; None infers a square.
    n_jobs : int or None
        Threads for ``transform``; None uses every core.
    random_state : int or None
        Seed of the patch sample and k-means.

    Attributes
    ----------
    scale_ : float
        ``1 / max(X)`` of the training data: pixels are put on [0, 1] first.
    filters_ : ndarray (p * p, K)
        Whitening and centroids folded into one matrix, applied to normalised patches.
    offsets_ : ndarray (K,)
        The matching constant term.
    image_shape_, n_features_in_
    """

    def __init__(
        self,
        n_filters: int = 64,
        *,
        patch_size: int = 5,
        pool_grid: int = 3,
        threshold: float = 0.25,
        power: float = 0.5,
        n_patches: int = 20000,
        whitening: float = 0.1,
        contrast: float = 0.01,
        image_shape: tuple[int, int] | None = None,
        n_jobs: int | None = None,
        random_state: int | None = 0,
    ) -> None:
        self.n_filters = n_filters
        self.patch_size = patch_size
        self.pool_grid = pool_grid
        self.threshold = threshold
        self.power = power
        self.n_patches = n_patches
        self.whitening = whitening
        self.contrast = contrast
        self.image_shape = image_shape
        self.n_jobs = n_jobs
        self.random_state = random_state

    # -- geometry

    def _geometry(self) -> tuple[int, int, int, int, int, int]:
        h, w = self.image_shape_
        ph, pw = min(self.patch_size, h), min(self.patch_size, w)
        oh, ow = h - ph + 1, w - pw + 1
        gh, gw = min(self.pool_grid, oh), min(self.pool_grid, ow)
        return ph, pw, oh, ow, gh, gw

    def _patches(self, imgs: NDArray[np.float32]) -> NDArray[np.float32]:
        ph, pw, *_ = self._geometry()
        P = sliding_window_view(imgs, (ph, pw), axis=(1, 2)).reshape(-1, ph * pw)
        # the reshape copies except when one patch covers the image: then it is a read-only view
        return P if P.flags.writeable else P.copy()

    def _normalise(self, P: NDArray[np.float32]) -> NDArray[np.float32]:
        """Contrast-normalise patches (rows) in place: zero mean, unit norm-ish."""
        mean = P.mean(axis=1, keepdims=True)
        P -= mean
        var = np.einsum("ij,ij->i", P, P)[:, None] / P.shape[1]
        P *= 1.0 / np.sqrt(var + np.float32(self.contrast))
        return P

    def _check_params(self) -> None:
        for name in ("n_filters", "patch_size", "pool_grid", "n_patches"):
            v = getattr(self, name)
            if not (isinstance(v, int | np.integer) and not isinstance(v, bool) and v >= 1):
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        for name in ("power", "whitening", "contrast"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive number, got {v!r}")
        for name in ("whitening", "contrast"):  # added to float32 variances: below 1e-6 they vanish
            v = getattr(self, name)
            if not 1e-6 <= v <= 1e6:
                raise ValueError(f"{name} must be from 1e-06 to 1e+06 (it regularises a float32 variance), got {v!r}")
        if not (isinstance(self.threshold, int | float) and math.isfinite(self.threshold)):
            raise ValueError(f"threshold must be a finite number, got {self.threshold!r}")

    def fit(self, X: Any, y: object = None) -> Self:
        """Learn the whitening and the k-means filters from patches of the rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels)
            Flattened images (uint8, float32 or float64): square, unless ``image_shape`` is given.
        y : ignored
            Present for scikit-learn's API.

        Returns
        -------
        self
        """
        self._check_params()
        X = validate_data(self, X, dtype=[np.float32, np.float64, np.uint8])
        self.image_shape_ = image_shape_for(X.shape[1], self.image_shape)
        top = float(np.max(np.abs(X))) if X.size else 0.0
        self.scale_ = 1.0 / top if top > 0 else 1.0
        rng = check_random_state(self.random_state)
        ph, pw, oh, ow, *_ = self._geometry()
        n_sample = max(1, self.n_patches)
        rows = rng.randint(0, len(X), n_sample)
        pos_r = rng.randint(0, oh, n_sample)
        pos_c = rng.randint(0, ow, n_sample)
        imgs = as_images(X, self.image_shape_)
        P = np.stack([imgs[i, r : r + ph, c : c + pw].ravel() for i, r, c in zip(rows, pos_r, pos_c, strict=True)])
        P = self._normalise(P.astype(np.float32) * np.float32(self.scale_))
        mean = P.mean(axis=0, dtype=np.float64)
        cov = np.cov(P, rowvar=False, dtype=np.float64).reshape(P.shape[1], P.shape[1])
        lam, U = np.linalg.eigh(cov)
        whiten = (U / np.sqrt(np.clip(lam, 0, None) + self.whitening)) @ U.T
        Z = (P - mean) @ whiten
        k = min(self.n_filters, len(np.unique(Z.round(6), axis=0)))
        km = MiniBatchKMeans(k, random_state=rng.randint(2**31 - 1), n_init=1, batch_size=4096).fit(Z)
        D = km.cluster_centers_
        D = D / np.maximum(np.linalg.norm(D, axis=1, keepdims=True), 1e-12)
        self.filters_: NDArray[np.float32] = (whiten @ D.T).astype(np.float32)
        self.offsets_: NDArray[np.float32] = (-(mean @ whiten) @ D.T).astype(np.float32)
        return self

    @property
    def n_features_out_(self) -> int:
        *_, gh, gw = self._geometry()
        return 2 * int(self.filters_.shape[1]) * gh * gw

    def transform(self, X: Any) -> NDArray[np.float32]:
        """Pooled rectified filter responses, float32 ``(n, 2 K g^2)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels)
            Images as in :meth:`fit`.

        Returns
        -------
        ndarray of float32, shape (n_samples, 2 K g^2)
            For ``K`` filters and ``g x g`` pooling cells.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float32, np.float64, np.uint8])
        imgs = as_images(X, self.image_shape_)
        out = np.empty((len(X), self.n_features_out_), dtype=np.float32)
        M = np.concatenate([self.filters_, -self.filters_], axis=1)
        t = np.float32(self.threshold)
        b = np.concatenate([self.offsets_ - t, -self.offsets_ - t]).astype(np.float32)
        _, _, oh, ow, gh, gw = self._geometry()
        er, ec = _pool_edges(oh, gh), _pool_edges(ow, gw)
        pool = np.zeros((gh * gw, oh * ow), dtype=np.float32)
        for i in range(gh):
            for j in range(gw):
                cell = np.zeros((oh, ow), dtype=np.float32)
                cell[er[i] : er[i + 1], ec[j] : ec[j + 1]] = 1
                pool[i * gw + j] = cell.ravel()
        scale = np.float32(self.scale_)

        def work(lo: int) -> None:
            block = imgs[lo : lo + _BLOCK_ROWS].astype(np.float32) * scale
            B = len(block)
            P = self._normalise(self._patches(block))
            R = P @ M
            R += b
            np.maximum(R, 0, out=R)
            pooled = np.matmul(pool, R.reshape(B, oh * ow, -1))  # (B, cells, 2K)
            # cell-major within each filter group: column = cell * 2K + filter
            res = pooled.reshape(B, -1)
            if self.power != 1:
                np.power(res, np.float32(self.power), out=res)
            out[lo : lo + B] = res

        n_jobs = self.n_jobs or os.cpu_count() or 1
        starts = range(0, len(X), _BLOCK_ROWS)
        if n_jobs == 1 or len(X) <= _BLOCK_ROWS:
            for lo in starts:
                work(lo)
        else:
            with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(n_jobs) as ex:
                list(ex.map(work, starts))
        return out

    def get_feature_names_out(self, input_features: object = None) -> NDArray[np.object_]:
        """Names ``patch{k}{+|-}_cell{c}`` in output order.

        Parameters
        ----------
        input_features : ignored
            Present for scikit-learn's API.

        Returns
        -------
        ndarray of str objects, shape (2 K g^2,)
        """
        check_is_fitted(self)
        K = self.filters_.shape[1]
        *_, gh, gw = self._geometry()
        names = [f"patch{k}{s}_cell{c}" for c in range(gh * gw) for s in "+-" for k in range(K)]
        return np.asarray(names, dtype=object)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
