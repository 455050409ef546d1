"""Deskewing: straighten each digit by the shear that removes its slant (image moments).

For an image with centre of mass ``(cy, cx)``, row variance ``var_y`` and covariance ``cov_xy``,
the slant is ``a = cov_xy / var_y``; the deskewed image samples the original at
``(r + cy - cr, c + a (r - cr) + cx - cc)`` (bilinear, zero outside), so it is unslanted and its
centre of mass moves to the centre ``(cr, cc)`` of the frame. This is the classic preprocessing
that takes linear models on MNIST from about 92% to about 96%.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ._images import as_images, image_shape_for

__all__ = ["Deskew", "deskew_images"]

_BLOCK = 4096


def _shear_params(imgs: NDArray[Any]) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Centre of mass (rows, columns) and slant ``cov_xy / var_y`` per image."""
    _, h, w = imgs.shape
    r = np.arange(h, dtype=np.float64)
    c = np.arange(w, dtype=np.float64)
    mass = imgs.sum(axis=(1, 2), dtype=np.float64)
    safe = np.where(mass > 0, mass, 1.0)
    rows = imgs.sum(axis=2, dtype=np.float64)
    cy = rows @ r / safe
    cx = imgs.sum(axis=1, dtype=np.float64) @ c / safe
    var_y = rows @ (r * r) / safe - cy * cy
    cov = (imgs.astype(np.float64) @ c) @ r / safe - cy * cx
    slant = np.where((mass > 0) & (var_y > 1e-6), cov / np.where(var_y > 1e-6, var_y, 1.0), 0.0)
    centre = (np.where(mass > 0, cy, (h - 1) / 2), np.where(mass > 0, cx, (w - 1) / 2))
    return centre[0], centre[1], slant


def deskew_images(imgs: npt.ArrayLike) -> NDArray[np.float32]:
    """Deskew images ``(n, h, w)``; returns float32 ``(n, h, w)`` on the input's scale.

    Parameters
    ----------
    imgs : array-like of shape (n, h, w)
        Images, any numeric dtype; each is sheared to remove its slant, its centre of mass moved to
        the frame's centre (bilinear sampling, zero outside).

    Returns
    -------
    ndarray of float32, shape (n, h, w)
        The deskewed images.
    """
    imgs = np.asarray(imgs)
    n, h, w = imgs.shape
    out = np.empty((n, h, w), dtype=np.float32)
    for lo in range(0, n, _BLOCK):
        out[lo : lo + _BLOCK] = _deskew_block(imgs[lo : lo + _BLOCK].astype(np.float32))
    return out


def _deskew_block(imgs: NDArray[np.float32]) -> NDArray[np.float32]:
    n, h, w = imgs.shape
    cy, cx, slant = _shear_params(imgs)
    cr, cc = (h - 1) / 2, (w - 1) / 2
    r = np.arange(h, dtype=np.float64)
    c = np.arange(w, dtype=np.float64)
    # source coordinates, +1 for the zero border added below
    src_r = (r[None, :] + (cy - cr)[:, None] + 1)[:, :, None] * np.ones(w)  # (n, h, w)
    src_c = c[None, None, :] + (slant[:, None] * (r[None, :] - cr) + (cx - cc)[:, None] + 1)[:, :, None]
    padded = np.zeros((n, h + 2, w + 2), dtype=np.float32)
    padded[:, 1:-1, 1:-1] = imgs
    src_r = np.clip(src_r, 0, h + 1 - 1e-6)
    src_c = np.clip(src_c, 0, w + 1 - 1e-6)
    r0 = src_r.astype(np.intp)
    c0 = src_c.astype(np.intp)
    fr = (src_r - r0).astype(np.float32)
    fc = (src_c - c0).astype(np.float32)
    flat = padded.reshape(-1)
    base = (np.arange(n, dtype=np.intp) * (h + 2) * (w + 2))[:, None, None] + r0 * (w + 2) + c0
    top = flat[base] * (1 - fc) + flat[base + 1] * fc
    bottom = flat[base + w + 2] * (1 - fc) + flat[base + w + 3] * fc
    out: NDArray[np.float32] = top * (1 - fr) + bottom * fr
    return out


class Deskew(TransformerMixin, BaseEstimator):
    """Deskew flattened images (scikit-learn transformer).

    Parameters
    ----------
    image_shape : tuple of int or None
        ``(height, width)`` of each row of ``X``; None infers a square image from the number of
        columns (a non-square count is taken as one row of pixels).

    Attributes
    ----------
    image_shape_ : tuple of int
        The shape used.
    n_features_in_ : int
    """

    def __init__(self, image_shape: tuple[int, int] | None = None) -> None:
        self.image_shape = image_shape

    def fit(self, X: Any, y: object = None) -> Self:
        """Check ``X`` and record its image shape (nothing is learnt).

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
        X = validate_data(self, X, dtype=[np.uint8, np.float32, np.float64])
        self.image_shape_ = image_shape_for(X.shape[1], self.image_shape)
        return self

    def transform(self, X: Any) -> NDArray[np.float32]:
        """Deskewed images, flattened, float32, on the scale of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels)
            Images as in :meth:`fit`.

        Returns
        -------
        ndarray of float32, shape (n_samples, n_pixels)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.uint8, np.float32, np.float64])
        return deskew_images(as_images(X, self.image_shape_)).reshape(len(X), -1)

    def get_feature_names_out(self, input_features: object = None) -> NDArray[np.object_]:
        """Names ``deskew0 .. deskew{d-1}``, one per pixel.

        Parameters
        ----------
        input_features : ignored
            Present for scikit-learn's API.

        Returns
        -------
        ndarray of str objects, shape (n_pixels,)
        """
        check_is_fitted(self)
        return np.asarray([f"deskew{i}" for i in range(self.n_features_in_)], dtype=object)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
