"""Digits that are not MNIST's, to measure how the models read other people's and machines'
digits (measurement sets, not training data). Used by ``benchmarks/bench_offmnist.py`` and
``tests/test_offmnist.py``.

Each set is seeded and of a bounded size; :func:`make_set` gives its images (what a user would
give ``read_image``: greyscale arrays or image bytes) and their labels:

- ``fonts``: the digits of the TrueType fonts on the machine (DejaVu, Liberation, ...),
  dark ink on white, with a stroke width (Pillow's ``stroke_width``), a slant (an affine shear)
  and a size drawn at random;
- ``strokes``: a stroke simulator: each digit a few pen strokes (polylines and quadratic Bezier
  curves of a template per digit) with its control points jittered, a pen width, a slant and a
  scale drawn at random, drawn anti-aliased (4x supersampled), bright ink on black as on the
  web page's pad;
- ``sklearn digits``: scikit-learn's 8x8 handwritten digits (1,797 digits by 43 writers, not
  MNIST's), padded and upscaled smoothly (bicubic) to 64x64, bright ink on black;
- ``photos``: MNIST test digits in the synthetic photos of ``tests/photos.py`` with ruled lines,
  a box, a margin line or the paper's edge, and the table, gradient and shadow, blurred
  (radius 0-2) and saved again as JPEG.
"""

from __future__ import annotations

import glob
import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

#: the sets, in the order the benchmark prints them
SETS = ("fonts", "strokes", "sklearn digits", "photos")

#: the templates of the stroke simulator, in a unit box (x right, y down): per digit, strokes;
#: a stroke is a list of points, joined by straight segments, or a ``("q", p0, p1, p2, ...)``
#: chain of quadratic Bezier curves (control points p1, p3, ...)
_TEMPLATES: dict[int, list[list]] = {
    0: [["q", (0.5, 0.0), (0.05, 0.02), (0.05, 0.5), (0.08, 1.0), (0.5, 1.0), (0.95, 1.0), (0.95, 0.5),
         (0.92, 0.0), (0.5, 0.0)]],
    1: [[(0.35, 0.2), (0.6, 0.0), (0.6, 1.0)]],
    2: [["q", (0.1, 0.25), (0.2, 0.0), (0.55, 0.0), (0.95, 0.05), (0.85, 0.4), (0.6, 0.7), (0.1, 1.0)],
        [(0.1, 1.0), (0.95, 1.0)]],
    3: [["q", (0.1, 0.1), (0.5, -0.1), (0.85, 0.2), (0.8, 0.45), (0.4, 0.48)],
        ["q", (0.4, 0.48), (0.95, 0.55), (0.85, 0.85), (0.55, 1.1), (0.1, 0.9)]],
    4: [[(0.65, 0.0), (0.05, 0.7), (0.95, 0.7)], [(0.7, 0.3), (0.7, 1.0)]],
    5: [[(0.85, 0.0), (0.2, 0.0), (0.15, 0.45)],
        ["q", (0.15, 0.45), (0.5, 0.3), (0.85, 0.55), (0.95, 0.9), (0.5, 1.0), (0.2, 1.0), (0.1, 0.85)]],
    6: [["q", (0.75, 0.0), (0.1, 0.2), (0.1, 0.7), (0.15, 1.0), (0.5, 1.0), (0.9, 0.95), (0.85, 0.65),
         (0.75, 0.4), (0.4, 0.45), (0.15, 0.5), (0.12, 0.7)]],
    7: [[(0.05, 0.0), (0.95, 0.0), (0.35, 1.0)]],
    8: [["q", (0.5, 0.48), (0.1, 0.35), (0.15, 0.12), (0.5, -0.05), (0.82, 0.12), (0.9, 0.35), (0.5, 0.48),
         (0.05, 0.65), (0.15, 0.9), (0.5, 1.05), (0.85, 0.9), (0.95, 0.65), (0.5, 0.48)]],
    9: [["q", (0.85, 0.3), (0.8, 0.0), (0.45, 0.0), (0.1, 0.05), (0.12, 0.3), (0.2, 0.55), (0.55, 0.5),
         (0.85, 0.45), (0.85, 0.3)], [(0.85, 0.3), (0.75, 1.0)]],
}


def font_files() -> list[str]:
    """The TrueType fonts on the machine (``/usr/share/fonts/**/*.ttf``), sorted; math and
    symbol fonts left out."""
    files = sorted(glob.glob("/usr/share/fonts/**/*.ttf", recursive=True))
    return [f for f in files if not any(word in f for word in ("Math", "Symbol", "Emoji"))]


def _shear(img: Image.Image, slant: float, fill: int) -> Image.Image:
    """``img`` slanted by ``slant`` (x shifts by ``slant`` per row, about the middle row)."""
    w, h = img.size
    grow = int(abs(slant) * h) + 2
    wide = Image.new("L", (w + 2 * grow, h), fill)
    wide.paste(img, (grow, 0))
    return wide.transform(wide.size, Image.Transform.AFFINE, (1, slant, -slant * h / 2, 0, 1, 0),
                          resample=Image.Resampling.BICUBIC, fillcolor=fill)


