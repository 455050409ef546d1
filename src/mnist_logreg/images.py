"""Turn a person's image of a digit into a 28x28 MNIST-style array.

MNIST digits are white ink on black, the ink size-normalised into a 20x20 box and centred by
centre of mass in a 28x28 frame. :func:`preprocess_image` brings any image to that form:

greyscale -> bright ink on dark (dark-on-light input is inverted) -> background and its noise
(estimated from the border) removed -> straight lines that are not the digit removed (ruled
lines, a margin line, the paper's edge, a box drawn around the digit; :func:`_remove_lines`)
-> crop to the ink -> longer side scaled to 20 px (anti-aliased, aspect kept) -> pasted into
28x28 with its centre of mass at the centre -> uint8.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputError, NoDigitError

__all__ = ["FORMATS", "MAX_PIXELS", "NOT_ONE_DIGIT", "BlankImageError", "CropNote", "CropWarning", "ImageError",
           "load_image", "preprocess_array",
           "preprocess_image",
           "read_digit", "read_image"]

#: images with more pixels than this are refused (protection against decompression bombs)
MAX_PIXELS = 25_000_000
#: larger images are reduced to about this many pixels right after decoding (JPEGs while
#: decoding): the digit ends up 28x28, and the float arrays of a 25-megapixel photo would take GBs
WORKING_PIXELS = 1_000_000
#: ink must stand this many grey levels (of 255) above the background
MIN_CONTRAST = 40


#: the file formats read (Pillow's names): still images that cameras, scanners, browsers and
#: drawing programs write. Pillow's other plugins (ICO, SPIDER, DDS, ...) are not tried: an ICO
#: declaring 256x256 could wrap a 13000x13000 PNG that was decoded before its size was checked,
#: and some plugins failed with EOFError or NotImplementedError on valid or damaged files
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "PPM")


class ImageError(InputError, ValueError):
    """An input is not a usable image of a digit."""


class BlankImageError(ImageError, NoDigitError):
    """An image was read but holds no ink to read a digit from."""


def load_image(source: str | os.PathLike[str] | bytes, name: str | None = None,
               max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read an image file (or its bytes) Pillow understands into a float greyscale array 0..255.

    Transparent images are flattened onto a background that contrasts with their ink; for GIFs
    and other multi-frame files the first frame is used. An image over ``max_pixels`` (from its
    header, before decoding) is refused; one over ``WORKING_PIXELS`` is reduced to about that
    size as it is decoded.

    Parameters
    ----------
    source : path or bytes
        An image file or its bytes.
    name : str or None, default None
        Names the image in messages (the path by default).
    max_pixels : int, default MAX_PIXELS
        The most pixels accepted.

    Returns
    -------
    ndarray of float64, shape (height, width)
        Grey values 0..255 (the first frame; possibly reduced in size, see above).
    """
    label = name or (str(source) if not isinstance(source, bytes) else "<image bytes>")
    fh: BinaryIO
    if isinstance(source, bytes):
        fh = io.BytesIO(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise ImageError(f"{label}: no such file")
        fh = path.open("rb")
    try:
        with fh, Image.open(fh, formats=FORMATS) as img:
            w, h = img.size
            if w * h > max_pixels:
                raise ImageError(f"{label}: {w}x{h} = {w * h} pixels is over the limit of {max_pixels}")
            return _greyscale(_decoded(img))
    except ImageError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageError(f"{label}: not an image in a format read here ({', '.join(FORMATS)})") from exc
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{label}: not an image Pillow can read ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{label}: unreadable image ({exc})") from exc
    except Exception as exc:  # a decoder's own failure on a damaged file (EOFError, struct.error, ...)
        raise ImageError(f"{label}: unreadable image ({type(exc).__name__}: {str(exc)[:200]})") from exc


def _decoded(img: Image.Image) -> Image.Image:
    """The first frame, turned as its EXIF tag says, reduced to about ``WORKING_PIXELS`` while it
    is decoded when larger (JPEG: at a reduced scale directly)."""
    w, h = img.size
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
    return img


def _greyscale(img: Image.Image) -> np.ndarray:
    """Grey levels 0..255 as float; a transparent image flattened onto a background that
    contrasts with its ink."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float64)
        grey = rgba[..., :3] @ np.array([0.299, 0.587, 0.114])
        alpha = rgba[..., 3] / 255.0
        opaque = alpha > 0.5
        ink_is_dark = grey[opaque].mean() < 128 if opaque.any() else True
        bg = 255.0 if ink_is_dark else 0.0
        return np.asarray(grey * alpha + bg * (1 - alpha))
    return np.asarray(img.convert("L"), dtype=np.float64)


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


#: images are read at most this many pixels on their shorter side (the digit ends up 20 px;
#: the lighting estimate needs a few hundred)
WORKING_SIDE = 320


class CropWarning(UserWarning):
    """The crop of an image looks wrong (the digit may be cut off, or more than a digit taken in)."""


class CropNote(str):
    """A note about an image for the user (a ``str``), with its ``kind``: ``"others left out"``,
    ``"edge"``, ``"too wide"``, ``"tiny"`` (see :data:`NOT_ONE_DIGIT`), or a kind of the caller's."""

    kind: str

    def __new__(cls, text: str, kind: str) -> CropNote:
        note = super().__new__(cls, text)
        note.kind = kind
        return note


#: the kinds of note that say an image does not hold one digit: more than one, or a mark too
#: small for its canvas to be one (a stray dot)
NOT_ONE_DIGIT = frozenset({"others left out", "too wide", "tiny"})
#: on a drawing's flat canvas, ink whose longer side is under this share of the canvas's shorter
#: side is noted "tiny" (a stray mark: on the page's 280-px pad, under 28 px)
TINY_SHARE = 0.1


def _wide_blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """``gaussian_filter(a, sigma, mode="nearest")`` for a wide ``sigma``, computed on block means.

    A blur 35 pixels wide is smooth: blurring the means of ``f x f`` blocks with ``sigma / f`` and
    interpolating back gives it to within a grey level on average (6 at most, at the borders of
    a steep gradient), in 4 ms instead of 28 on a 280x280 drawing, where it was most of the web
    page's time per request.
    """
    from scipy import ndimage

    f = int(sigma // 4)
    h, w = a.shape
    if f < 2 or h < 4 * f or w < 4 * f:
        return ndimage.gaussian_filter(a, sigma, mode="nearest")
    small = a[: h - h % f, : w - w % f].reshape(h // f, f, w // f, f).mean(axis=(1, 3))
    blurred = ndimage.gaussian_filter(small, sigma / f, mode="nearest")
    return ndimage.zoom(blurred, (h / blurred.shape[0], w / blurred.shape[1]), order=1, mode="nearest",
                        grid_mode=True)


def _flat_canvas(a: np.ndarray) -> bool:
    """Whether the image's edge is one flat colour: a drawing's canvas, not a photo or a scan."""
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    return bool(border.min() == border.max())


def _dark_ink(a: np.ndarray) -> bool:
    """Whether the ink is darker than its surroundings (a photo or scan of paper).

    A drawing on a canvas (the web page's pad, a digit drawn in a paint program) has one flat
    colour all around: the ink is what differs from it, darker or brighter on average. A mostly
    light image has dark ink. Otherwise (a shadow, a dark table) each pixel is divided
    by a wide blur of the image (a local brightness that follows a gradient, a shadow or a
    table), so the background, paper or table, lit or not, sits near 1. The background is the
    most common of these ratios; the ink is the far tail: below it for dark ink (at most 1
    below), above it for bright ink.
    """

    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    if _flat_canvas(a):  # no photo or scan has a perfectly flat edge
        ink = a[a != border[0]]
        if ink.size:  # (a blank canvas: left to the checks after, which say so)
            return bool(ink.mean() < border[0])
    if np.median(a) > 127:
        return True
    ratio = (a + 10.0) / _wide_blur(a + 10.0, min(a.shape) / 8)
    counts, edges = np.histogram(ratio, bins=400, range=(0.0, 4.0))
    background = edges[np.argmax(np.convolve(counts, np.ones(5), mode="same"))]
    low, high = np.percentile(ratio, [0.5, 99.5])
    return bool(background - low > high - background)


def _flatten_lighting(a: np.ndarray) -> np.ndarray:
    """Dark ink on unevenly lit paper -> ink strength 0..255 on a paper of 0.

    The paper's brightness at each place is estimated by a grey closing (a maximum then a
    minimum filter a sixth of the image wide): it fills strokes, which are narrower, and keeps
    a gradient, a shadow's edge and a table's edge, which are not. The ink is how much darker
    than its local paper a pixel is, as a ratio, so a stroke in shadow counts as one in light.
    """
    from scipy import ndimage

    a = ndimage.gaussian_filter(a, 1.0)  # the grain of paper, table and JPEG would raise the closing
    width = max(3, min(a.shape) // 6) | 1
    paper = ndimage.grey_closing(a, size=(width, width), mode="nearest")
    return 255.0 * np.clip(1.0 - a / np.maximum(paper, 1.0), 0.0, 1.0)


def _touches_edge(mask: np.ndarray) -> bool:
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def _keep_the_digit(ink: np.ndarray) -> tuple[np.ndarray, bool]:
    """Of a photograph's ink regions, keep those that make the digit.

    Regions touching the image's edge (a strip of table, the paper's edge, a shadow's border)
    are dropped when ink that does not touch it remains; then regions far from the largest one
    (a corner of the table, a mark elsewhere on the paper: farther than a quarter of its size)
    are dropped too. Returns the ink kept, and whether a far region dropped looked like writing
    (a quarter of the largest's area or more, at least 60% as dark: another digit, perhaps).
    """
    from scipy import ndimage

    labels, n = ndimage.label(ink > 0, structure=np.ones((3, 3)))
    if n <= 1:
        return ink, False
    keep = np.ones(n + 1, dtype=bool)
    keep[0] = False
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    edge = edge[edge > 0]
    if 0 < len(edge) < n:
        keep[edge] = False
    boxes = ndimage.find_objects(labels)
    sizes = ndimage.sum_labels(ink > 0, labels, index=np.arange(1, n + 1))
    strength = ndimage.mean(ink, labels, index=np.arange(1, n + 1))
    largest = int(np.argmax(np.where(keep[1:], sizes, -1)))
    main = boxes[largest]
    reach = 0.25 * max(main[0].stop - main[0].start, main[1].stop - main[1].start)
    dropped_large = False
    for k, box in enumerate(boxes, start=1):
        gap_rows = max(main[0].start - box[0].stop, box[0].start - main[0].stop, 0)
        gap_cols = max(main[1].start - box[1].stop, box[1].start - main[1].stop, 0)
        if keep[k] and max(gap_rows, gap_cols) > reach:
            keep[k] = False
            dropped_large |= bool(sizes[k - 1] >= 0.25 * sizes[largest]
                                  and strength[k - 1] >= 0.6 * strength[largest])
    return np.where(keep[labels], ink, 0.0), dropped_large


#: a straight run of ink is taken for a possible line when it is at least this share of the ink's
#: extent along it (a ruled line spans the page, a box's side the box)
LINE_SHARE = 0.4
#: a line is removed when it reaches this share of the digit's size beyond the digit at both
#: ends (3 px at least): a 7's bar or a 4's stem ends at the digit's other strokes, a ruled line,
#: a margin line, a paper's edge or a box's side goes on past them
LINE_OVERHANG = 0.03


#: lines are looked for on the ink map reduced this many times (when it is at least 80 px on
#: its shorter side then): 4 times fewer pixels, a web page's request the faster
LINE_REDUCTION = 2


@dataclass(frozen=True)
class _Line:
    """A straight line of ink, in the coordinates of a mask where it is horizontal: its centre
    is at row ``centre + slope * column`` for columns ``start`` to ``stop - 1``; ``half`` is half
    the width of the band that removes it."""

    centre: float
    slope: float
    start: int
    stop: int
    half: float
    #: the share of its columns where it has ink (a faint line is broken, an arc leaves its band)
    cover: float = 1.0

    def band(self, shape: tuple[int, int]) -> np.ndarray:
        """The pixels of an array of ``shape`` that the line covers (its ends rounded off)."""
        out = np.zeros(shape, dtype=bool)
        pad = math.ceil(self.half)
        c0, c1 = max(0, self.start - pad), min(shape[1], self.stop + pad)
        cols = np.arange(c0, c1)
        centre = self.centre + self.slope * cols
        r0 = max(0, math.floor(centre.min() - self.half))
        r1 = min(shape[0], math.ceil(centre.max() + self.half) + 1)
        rows = np.arange(r0, r1)[:, None]
        out[r0:r1, c0:c1] = np.abs(rows - centre[None, :]) <= self.half
        return out


def _straight_runs(mask: np.ndarray, extent: int) -> np.ndarray:
    """The ink of ``mask`` in horizontal runs at least a tenth of ``extent`` long, the mask
    thickened by 2 px up and down first (so that a line turned by a few degrees keeps long runs):
    a morphological opening, as a minimum then a maximum filter along the rows (linear in time
    whatever the length)."""
    from scipy import ndimage

    length = max(9, int(0.1 * extent)) | 1
    thick = ndimage.maximum_filter1d(mask.astype(np.uint8), 5, axis=0, mode="constant", cval=0)
    eroded = ndimage.minimum_filter1d(thick, length, axis=1, mode="constant", cval=0)
    return (ndimage.maximum_filter1d(eroded, length, axis=1, mode="constant", cval=0) > 0) & mask


def _middle_slope(votes: np.ndarray, slopes: np.ndarray, s: int, o: int, at: np.ndarray) -> tuple[int, int]:
    """The middle of the slopes at which the strongest strip ``(s, o)`` holds nearly as many
    pixels: a thick line holds as many along a range of slopes about its own."""
    mid = float(at.mean())
    best = []
    for k in range(len(slopes)):
        centre = round(o + (slopes[s] - slopes[k]) * mid)
        lo, hi = max(0, centre - 3), min(votes.shape[1], centre + 4)
        if hi > lo:
            best.append((int(votes[k, lo:hi].max()), lo + int(np.argmax(votes[k, lo:hi]))))
        else:
            best.append((0, 0))
    near = [k for k in range(len(slopes)) if best[k][0] >= 0.97 * votes[s, o]]
    run = [k for k in near if all(j in near for j in range(min(k, s), max(k, s) + 1))]
    k = run[len(run) // 2]
    return k, best[k][1]


def _horizontal_lines(mask: np.ndarray) -> list[_Line]:
    """The thin, straight, nearly horizontal lines of ``mask`` at least :data:`LINE_SHARE` of the
    ink's width long.

    The ink in long horizontal runs (:func:`_straight_runs`) is projected along slopes up to
    0.1 (a Hough transform for nearly horizontal lines; a strip steeper than 0.085, 4.9 degrees,
    is a slanted stroke, not a line on a photo held askew): the strongest strip is a
    line if it holds :data:`LINE_SHARE` of the ink's width, and is thin (the strips beside it
    with at least half its count: at most 20% of its length, 3 px at least). Its pixels are
    then taken out of the projection and the next strongest is looked at. A line is kept if it
    has ink in at least 60% of the columns it spans (a faint line is broken, a digit's strokes
    near one another are not a line).
    """
    cols = np.flatnonzero(mask.any(axis=0))
    if len(cols) == 0:
        return []
    extent = int(cols[-1] - cols[0] + 1)
    rows, at = np.nonzero(_straight_runs(mask, extent))
    if len(rows) < LINE_SHARE * extent:
        return []
    step = max(0.002, 1.5 / extent)
    slopes = step * np.arange(-int(0.1 / step), int(0.1 / step) + 1)  # 0 among them
    shift = int(np.ceil(0.1 * mask.shape[1])) + 1
    size = mask.shape[0] + 2 * shift
    offsets = np.round(rows[None, :] - slopes[:, None] * at[None, :]).astype(np.int64) + shift
    votes = np.stack([np.bincount(o, minlength=size) for o in offsets])
    lines: list[_Line] = []
    for _ in range(64):
        s, o = (int(v) for v in np.unravel_index(int(np.argmax(votes)), votes.shape))
        peak = votes[s, o]
        if peak < LINE_SHARE * extent:
            break
        s, o = _middle_slope(votes, slopes, s, o, at)
        lo, hi = o, o
        while lo > 0 and votes[s, lo - 1] >= 0.5 * peak:
            lo -= 1
        while hi < size - 1 and votes[s, hi + 1] >= 0.5 * peak:
            hi += 1
        thickness = hi - lo + 1
        centre = float(np.average(np.arange(lo, hi + 1), weights=votes[s, lo : hi + 1])) - shift
        if abs(slopes[s]) > 0.085:  # steeper than a photo held askew: a slanted stroke, its strip only
            votes[s, lo : hi + 1] = 0
            continue
        on = np.abs(rows - slopes[s] * at - centre) <= thickness / 2 + 1.0
        votes[np.repeat(np.arange(len(slopes)), on.sum()), offsets[:, on].ravel()] = 0  # its pixels, at every slope
        if not on.any():
            continue
        line = _Line(centre, float(slopes[s]), int(at[on].min()), int(at[on].max()) + 1, thickness / 2 + 1.0)
        if line.stop - line.start < LINE_SHARE * extent or thickness > max(3.0, 0.2 * (line.stop - line.start)):
            continue  # short, or a blob (a table, a filled shape)
        cover = float((line.band(mask.shape) & mask)[:, line.start : line.stop].any(axis=0).mean())
        if cover >= 0.6:
            lines.append(_Line(line.centre, line.slope, line.start, line.stop, line.half, cover))
    return lines


def _digit_extent(other: np.ndarray) -> tuple[tuple[int, int, int, int], int, np.ndarray] | None:
    """The box (top, left, bottom, right; inclusive), the area and the mask of the digit in
    ``other``, the ink left when the possible lines are taken out: its largest piece away from
    the image's edge and the pieces near it (as :func:`_keep_the_digit` keeps), pieces under 5%
    of the largest left out. None when no piece is 20 px or more."""
    from scipy import ndimage

    labels, n = ndimage.label(other, structure=np.ones((3, 3)))
    if n == 0:
        return None
    sizes = ndimage.sum_labels(other, labels, index=np.arange(1, n + 1))
    if sizes.max() < 20:
        return None
    big = np.flatnonzero(sizes >= 0.05 * sizes.max()) + 1
    kept, _ = _keep_the_digit(np.isin(labels, big).astype(np.float64))
    rows, cols = np.nonzero(kept)
    return (int(rows.min()), int(cols.min()), int(rows.max()), int(cols.max())), len(rows), kept > 0


def _bands(lines: list[_Line], shape: tuple[int, int]) -> np.ndarray:
    """The pixels of an array of ``shape`` that ``lines`` cover."""
    out = np.zeros(shape, dtype=bool)
    for line in lines:
        out |= line.band(shape)
    return out


def _meets(line: _Line, others: list[_Line]) -> bool:
    """Whether both ends of ``line`` reach into lines of ``others`` (perpendicular to it, given in
    the transposed coordinates), within 1 px: the sides of a box or frame, which meet at corners
    (a digit's stroke inside a box stops short of the box's sides)."""
    tol = 2.0 + 0.03 * (line.stop - line.start)

    def reaches(col: float, sign: int) -> bool:
        row = line.centre + line.slope * col
        for o in others:
            at = o.centre + o.slope * row
            past = sign * (col - at)  # how far the line goes on past the other: a corner's overshoot
            if o.start - tol <= row <= o.stop + tol and -(o.half + 1.0) <= past <= o.half + tol:
                return True
        return False

    return reaches(float(line.start), -1) and reaches(float(line.stop - 1), 1)


def _spans(line: _Line, mask: np.ndarray) -> bool:
    """Whether ``line`` reaches (within 3%) both ends of the ink's extent along it."""
    cols = np.flatnonzero(mask.any(axis=0))
    reach = 0.03 * (cols[-1] - cols[0] + 1)
    return line.start <= cols[0] + reach and line.stop - 1 >= cols[-1] - reach


def _is_extra(line: _Line, frame: bool, digit: tuple[int, int, int, int], horizontal: bool,
              ruled: bool = False) -> bool:
    """Whether ``line`` is not part of the digit whose box is ``digit``: it goes on past the digit
    at both ends by :data:`LINE_OVERHANG` of its extent (3 px at least), and is a side of a frame
    or at least 1.5 times as long as the digit along it; a line crossing the digit that is not
    ``ruled`` (one of several parallel lines) three times: a 4's stem can be twice as long as
    the rest of the 4."""
    top, left, bottom, right = digit if horizontal else (digit[1], digit[0], digit[3], digit[2])
    reach = max(3.0, LINE_OVERHANG * (right - left + 1))
    if line.start > left - reach or line.stop - 1 < right + reach:
        return False
    if frame:
        return True
    mid = line.centre + line.slope * (left + right) / 2
    crosses = top <= mid <= bottom
    factor = (1.5 if ruled else 3.0) if crosses else 1.5
    return line.stop - line.start >= factor * (right - left + 1)


def _attached(line: _Line, digit: np.ndarray) -> bool:
    """Whether the ``digit`` (a mask in the line's coordinates) has ink at an end of ``line``,
    within its half-width and 3 px: a 7's bar, whose stem hangs from its end, an 8's sides seen
    as a frame, whose crossing reaches the corners (a ruled line, a margin line or a box's side
    ends away from the digit)."""
    reach = math.ceil(line.half) + 3
    for col in (line.start, line.stop - 1):
        row = round(line.centre + line.slope * col)
        if digit[max(0, row - reach) : row + reach + 1, max(0, col - reach) : col + reach + 1].any():
            return True
    return False


def _ruled(lines: list[_Line], frames: list[bool]) -> list[bool]:
    """For each of ``lines``, whether two others, not a frame's sides (``frames``), are parallel
    to it (slopes within 0.02), as long within 20%, and apart from it by more than twice their
    widths: ruled paper's lines (not a thick stroke seen as two lines, a paper's edge beside a
    1, an 8's or a 0's two sides). Only horizontal lines are judged so."""

    def partners(line: _Line, o: _Line) -> bool:
        mid = (max(line.start, o.start) + min(line.stop, o.stop)) / 2
        apart = abs(line.centre + line.slope * mid - o.centre - o.slope * mid)
        length, other = line.stop - line.start, o.stop - o.start
        return (abs(o.slope - line.slope) <= 0.02 and 0.8 * length <= other <= 1.25 * length
                and apart > 2 * (line.half + o.half))

    return [sum(o is not line and not f and partners(line, o) for o, f in zip(lines, frames, strict=True)) >= 2
            for line in lines]


def _lines_to_remove(mask: np.ndarray) -> tuple[list[_Line], list[_Line]]:
    """The horizontal lines and the vertical lines (in the transposed mask's coordinates) of
    ``mask`` that are not part of the digit (:func:`_is_extra`): ruled lines, margin lines, a
    paper's edges, a box's sides.

    A line that is not ruled must have ink along 90% of its length (an 8's side is an arc that
    leaves the band). A lone line (not a frame's side nor one of parallel lines) with more ink
    than the digit is part of it (a 1's stem, whose flag is what remains), and so is a line the digit reaches at
    an end (:func:`_attached`).
    The digit is what remains when the lines judged not part of it are taken out, which is
    found by going back and forth: all possible lines are taken out first, those that turn out
    to be part of the digit (a 4's stem, whose own bar went past the rest) are put back and the
    others judged again, until nothing changes (4 rounds at most). When little remains at first
    (less than half the ink of the possible lines that are neither a frame's sides nor span the
    ink: a 1 on ruled paper), only those that are a frame's sides or span the ink are taken out.
    """
    across = _horizontal_lines(mask), _horizontal_lines(mask.T)
    if not across[0] and not across[1]:
        return [], []
    frames = ([_meets(line, across[1]) for line in across[0]], [_meets(line, across[0]) for line in across[1]])
    outer = ([f or _spans(line, mask) for line, f in zip(across[0], frames[0], strict=True)],
             [f or _spans(line, mask.T) for line, f in zip(across[1], frames[1], strict=True)])

    def remains(chosen: tuple[list[bool], list[bool]]) -> tuple[tuple[int, int, int, int], int, np.ndarray] | None:
        lines = [[line for line, c in zip(across[axis], chosen[axis], strict=True) if c] for axis in (0, 1)]
        return _digit_extent(mask & ~_bands(lines[0], mask.shape) & ~_bands(lines[1], mask.T.shape).T)

    ruled = (_ruled(across[0], frames[0]), [False] * len(across[1]))
    inks = ([int((line.band(mask.shape) & mask).sum()) for line in across[0]],
            [int((line.band(mask.T.shape) & mask.T).sum()) for line in across[1]])
    extra = ([True] * len(across[0]), [True] * len(across[1]))
    digit = remains(extra)
    inner = ([not o for o in outer[0]], [not o for o in outer[1]])
    inner_ink = int((mask & ~_remains_mask(mask, across, inner)).sum()) if any(inner[0] + inner[1]) else 0
    if digit is None or digit[1] < 0.5 * inner_ink:
        extra = outer
        digit = remains(extra)
    for _ in range(4):
        if digit is None:
            return [], []
        judged = ([_is_extra(line, f, digit[0], True, r) and (r or line.cover >= 0.9) and (f or r or i < digit[1])
                   and (f or not _attached(line, digit[2]))
                   for line, f, r, i in zip(across[0], frames[0], ruled[0], inks[0], strict=True)],
                  [_is_extra(line, f, digit[0], False, r) and (r or line.cover >= 0.9) and (f or r or i < digit[1])
                   and (f or not _attached(line, digit[2].T))
                   for line, f, r, i in zip(across[1], frames[1], ruled[1], inks[1], strict=True)])
        if judged == extra:
            break
        extra = judged
        digit = remains(extra)
    return ([line for line, e in zip(across[0], extra[0], strict=True) if e],
            [line for line, e in zip(across[1], extra[1], strict=True) if e])


def _remains_mask(mask: np.ndarray, across: tuple[list[_Line], list[_Line]],
                 chosen: tuple[list[bool], list[bool]]) -> np.ndarray:
    """``mask`` without the bands of the ``chosen`` lines of ``across``."""
    lines = [[line for line, c in zip(across[axis], chosen[axis], strict=True) if c] for axis in (0, 1)]
    return mask & ~_bands(lines[0], mask.shape) & ~_bands(lines[1], mask.T.shape).T


def _remove_lines(ink: np.ndarray) -> np.ndarray:
    """``ink`` without the straight lines that are not part of the digit (see
    :func:`_lines_to_remove`): ruled lines, margin lines, the paper's edges, a box or frame
    drawn around the digit.

    The lines are found on the ink map reduced :data:`LINE_REDUCTION` times. The band each line
    covers is cleared with 1 px on either side (the line's faint rim), then where a stroke
    crossed the line the gap is bridged: there, a grey closing across the line (as long as the
    cleared strip is wide, plus 2 px) puts back the ink that has the stroke on both sides of it.
    Returns ``ink`` itself when no line is removed.
    """
    from scipy import ndimage

    mask = ink > 0
    if not mask.any():
        return ink
    f = LINE_REDUCTION if min(mask.shape) >= 80 * LINE_REDUCTION else 1
    if f > 1:  # found on the mask reduced f times (a pixel there is inked if any of its f x f is)
        h, w = mask.shape
        padded = np.pad(mask, ((0, -h % f), (0, -w % f)))
        small = np.asarray(padded.reshape(padded.shape[0] // f, f, padded.shape[1] // f, f).any(axis=(1, 3)))
        found = _lines_to_remove(small)
        horizontal, vertical = ([_Line(f * line.centre + (f - 1) / 2, line.slope, f * line.start, f * line.stop,
                                       f * (line.half - 1.0) + 1.0, line.cover) for line in lines] for lines in found)
    else:
        horizontal, vertical = _lines_to_remove(mask)
    if not horizontal and not vertical:
        return ink
    out = ink.copy()
    removed = []
    for lines, axis in ((horizontal, 0), (vertical, 1)):
        if not lines:
            continue
        band = _bands(lines, ink.T.shape).T if axis else _bands(lines, ink.shape)
        # and the line's faint rim, 1 px on either side, which would otherwise bridge the band
        zone = ndimage.maximum_filter1d(band.astype(np.uint8), 3, axis=axis) > 0
        out[zone] = 0.0
        width = 2 * math.ceil(max(line.half for line in lines)) + 5
        removed.append((zone, (1, width) if axis else (width, 1)))
    for zone, size in removed:
        closed = ndimage.grey_closing(out, size=size, mode="constant", cval=0.0)
        out[zone] = closed[zone]
    return out if out.any() else ink


def _box(ink: np.ndarray) -> tuple[int, int, int, int]:
    """The box (top, left, bottom, right; inclusive) of the ink; all -1 when none."""
    rows, cols = np.nonzero(ink.any(axis=1))[0], np.nonzero(ink.any(axis=0))[0]
    if len(rows) == 0:
        return -1, -1, -1, -1
    return int(rows[0]), int(cols[0]), int(rows[-1]), int(cols[-1])


def _crop_notes(ink: np.ndarray, name: str, dropped_large: bool = False, canvas: bool = False) -> list[CropNote]:
    """What looks wrong about the crop of ``ink`` (the image's ink map, 0 where none);
    ``dropped_large``: ink as large as a digit's part was left out, away from the digit;
    ``canvas``: the image is a drawing on a flat canvas (where a tiny mark is a stray one)."""
    notes = []
    if dropped_large:
        notes.append(CropNote(f"{name}: other marks away from the digit were left out: only the largest digit "
                              "is read (one digit per image)", "others left out"))
    mask = ink > 0
    if _touches_edge(mask):
        notes.append(CropNote(f"{name}: the ink reaches the image's edge: the digit may be cut off (leave space "
                              "around it), or the crop takes in the paper's edge or a shadow", "edge"))
    rows, cols = np.nonzero(mask)
    h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    if w > 1.8 * h:  # 99.9% of MNIST digits are at most 1.67 times wider than high
        notes.append(CropNote(f"{name}: the ink is {w / h:.1f} times wider than high, wider than any digit: "
                              "more than one digit, or a line that is not part of it", "too wide"))
    side = min(ink.shape)
    if canvas and max(h, w) < TINY_SHARE * side:
        notes.append(CropNote(f"{name}: the ink is {max(h, w)} px across on a canvas {side} px wide: a stray mark "
                              "rather than a digit? (draw the digit larger)", "tiny"))
    return notes


def read_digit(grey: np.ndarray, name: str = "<array>") -> tuple[np.ndarray, list[CropNote]]:
    """Bring a greyscale image to a 28x28 MNIST-style digit, and say what looks wrong.

    Parameters
    ----------
    grey : ndarray
        Greyscale values 0..255, any size (a 784-vector is a 28x28 image).
    name : str
        Names the image in messages.

    Returns
    -------
    digit : ndarray of uint8, shape (28, 28)
        Bright ink on black, as in MNIST.
    notes : list of str
        Sentences for the user when the crop looks wrong (ink at the image's edge, ink wider
        than any digit); empty when all looks well.

    Raises
    ------
    ImageError
        Not a 2-D greyscale image with values in 0..255, or blank (no ink).
    """
    a = np.asarray(grey, dtype=np.float64)
    if a.shape == (784,):
        a = a.reshape(28, 28)
    if a.ndim != 2 or min(a.shape) < 1:
        raise ImageError(f"{name}: expected a 2-D greyscale image, found shape {a.shape}")
    if not np.all(np.isfinite(a)) or a.min() < 0 or a.max() > 255:
        raise ImageError(f"{name}: pixel values must lie in 0..255")
    if _is_mnist_style(a):
        return a.round().astype(np.uint8), []
    if min(a.shape) > WORKING_SIDE:  # a few hundred pixels are enough for a 20-px digit, and fast
        factor = WORKING_SIDE / min(a.shape)
        size = (max(1, round(a.shape[1] * factor)), max(1, round(a.shape[0] * factor)))
        a = np.asarray(Image.fromarray(a.astype(np.float32)).resize(size, Image.Resampling.BOX), dtype=np.float64)
    canvas = _flat_canvas(a)
    photo = _dark_ink(a)
    if photo:  # dark ink on paper: flatten the lighting
        a = _flatten_lighting(a)
        background = float(np.median(a))
        noise = 1.4826 * float(np.median(np.abs(a - background)))  # robust std of the paper
    else:  # bright ink on a dark background (a drawing): the border is the background
        border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
        background = float(np.median(border))
        noise = 1.4826 * float(np.median(np.abs(border - background)))
    peak = float(np.percentile(a, 99.9))
    if peak - background < MIN_CONTRAST:
        raise BlankImageError(f"{name}: blank image: no digit found (the ink is too faint, or too small to read: "
                              "draw it larger)")
    # everything within 3 noise levels of the paper is background (in a photograph, also what is
    # less than 15% as dark as the darkest ink: a textured table, a shadow's rim); the rest is
    # stretched to 0..1
    floor = 0.15 * (peak - background) if photo else 0.0
    threshold = background + min(max(3 * noise + 1, floor), 0.5 * (peak - background))
    ink = np.clip((a - threshold) / (peak - threshold), 0, 1)
    lined = _remove_lines(ink)
    found = lined is not ink
    ink = _drop_specks(lined)
    dropped_large = False
    if photo:
        kept, dropped_large = _keep_the_digit(ink)
        if not found and _box(kept) != _box(ink):
            # none found: again without the table and the edges, next to which a box is short
            ink = kept
            lined = _remove_lines(ink)
            if lined is not ink:
                kept, dropped_large = _keep_the_digit(_drop_specks(lined))
        ink = kept
    notes = _crop_notes(ink, name, dropped_large, canvas)
    rows, cols = np.nonzero(ink)
    ink = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    h, w = ink.shape
    scale = 20.0 / max(h, w)
    new_size = (max(1, round(w * scale)), max(1, round(h * scale)))
    resized = Image.fromarray((ink * 255).astype(np.uint8)).resize(new_size, Image.Resampling.LANCZOS)
    small = np.asarray(resized, dtype=np.float64)
    total = small.sum()
    if total <= 0:
        raise BlankImageError(f"{name}: blank image: the ink vanished when scaled to 20 px")
    yy, xx = np.indices(small.shape)
    cy, cx = (yy * small).sum() / total, (xx * small).sum() / total
    top = int(np.clip(round(14.0 - cy), 0, 28 - small.shape[0]))  # MNIST puts the centre of mass at (14, 14)
    left = int(np.clip(round(14.0 - cx), 0, 28 - small.shape[1]))
    out = np.zeros((28, 28))
    out[top : top + small.shape[0], left : left + small.shape[1]] = small
    out *= 255.0 / out.max()  # MNIST strokes peak at full intensity
    return np.clip(out, 0, 255).round().astype(np.uint8), notes


def preprocess_array(grey: np.ndarray, name: str = "<array>") -> np.ndarray:
    """Bring a greyscale image (values 0..255, any size) to a 28x28 uint8 MNIST-style digit.

    As :func:`read_digit`, with its notes given as :class:`CropWarning` warnings.

    Parameters
    ----------
    grey : ndarray
        Greyscale values 0..255, any size (a 784-vector is a 28x28 image).
    name : str, default "<array>"
        Names the image in messages and warnings.

    Returns
    -------
    ndarray of uint8, shape (28, 28)
        The digit, white ink on black, centred by its centre of mass as MNIST's are.
    """
    digit, notes = read_digit(grey, name)
    for note in notes:
        warnings.warn(note, CropWarning, stacklevel=2)
    return digit


def read_image(source: str | os.PathLike[str] | bytes | np.ndarray, name: str | None = None,
               max_pixels: int = MAX_PIXELS) -> tuple[np.ndarray, list[CropNote]]:
    """A file path, image bytes, or greyscale array -> 28x28 MNIST-style digit, and notes.

    Parameters
    ----------
    source : path, bytes or ndarray
        An image file, its bytes, or greyscale values 0..255.
    name : str, optional
        Names the image in messages (the path by default).
    max_pixels : int
        Bounds the image's size (from its header, before decoding).

    Returns
    -------
    digit : ndarray of uint8, shape (28, 28)
    notes : list of str
        What looks wrong about the crop (see :func:`read_digit`), for the user.

    Raises
    ------
    ImageError
        Not an image, unreadable, too many pixels, or blank (no ink).
    """
    if isinstance(source, np.ndarray):
        return read_digit(source, name or "<array>")
    label = name or (str(source) if not isinstance(source, bytes) else "<image bytes>")
    return read_digit(load_image(source, label, max_pixels), label)


def preprocess_image(source: str | os.PathLike[str] | bytes | np.ndarray, name: str | None = None,
                     max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """A file path, image bytes, or greyscale array -> 28x28 uint8 MNIST-style digit.

    As :func:`read_image`, with its notes given as :class:`CropWarning` warnings.

    Parameters
    ----------
    source : path, bytes or ndarray
        An image file, its bytes, or greyscale values 0..255.
    name : str or None, default None
        Names the image in messages and warnings (the path by default).
    max_pixels : int, default MAX_PIXELS
        Bounds the image's size (from its header, before decoding).

    Returns
    -------
    ndarray of uint8, shape (28, 28)
        The digit, white ink on black, centred by its centre of mass as MNIST's are.

    Raises
    ------
    ImageError
        Not an image, unreadable, too many pixels, or blank (no ink).
    """
    digit, notes = read_image(source, name, max_pixels)
    for note in notes:
        warnings.warn(note, CropWarning, stacklevel=2)
    return digit
