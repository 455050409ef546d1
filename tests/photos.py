"""Synthesised photographs of digits written on paper: the paper lying on a darker table (whose
edges are in the frame), lit unevenly (a gradient), with a shadow across it; and paper that has
lines of its own: a box drawn around the digit, ruled notebook lines, a margin line, the paper's
edge. Used by the image tests and by ``benchmarks/bench_photos.py``."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter

#: the harsh conditions, each alone and all together; then the lines on the paper, each alone
#: and all with the lighting and the table
KINDS = ("plain", "table edge", "gradient", "shadow", "all", "box", "ruled", "margin line", "paper edge",
         "lines and all")
#: the kinds whose paper has lines
LINE_KINDS = ("box", "ruled", "margin line", "paper edge", "lines and all")


def _paper(digit: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Dark ink on light paper, the digit 6-10 times its size, off-centre; and the ink's box
    (top, left, bottom, right) on the paper."""
    scale = int(rng.integers(6, 11))
    ink = Image.fromarray(255 - digit.reshape(28, 28)).resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC)
    w, h = ink.size
    left, top, right, bottom = (int(v) for v in rng.integers(30, 140, size=4))
    paper = Image.new("L", (w + left + right, h + top + bottom), 230)
    paper.paste(ink.point(lambda v: min(v, 230)), (left, top))
    rows, cols = np.nonzero(digit.reshape(28, 28) > 30)
    box = (top + scale * int(rows.min()), left + scale * int(cols.min()),
           top + scale * (int(rows.max()) + 1), left + scale * (int(cols.max()) + 1))
    return np.asarray(paper, dtype=np.float64), box


def with_box(paper: np.ndarray, ink_box: tuple[int, int, int, int], margin: float, thickness: int,
             tone: float = 40.0) -> np.ndarray:
    """A rectangle drawn around the ink: ``margin`` (a fraction of the ink's larger side) between
    them, ``thickness`` pixels wide, of grey ``tone``; clipped to the paper."""
    top, left, bottom, right = ink_box
    gap = round(margin * max(bottom - top, right - left))
    h, w = paper.shape
    t0, l0 = max(top - gap - thickness, 0), max(left - gap - thickness, 0)
    b0, r0 = min(bottom + gap + thickness, h), min(right + gap + thickness, w)
    frame = np.zeros(paper.shape, dtype=bool)
    frame[t0:b0, l0:r0] = True
    frame[t0 + thickness : b0 - thickness, l0 + thickness : r0 - thickness] = False
    return np.where(frame, np.minimum(paper, tone), paper)


def _line_layer(shape: tuple[int, int], positions: list[float], thickness: float, horizontal: bool) -> np.ndarray:
    """0..1 coverage of anti-aliased straight lines across the whole ``shape``."""
    h, w = shape
    across = np.arange(h if horizontal else w, dtype=np.float64)
    cover = np.zeros_like(across)
    for pos in positions:
        cover = np.maximum(cover, np.clip(thickness / 2 + 0.5 - np.abs(across - pos), 0.0, 1.0))
    return np.broadcast_to(cover[:, None] if horizontal else cover[None, :], shape)


def with_ruled_lines(paper: np.ndarray, spacing: float, offset: float, thickness: float,
                     tone: float) -> np.ndarray:
    """Horizontal ruled lines every ``spacing`` pixels from ``offset``, across the whole page and
    the digit, ``thickness`` pixels wide, of grey ``tone`` (faint blue-grey lines are 150-200)."""
    positions = list(np.arange(offset, paper.shape[0], spacing))
    cover = _line_layer(paper.shape, positions, thickness, horizontal=True)
    return np.minimum(paper, paper - cover * (paper - tone))


def with_margin_line(paper: np.ndarray, column: float, thickness: float, tone: float) -> np.ndarray:
    """A vertical margin line at ``column``, the page's full height."""
    cover = _line_layer(paper.shape, [column], thickness, horizontal=False)
    return np.minimum(paper, paper - cover * (paper - tone))


def with_paper_edge(paper: np.ndarray, side: int, inset: int, thickness: float, tone: float) -> np.ndarray:
    """The paper ends ``inset`` pixels from side ``side`` (0 top, 1 bottom, 2 left, 3 right): a dark
    line (the edge's shadow) of grey ``tone``, and beyond it the scanner's lid, a little darker."""
    img = np.rot90(paper, k=(0, 2, 1, 3)[side]).copy()  # the side to treat is now the top
    img[:inset] = 205.0
    cover = _line_layer(img.shape, [float(inset)], thickness, horizontal=True)
    img = np.minimum(img, img - cover * (img - tone))
    return np.rot90(img, k=-(0, 2, 1, 3)[side])


def _lines(paper: np.ndarray, ink_box: tuple[int, int, int, int], kind: str,
           rng: np.random.Generator) -> np.ndarray:
    """The paper's lines of ``kind`` (of :data:`LINE_KINDS`; "lines and all" draws one of the
    others at random)."""
    if kind == "lines and all":
        kind = ("box", "ruled", "margin line", "paper edge")[int(rng.integers(0, 4))]
    h, w = paper.shape
    if kind == "box":
        return with_box(paper, ink_box, float(rng.uniform(0.05, 0.3)), int(rng.integers(2, 9)),
                        float(rng.uniform(20, 90)))
    if kind == "ruled":
        digit_h = ink_box[2] - ink_box[0]
        spacing = float(rng.uniform(0.25, 0.6)) * digit_h
        tone = float(rng.choice([rng.uniform(150, 200), rng.uniform(60, 120)]))  # faint blue-grey or dark
        return with_ruled_lines(paper, spacing, float(rng.uniform(0, spacing)), float(rng.uniform(1, 4)), tone)
    if kind == "margin line":
        gap = float(rng.uniform(0.2, 0.8)) * min(ink_box[1], w - ink_box[3])
        column = gap if rng.random() < 0.5 else w - 1 - gap
        return with_margin_line(paper, column, float(rng.uniform(1.5, 4)), float(rng.uniform(100, 170)))
    side = int(rng.integers(0, 4))
    room = (ink_box[0], h - ink_box[2], ink_box[1], w - ink_box[3])[side]
    return with_paper_edge(paper, side, max(3, int(rng.uniform(0.1, 0.6) * room)), float(rng.uniform(1.5, 4)),
                           float(rng.uniform(60, 130)))


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
    img, ink_box = _paper(digit, rng)
    if kind in LINE_KINDS:
        img = _lines(img, ink_box, kind, rng)
    if kind in ("table edge", "all", "lines and all"):
        img = _on_table(img, rng)
    if kind in ("gradient", "all", "lines and all"):
        img = _gradient(img, rng)
    if kind in ("shadow", "all", "lines and all"):
        img = _shadow(img, rng)
    img = img + rng.normal(0, 5, img.shape)
    out = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(out, format="JPEG", quality=85)
    return out.getvalue()