def font_digit(label: int, font: str, size: int, stroke: int, slant: float) -> np.ndarray:
    """``label`` in ``font`` at ``size`` px with ``stroke`` px of stroke, slanted by ``slant``:
    dark ink on white, a greyscale array with a margin around the digit."""
    face = ImageFont.truetype(font, size)
    canvas = Image.new("L", (2 * size, 2 * size), 255)
    ImageDraw.Draw(canvas).text((size // 2, size // 4), str(label), font=face, fill=0, stroke_width=stroke,
                                stroke_fill=0)
    return np.asarray(_shear(canvas, slant, 255), dtype=np.float64)


def _bezier_chain(points: list[tuple[float, float]], steps: int = 12) -> list[tuple[float, float]]:
    """The points along quadratic Bezier curves: ``points`` = start, control, end, control, end..."""
    out = [points[0]]
    for i in range(0, len(points) - 2, 2):
        p0, p1, p2 = (np.asarray(p) for p in points[i : i + 3])
        for t in np.linspace(0, 1, steps)[1:]:
            q = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2
            out.append((float(q[0]), float(q[1])))
    return out


def stroke_digit(label: int, rng: np.random.Generator, size: int = 200) -> np.ndarray:
    """``label`` drawn as pen strokes on a ``size`` x ``size`` pad (bright ink on black): the
    template's control points jittered (3% of the digit's height), a pen width of 5-14% of it,
    a slant of -0.35..0.2 and a width of 55-100% of the height, drawn 4x larger and reduced
    (anti-aliased)."""
    height = float(rng.uniform(0.45, 0.75)) * size
    width = float(rng.uniform(0.55, 1.0)) * height
    slant = float(rng.uniform(-0.35, 0.2))
    pen = float(rng.uniform(0.05, 0.14)) * height
    top, left = (size - height) / 2, (size - width) / 2
    k = 4
    img = Image.new("L", (size * k, size * k), 0)
    draw = ImageDraw.Draw(img)
    for stroke in _TEMPLATES[label]:
        curve = stroke[0] == "q"
        pts = np.asarray(stroke[1:] if curve else stroke, dtype=np.float64)
        pts = pts + rng.normal(0, 0.03, pts.shape)
        path = _bezier_chain([tuple(p) for p in pts]) if curve else [tuple(p) for p in pts]
        xy = [((left + x * width - slant * (y - 0.5) * height) * k, (top + y * height) * k) for x, y in path]
        draw.line(xy, fill=255, width=max(1, round(pen * k)), joint="curve")
        r = pen * k / 2
        for x, y in (xy[0], xy[-1]):  # round pen ends
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return np.asarray(img.reduce(k), dtype=np.float64)


def sklearn_digit(image: np.ndarray) -> np.ndarray:
    """One of scikit-learn's 8x8 digits (values 0..16) padded by a pixel and upscaled smoothly
    to 64x64, bright ink on black, values 0..255."""
    padded = np.pad(np.asarray(image, dtype=np.float64) * (255.0 / 16.0), 1)
    big = Image.fromarray(padded.astype(np.float32)).resize((64, 64), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(big, dtype=np.float64), 0, 255)


def _blurred_photo(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    from photos import harsh_photo

    kind = ("box", "ruled", "lines and all")[int(rng.integers(0, 3))]
    img = Image.open(io.BytesIO(harsh_photo(digit, rng, kind))).convert("L")
    img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 2))))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=int(rng.integers(60, 90)))
    return out.getvalue()


def make_set(name: str, n: int = 500, seed: int = 0, mnist_test: tuple[np.ndarray, np.ndarray] | None = None
             ) -> tuple[list[np.ndarray | bytes], np.ndarray]:
    """``n`` images of set ``name`` (of :data:`SETS`) and their labels, the classes in turn.

    Parameters
    ----------
    name : str
        One of :data:`SETS`.
    n : int, default 500
        How many images (for ``sklearn digits`` at most 1,797).
    seed : int, default 0
        Seeds the random draws: the same seed gives the same images.
    mnist_test : (X, y) or None
        MNIST test digits for ``photos`` (required for it).

    Returns
    -------
    images : list of ndarray or bytes
        Greyscale arrays 0..255, or JPEG bytes (``photos``).
    labels : ndarray of int64
    """
    rng = np.random.default_rng(seed)
    labels = np.arange(n, dtype=np.int64) % 10
    images: list[np.ndarray | bytes] = []
    if name == "fonts":
        fonts = font_files()
        if not fonts:
            raise RuntimeError("no TrueType fonts under /usr/share/fonts")
        for label in labels:
            images.append(font_digit(int(label), fonts[int(rng.integers(0, len(fonts)))], int(rng.integers(28, 96)),
                                     int(rng.integers(0, 4)), float(rng.uniform(-0.3, 0.3))))
    elif name == "strokes":
        images = [stroke_digit(int(label), rng) for label in labels]
    elif name == "sklearn digits":
        from sklearn.datasets import load_digits

        data = load_digits()
        pick = rng.choice(len(data.target), min(n, len(data.target)), replace=False)
        labels = data.target[pick].astype(np.int64)
        images = [sklearn_digit(data.images[i]) for i in pick]
    elif name == "photos":
        if mnist_test is None:
            raise ValueError("photos: give mnist_test, the MNIST test digits")
        X, y = mnist_test
        pick = rng.choice(len(y), n, replace=False)
        labels = np.asarray(y[pick], dtype=np.int64)
        images = [_blurred_photo(X[i], rng) for i in pick]
    else:
        raise ValueError(f"name: expected one of {SETS}, found {name!r}")
    return images, labels
