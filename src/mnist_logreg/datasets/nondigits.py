"""Synthetic images that are not one digit: the negatives the digit detector learns from.

The detector behind ``looks_like_a_digit`` (see :mod:`mnist_logreg.shipped`) is a logistic
regression telling MNIST's training digits from these: letters in Pillow's own font (so the
recipe needs no system fonts), pen scribbles (smooth curves and zigzags), two training digits side by side, and
blank-looking canvases with a dot, specks or a faint smudge. Every generator is seeded and gives
a greyscale array (0..255) of the kind users send: dark ink on white paper, or bright strokes on
a black canvas, a few hundred pixels wide; the detector sees them after
:func:`~mnist_logreg.images.read_image`, as it sees the user's images.

The tests and ``benchmarks/bench_ood.py`` measure the detector on other images: letters in the
machine's fonts, scribbles made another way, pairs of *test* digits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

__all__ = ["KINDS", "LETTERS", "generate", "letter", "marks", "scribble", "two_digits"]

#: letters that do not look like a digit in common handwriting or type (no O/o, I/l, S/s, Z/z,
#: B/b, G/g, q, D, Q, T, J, Y)
LETTERS = "ACEFHKMNPRUVWXaehkmnprtuvwx"

#: the kinds of :func:`generate`
KINDS = ("letters", "scribbles", "two digits", "marks")

Array = NDArray[np.float64]


def _slanted(img: Image.Image, shear: float, angle: float, fill: int) -> Image.Image:
    w, h = img.size
    img = img.transform((w, h), Image.Transform.AFFINE, (1, shear, -shear * h / 2, 0, 1, 0),
                        resample=Image.Resampling.BICUBIC, fillcolor=fill)
    return img.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=fill)


def letter(rng: np.random.Generator, fonts: Sequence[str | Path] = ()) -> Array:
    """A letter of :data:`LETTERS` at a random size, stroke width, slant and angle: dark ink on white.

    Parameters
    ----------
    rng : numpy.random.Generator
        The source of randomness.
    fonts : sequence of path, default ()
        TrueType fonts to pick from; empty: Pillow's own font.

    Returns
    -------
    ndarray of float64, shape (240, 240)
    """
    char = LETTERS[int(rng.integers(len(LETTERS)))]
    size = int(rng.integers(60, 140))
    font = (ImageFont.truetype(str(fonts[int(rng.integers(len(fonts)))]), size) if fonts
            else ImageFont.load_default(size))
    img = Image.new("L", (240, 240), 255)
    ImageDraw.Draw(img).text((120, 120), char, fill=0, font=font, anchor="mm",
                             stroke_width=int(rng.integers(0, 5)), stroke_fill=0)
    img = _slanted(img, float(rng.uniform(-0.3, 0.3)), float(rng.uniform(-12, 12)), 255)
    return np.asarray(img, dtype=np.float64)


def _smooth_path(rng: np.random.Generator, points: int, size: int) -> list[tuple[float, float]]:
    """A smooth pen path through ``points`` random points (Catmull-Rom, 12 steps between two)."""
    p = rng.uniform(0.15 * size, 0.85 * size, (points, 2))
    p = np.vstack([p[0], p, p[-1]])
    path = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        for t in np.linspace(0, 1, 12, endpoint=False):
            x, y = 0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                          + (3 * p1 - p0 - 3 * p2 + p3) * t**3)
            path.append((float(x), float(y)))
    return path


def scribble(rng: np.random.Generator) -> Array:
    """A scribble, bright on a black canvas: a smooth pen path through 6-14 random points, or
    (one in three) a zigzag of 4-9 straight strokes.

    Parameters
    ----------
    rng : numpy.random.Generator
        The source of randomness.

    Returns
    -------
    ndarray of float64, shape (280, 280)
    """
    img = Image.new("L", (280, 280), 0)
    if rng.random() < 1 / 3:
        path = [(float(x), float(y)) for x, y in rng.uniform(40, 240, (int(rng.integers(5, 10)), 2))]
    else:
        path = _smooth_path(rng, int(rng.integers(6, 15)), 280)
    ImageDraw.Draw(img).line(path, fill=255, width=int(rng.integers(10, 22)), joint="curve")
    return np.asarray(img, dtype=np.float64)


def two_digits(rng: np.random.Generator, digits: NDArray[np.generic]) -> Array:
    """Two of ``digits`` side by side, 0-5 pixels apart, dark ink on white, 5-8 times their size.

    Parameters
    ----------
    rng : numpy.random.Generator
        The source of randomness.
    digits : ndarray of shape (n, 784)
        MNIST-style digits (bright ink on black) to pick two from.

    Returns
    -------
    ndarray of float64
    """
    a, b = (np.asarray(digits[int(i)], dtype=np.float64).reshape(28, 28)
            for i in rng.choice(len(digits), 2, replace=False))
    gap = int(rng.integers(0, 6))
    row = np.hstack([a[:, 4:24], np.zeros((28, gap)), b[:, 4:24]])
    scale = int(rng.integers(5, 9))
    img = Image.fromarray(np.pad(255 - row, 8, constant_values=255).astype(np.uint8))
    return np.asarray(img.resize((img.width * scale, img.height * scale), Image.Resampling.BICUBIC),
                      dtype=np.float64)


def marks(rng: np.random.Generator) -> Array:
    """A blank-looking canvas: one dot, a few specks, or a faint smudge, bright on black.

    Parameters
    ----------
    rng : numpy.random.Generator
        The source of randomness.

    Returns
    -------
    ndarray of float64, shape (280, 280)
    """
    img = Image.new("L", (280, 280), 0)
    draw = ImageDraw.Draw(img)
    choice = int(rng.integers(3))
    if choice == 2:  # a faint smudge on a grainy canvas
        yy, xx = np.mgrid[0:280, 0:280]
        cx, cy, s = (*rng.uniform(80, 200, 2), rng.uniform(20, 50))
        return np.asarray(90 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
                          + rng.uniform(0, 12, (280, 280)))
    for _ in range(1 if choice == 0 else int(rng.integers(3, 8))):  # one dot, or a few specks
        x, y = rng.uniform(20, 260, 2)
        r = rng.uniform(8, 16) if choice == 0 else rng.uniform(3, 7)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return np.asarray(img, dtype=np.float64)


def generate(kind: str, n: int, seed: int, digits: NDArray[np.generic], fonts: Sequence[str | Path] = ()
             ) -> list[Array]:
    """``n`` images of one ``kind``.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.
    n : int
        How many.
    seed : int
        Seed of the images.
    digits : ndarray of shape (m, 784)
        The digits "two digits" pairs (MNIST-style rows).
    fonts : sequence of path, default ()
        The fonts of "letters" (empty: Pillow's own).

    Returns
    -------
    list of ndarray of float64
        Greyscale images, values 0..255.
    """
    rng = np.random.default_rng(seed)
    makers: dict[str, Callable[[np.random.Generator], Array]] = {
        "letters": lambda r: letter(r, fonts), "scribbles": scribble, "marks": marks,
        "two digits": lambda r: two_digits(r, digits)}
    if kind not in makers:
        raise ValueError(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    return [makers[kind](rng) for _ in range(n)]
