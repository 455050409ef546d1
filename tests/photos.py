"""Synthesised photographs of digits written on paper: the paper lying on a darker table (whose
edges are in the frame), lit unevenly (a gradient), with a shadow across it. Used by the image
tests and by ``benchmarks/bench_photos.py``."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter

#: the harsh conditions, each alone and all together
KINDS = ("plain", "table edge", "gradient", "shadow", "all")


def _paper(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Dark ink on light paper, the digit 6-10 times its size, off-centre."""
    scale = int(rng.integers(6, 11))
    ink = Image.fromarray(255 - digit.reshape(28, 28)).resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC)
    w, h = ink.size
    left, top, right, bottom = (int(v) for v in rng.integers(30, 140, size=4))
    paper = Image.new("L", (w + left + right, h + top + bottom), 230)
    paper.paste(ink.point(lambda v: min(v, 230)), (left, top))
    return np.asarray(paper, dtype=np.float64)


def _on_table(paper: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The paper on a darker, textured table, slightly turned; the table shows on two or three sides."""
    h, w = paper.shape
    tone = float(rng.uniform(60, 140))
    pad = rng.integers(25, 110, size=4)
    pad[rng.integers(0, 4)] = 0  # one side of the frame is all paper
    table = tone + rng.normal(0, 8, (h + pad[0] + pad[1], w + pad[2] + pad[3]))
    table[pad[0] : pad[0] + h, pad[2] : pad[2] + w] = paper
    turned = Image.fromarray(np.clip(table, 0, 255).astype(np.uint8)).rotate(
        float(rng.uniform(-4, 4)), resample=Image.Resampling.BICUBIC, fillcolor=int(tone))
    return np.asarray(turned, dtype=np.float64)


def _gradient(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Light falling off across the frame: from full to 40-60% in a random direction."""
    h, w = img.shape
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w]
    t = (np.cos(angle) * xx / w + np.sin(angle) * yy / h)
    t = (t - t.min()) / max(t.max() - t.min(), 1e-9)
    return img * (1.0 - float(rng.uniform(0.4, 0.6)) * t)


def _shadow(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A soft-edged shadow (a hand, a phone) over part of the frame, the digit included."""
    h, w = img.shape
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w]
    side = np.cos(angle) * (xx - w / 2) + np.sin(angle) * (yy - h / 2) - rng.uniform(-0.2, 0.2) * min(h, w)
    mask = Image.fromarray((255 * (side > 0)).astype(np.uint8)).filter(ImageFilter.GaussianBlur(min(h, w) / 40))
    depth = float(rng.uniform(0.4, 0.55))
    return img * (1.0 - depth * np.asarray(mask, dtype=np.float64) / 255)


def harsh_photo(digit: np.ndarray, rng: np.random.Generator, kind: str = "all") -> bytes:
    """A JPEG photograph of ``digit`` (an MNIST row) written on paper, under ``kind`` of
    :data:`KINDS`."""
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, found {kind!r}")
    img = _paper(digit, rng)
    if kind in ("table edge", "all"):
        img = _on_table(img, rng)
    if kind in ("gradient", "all"):
        img = _gradient(img, rng)
    if kind in ("shadow", "all"):
        img = _shadow(img, rng)
    img = img + rng.normal(0, 5, img.shape)
    out = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(out, format="JPEG", quality=85)
    return out.getvalue()
