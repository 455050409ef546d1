"""Turn a person's image of a digit into a 28x28 MNIST-style array.

MNIST digits are white ink on black, the ink size-normalised into a 20x20 box and centred by
centre of mass in a 28x28 frame. :func:`preprocess_image` brings any image to that form:

greyscale -> bright ink on dark (dark-on-light input is inverted) -> background and its noise
(estimated from the border) removed
-> crop to the ink -> longer side scaled to 20 px (anti-aliased, aspect kept) -> pasted into
28x28 with its centre of mass at the centre -> uint8.
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["MAX_PIXELS", "ImageError", "load_image", "preprocess_array", "preprocess_image"]

#: images with more pixels than this are refused (protection against decompression bombs)
MAX_PIXELS = 25_000_000
#: larger images are reduced to about this many pixels right after decoding (JPEGs while
#: decoding): the digit ends up 28x28, and the float arrays of a 25-megapixel photo would take GBs
WORKING_PIXELS = 1_000_000
#: ink must stand this many grey levels (of 255) above the background
MIN_CONTRAST = 40


class ImageError(ValueError):
    """An input is not a usable image of a digit."""


def load_image(source: str | os.PathLike[str] | bytes, name: str | None = None,
               max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read an image file (or its bytes) Pillow understands into a float greyscale array 0..255.

    Transparent images are flattened onto a background that contrasts with their ink; for GIFs
    and other multi-frame files the first frame is used. An image over ``max_pixels`` (from its
    header, before decoding) is refused; one over ``WORKING_PIXELS`` is reduced to about that
    size as it is decoded.
    """
    label = name or (str(source) if not isinstance(source, bytes) else "<image bytes>")
    if isinstance(source, bytes):
        fh = io.BytesIO(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise ImageError(f"{label}: no such file")
        fh = path.open("rb")
    try:
        with fh, Image.open(fh) as img:
            w, h = img.size
            if w * h > max_pixels:
                raise ImageError(f"{label}: {w}x{h} = {w * h} pixels is over the limit of {max_pixels}")
            img.seek(0)
            big = w * h > WORKING_PIXELS
            if big and img.format == "JPEG":  # decode at a reduced scale directly
                factor = math.ceil(math.sqrt(w * h / WORKING_PIXELS))
                img.draft(img.mode, (w // factor, h // factor))
            img = ImageOps.exif_transpose(img)  # before reducing: it reads the orientation tag
            if big:
                if img.mode not in ("L", "LA", "RGB", "RGBA"):
                    img = img.convert("RGBA")
                factor = math.ceil(math.sqrt(img.width * img.height / WORKING_PIXELS))
                if factor > 1:
                    img = img.reduce(factor)
            if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
                rgba = np.asarray(img.convert("RGBA"), dtype=np.float64)
                grey = rgba[..., :3] @ np.array([0.299, 0.587, 0.114])
                alpha = rgba[..., 3] / 255.0
                opaque = alpha > 0.5
                ink_is_dark = grey[opaque].mean() < 128 if opaque.any() else True
                bg = 255.0 if ink_is_dark else 0.0
                return grey * alpha + bg * (1 - alpha)
            return np.asarray(img.convert("L"), dtype=np.float64)
    except ImageError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise ImageError(f"{label}: not an image Pillow can read ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{label}: unreadable image ({exc})") from exc


def _is_mnist_style(a: np.ndarray) -> bool:
    """28x28, dark border, bright ink: already what the model expects."""
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    return a.shape == (28, 28) and border.max() < 30 and a.max() > 128


def _drop_specks(ink: np.ndarray) -> np.ndarray:
    """Remove ink blobs smaller than 5% of the largest one (noise, dust, JPEG specks)."""
    from scipy import ndimage

    labels, n = ndimage.label(ink > 0, structure=np.ones((3, 3)))
    if n <= 1:
        return ink
    sizes = ndimage.sum_labels(ink > 0, labels, index=np.arange(1, n + 1))
    keep = np.flatnonzero(sizes >= 0.05 * sizes.max()) + 1
    return np.where(np.isin(labels, keep), ink, 0.0)


def preprocess_array(grey: np.ndarray, name: str = "<array>") -> np.ndarray:
    """Bring a greyscale image (values 0..255, any size) to a 28x28 uint8 MNIST-style digit."""
    a = np.asarray(grey, dtype=np.float64)
    if a.shape == (784,):
        a = a.reshape(28, 28)
    if a.ndim != 2 or min(a.shape) < 1:
        raise ImageError(f"{name}: expected a 2-D greyscale image, found shape {a.shape}")
    if not np.all(np.isfinite(a)) or a.min() < 0 or a.max() > 255:
        raise ImageError(f"{name}: pixel values must lie in 0..255")
    if _is_mnist_style(a):
        return a.round().astype(np.uint8)
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    if np.median(border) > 127:  # dark ink on light paper: make the ink bright
        a = 255.0 - a
        border = 255.0 - border
    background = float(np.median(border))
    noise = 1.4826 * float(np.median(np.abs(border - background)))  # robust std of the paper
    peak = float(np.percentile(a, 99.9))
    if peak - background < MIN_CONTRAST:
        raise ImageError(f"{name}: blank image: no ink found (contrast {peak - background:.0f} of 255)")
    # everything within 3 noise levels of the paper is background; the rest is stretched to 0..1
    threshold = min(background + 3 * noise + 1, background + 0.5 * (peak - background))
    ink = np.clip((a - threshold) / (peak - threshold), 0, 1)
    ink = _drop_specks(ink)
    rows, cols = np.nonzero(ink)
    ink = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    h, w = ink.shape
    scale = 20.0 / max(h, w)
    new_size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = Image.fromarray((ink * 255).astype(np.uint8)).resize(new_size, Image.Resampling.LANCZOS)
    small = np.asarray(small, dtype=np.float64)
    total = small.sum()
    if total <= 0:
        raise ImageError(f"{name}: blank image: the ink vanished when scaled to 20 px")
    yy, xx = np.indices(small.shape)
    cy, cx = (yy * small).sum() / total, (xx * small).sum() / total
    top = int(np.clip(round(14.0 - cy), 0, 28 - small.shape[0]))  # MNIST puts the centre of mass at (14, 14)
    left = int(np.clip(round(14.0 - cx), 0, 28 - small.shape[1]))
    out = np.zeros((28, 28))
    out[top : top + small.shape[0], left : left + small.shape[1]] = small
    out *= 255.0 / out.max()  # MNIST strokes peak at full intensity
    return np.clip(out, 0, 255).round().astype(np.uint8)


def preprocess_image(source: str | os.PathLike[str] | bytes | np.ndarray, name: str | None = None,
                     max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """A file path, image bytes, or greyscale array -> 28x28 uint8 MNIST-style digit.

    ``max_pixels`` bounds the image's size (from its header, before decoding).

    Raises
    ------
    ImageError
        Not an image, unreadable, too many pixels, or blank (no ink).
    """
    if isinstance(source, np.ndarray):
        return preprocess_array(source, name or "<array>")
    label = name or (str(source) if not isinstance(source, bytes) else "<image bytes>")
    return preprocess_array(load_image(source, label, max_pixels), label)
