"""Rows of ``X`` as images: shape inference and checks shared by the image transformers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["as_images", "image_shape_for"]


def image_shape_for(n_features: int, image_shape: tuple[int, int] | None) -> tuple[int, int]:
    """The ``(height, width)`` of rows with ``n_features`` pixels.

    None infers a square (784 -> 28 x 28); a count that is not a square is one row of pixels.
    """
    if image_shape is None:
        side = math.isqrt(n_features)
        return (side, side) if side * side == n_features else (1, n_features)
    try:
        h, w = (int(v) for v in image_shape)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"image_shape: expected (height, width), found {image_shape!r}") from exc
    if h < 1 or w < 1 or h * w != n_features:
        raise ValueError(
            f"image_shape: {h} x {w} = {h * w} pixels, but X has {n_features} columns"
        )
    return h, w


def as_images(X: NDArray[Any], shape: tuple[int, int]) -> NDArray[Any]:
    """A view of the rows of ``X`` as ``(n, height, width)`` images."""
    return np.asarray(X).reshape(len(X), *shape)
