"""Lines that are not the digit: a box drawn around it, ruled notebook lines, a margin line, the
paper's edge, in photos (dark ink on paper) and drawings (bright ink on black). The 28x28 crop
must be that of the same digit without them, and digits made of straight strokes (a 1, a 7's
bar, a 4) must come through whole."""

import numpy as np
import pytest
from photos import _paper, with_box, with_margin_line, with_paper_edge, with_ruled_lines
from PIL import Image, ImageDraw

import mnist_logreg.images as images
from mnist_logreg.images import read_digit
from mnist_logreg.tasks import stratified_subsample


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return float(np.corrcoef(a, b)[0, 1])


@pytest.fixture(scope="module")
def digits(mnist):
    """40 test digits, 4 of each class."""
    X, y = stratified_subsample(mnist.X_test, mnist.y_test, 40, random_state=3)
    return X, y


def _variants(x: np.ndarray, rng: np.random.Generator, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """The digit on plain paper, and the same paper with lines of ``kind``."""
    paper, box = _paper(x, rng)
    if kind == "box":
        lined = with_box(paper, box, float(rng.uniform(0.05, 0.3)), int(rng.integers(2, 9)), float(rng.uniform(20, 90)))
    elif kind == "ruled":
        spacing = float(rng.uniform(0.25, 0.6)) * (box[2] - box[0])
        tone = float(rng.choice([rng.uniform(150, 200), rng.uniform(60, 120)]))
        lined = with_ruled_lines(paper, spacing, float(rng.uniform(0, spacing)), float(rng.uniform(1, 4)), tone)
    elif kind == "margin line":
        lined = with_margin_line(paper, float(box[1]) * 0.5, 3.0, 140.0)
        lined = with_ruled_lines(lined, 0.4 * (box[2] - box[0]), 5.0, 2.0, 170.0)  # a notebook page
    else:  # the paper's edge, the digit near it
        lined = with_paper_edge(paper, int(rng.integers(0, 4)), 12, 3.0, 90.0)
    return paper, lined


@pytest.mark.parametrize("kind", ["box", "ruled", "margin line", "paper edge"])
def test_lines_around_the_digit_are_left_out(digits, model_10k, kind):
    """Before (no line removal), of these 40 crops 62% read as the plain digit's with a box
    around it (mean correlation 0.48), 42% on ruled paper (0.45), 22% on a notebook page with a
    margin line (0.31); the paper's edge was already left out (the ink touching the image's
    edge is dropped)."""
    model, _ = model_10k
    X, _ = digits
    rng = np.random.default_rng(11)
    plain, lined = [], []
    for x in X:
        a, b = _variants(x, rng, kind)
        plain.append(read_digit(a)[0].reshape(-1))
        lined.append(read_digit(b)[0].reshape(-1))
    corr = np.mean([_corr(a, b) for a, b in zip(plain, lined, strict=True)])
    agree = np.mean(model.predict(np.stack(plain)) == model.predict(np.stack(lined)))
    assert corr >= 0.85 and agree >= 0.85, (kind, corr, agree)


def _drawing(x: np.ndarray, box: tuple[float, float] | None) -> np.ndarray:
    """A 280x280 drawing (bright ink on black, as the web page's pad): the digit 7 times its size,
    and a box ``(margin in px, width in px)`` drawn around its ink."""
    big = np.asarray(Image.fromarray(x.reshape(28, 28)).resize((196, 196), Image.Resampling.BICUBIC), dtype=np.float64)
    canvas = np.zeros((280, 280))
    canvas[42:238, 42:238] = big
    if box is not None:
        rows, cols = np.nonzero(canvas > 60)
        img = Image.fromarray(canvas.astype(np.uint8))
        m, w = box
        ImageDraw.Draw(img).rectangle((cols.min() - m, rows.min() - m, cols.max() + m, rows.max() + m), outline=255,
                                      width=int(w))
        canvas = np.asarray(img, dtype=np.float64)
    return canvas


@pytest.mark.parametrize("box", [(12, 6), (20, 12), (30, 3)])
def test_a_box_drawn_around_a_drawing_is_left_out(digits, model_10k, box):
    """Before, 52%, 30% and 50% agreed (mean correlations 0.63, 0.41, 0.50). A box closer to
    the digit than a stroke's width, touching it, is not found (6 px from a 7x digit: 75%)."""
    model, _ = model_10k
    X, _ = digits
    plain = np.stack([read_digit(_drawing(x, None))[0].reshape(-1) for x in X])
    boxed = np.stack([read_digit(_drawing(x, box))[0].reshape(-1) for x in X])
    corr = np.mean([_corr(a, b) for a, b in zip(plain, boxed, strict=True)])
    agree = np.mean(model.predict(plain) == model.predict(boxed))
    assert corr >= 0.9 and agree >= 0.9, (box, corr, agree)


def _strokes(kind: str, ink_on_paper: bool) -> np.ndarray:
    """A digit of straight strokes drawn 12 px wide on a 280x280 pad or page."""
    img = Image.new("L", (280, 280), 0)
    draw = ImageDraw.Draw(img)
    paths = {"1": [[(140, 40), (140, 240)]],
             "7": [[(70, 50), (210, 50), (110, 240)]],
             "4": [[(110, 40), (70, 160), (220, 160)], [(180, 60), (180, 245)]],
             "4 open": [[(90, 60), (90, 150), (210, 150)], [(190, 40), (190, 250)]],
             "1 with a foot": [[(110, 70), (145, 40), (145, 240)], [(100, 240), (190, 240)]],
             "2 flat": [[(80, 80), (140, 40), (200, 80), (80, 230), (210, 230)]]}
    for path in paths[kind]:
        draw.line(path, fill=255, width=12, joint="curve")
    a = np.asarray(img, dtype=np.float64)
    return 235.0 - 0.85 * a if ink_on_paper else a


@pytest.mark.parametrize("ink_on_paper", [False, True])
@pytest.mark.parametrize("kind", ["1", "7", "4", "4 open", "1 with a foot", "2 flat"])
def test_straight_strokes_of_a_digit_are_kept(kind, ink_on_paper, monkeypatch):
    drawn = _strokes(kind, ink_on_paper)
    seen = read_digit(drawn)[0]
    monkeypatch.setattr(images, "_remove_lines", lambda ink: ink)
    reference = read_digit(drawn)[0]
    assert _corr(seen, reference) >= 0.99, kind


def test_a_straight_one_on_ruled_paper(monkeypatch):
    page = with_ruled_lines(_strokes("1", ink_on_paper=True), 45.0, 10.0, 2.0, 150.0)
    seen = read_digit(page)[0]
    monkeypatch.setattr(images, "_remove_lines", lambda ink: ink)
    reference = read_digit(_strokes("1", ink_on_paper=True))[0]
    assert _corr(seen, reference) >= 0.9


def test_mnist_style_digits_are_unchanged(mnist):
    X = [x for x in mnist.X_test[:50] if images._is_mnist_style(x.reshape(28, 28).astype(np.float64))]
    assert len(X) >= 45 and all(np.array_equal(read_digit(x)[0].reshape(-1), x) for x in X)
