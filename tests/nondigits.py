"""Images that are not one digit, to *measure* the digit detector on: made otherwise than the
negatives it learnt from (:mod:`mnist_logreg.datasets.nondigits`). Used by the tests and by
``benchmarks/bench_ood.py``.

- letters in the machine's TrueType fonts (DejaVu, Liberation), where the detector learnt
  Pillow's own font;
- scribbles that wander (a pen's random walk, turning smoothly) or spiral, where it learnt smooth
  curves through random points and zigzags;
- two *test* digits side by side, where it learnt training digits;
- blank-looking canvases: a few faint dots, a tiny ring, grain.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from mnist_logreg.datasets.nondigits import letter, two_digits

KINDS = ("letters", "scribbles", "two digits", "marks")


def fonts() -> list[Path]:
    """The machine's TrueType fonts, sorted (Debian's DejaVu at least, which the tests install)."""
    return sorted(p for p in Path("/usr/share/fonts").rglob("*.ttf") if "Emoji" not in p.name)


def scratch(rng: np.random.Generator) -> np.ndarray:
    """A wandering pen (a random walk whose heading turns smoothly) or a spiral: bright on black."""
    img = Image.new("L", (280, 280), 0)
    draw = ImageDraw.Draw(img)
    width = int(rng.integers(8, 20))
    if rng.random() < 0.5:
        heading, x, y = rng.uniform(0, 2 * np.pi), 140.0, 140.0
        points = []
        for turn in rng.normal(0, 0.35, int(rng.integers(60, 160))):
            heading += turn
            x, y = float(np.clip(x + 6 * np.cos(heading), 30, 250)), float(np.clip(y + 6 * np.sin(heading), 30, 250))
            points.append((x, y))
    else:
        turns, t0 = rng.uniform(1.5, 3.0), rng.uniform(0, 2 * np.pi)
        t = np.linspace(0, 2 * np.pi * turns, 120)
        r = np.linspace(10, rng.uniform(70, 110), 120)
        points = [(140 + float(a) * np.cos(b + t0), 140 + float(a) * np.sin(b + t0)) for a, b in zip(r, t, strict=True)]
    draw.line(points, fill=255, width=width, joint="curve")
    return np.asarray(img, dtype=np.float64)


def faint(rng: np.random.Generator) -> np.ndarray:
    """A blank-looking canvas: two or three faint dots, a tiny ring, or grain."""
    img = Image.new("L", (280, 280), 0)
    draw = ImageDraw.Draw(img)
    choice = int(rng.integers(3))
    if choice == 0:
        for _ in range(int(rng.integers(2, 4))):
            x, y, r = (*rng.uniform(40, 240, 2), rng.uniform(4, 9))
            draw.ellipse((x - r, y - r, x + r, y + r), fill=int(rng.integers(120, 255)))
    elif choice == 1:
        x, y, r = (*rng.uniform(60, 220, 2), rng.uniform(6, 12))
        draw.ellipse((x - r, y - r, x + r, y + r), outline=255, width=3)
    else:
        return rng.uniform(0, 60, (280, 280)) * (rng.random((280, 280)) < 0.02)
    return np.asarray(img, dtype=np.float64)


def generate(kind: str, n: int, seed: int, digits: np.ndarray) -> list[np.ndarray]:
    """``n`` images of one ``kind`` (see :data:`KINDS`); ``digits`` (rows of 784, test digits) feed the pairs."""
    rng = np.random.default_rng(seed)
    if kind == "letters":
        faces = fonts()
        return [letter(rng, faces) for _ in range(n)]
    if kind == "scribbles":
        return [scratch(rng) for _ in range(n)]
    if kind == "two digits":
        return [two_digits(rng, digits) for _ in range(n)]
    if kind == "marks":
        return [faint(rng) for _ in range(n)]
    raise ValueError(kind)
