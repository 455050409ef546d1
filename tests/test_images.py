"""Preprocessing of people's images: 'paper' versions of MNIST digits must still be read."""

import io

import numpy as np
import pytest
from PIL import Image

from mnist_logreg.images import MAX_PIXELS, ImageError, preprocess_image


def to_paper(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """An MNIST digit as a person's photo of paper: big, dark ink on light, off-centre, JPEG."""
    scale = int(rng.integers(5, 11))
    img = Image.fromarray(255 - digit.reshape(28, 28)).resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC)
    angle = float(rng.uniform(-6, 6)) if rng.random() < 0.5 else 0.0  # some are rotated
    img = img.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255)
    w, h = img.size
    left, top, right, bottom = (int(v) for v in rng.integers(10, 160, size=4))
    paper = Image.new("L", (w + left + right, h + top + bottom), 235)
    paper.paste(img.point(lambda v: min(v, 235)), (left, top))
    noisy = np.asarray(paper, dtype=float) + rng.normal(0, 6, (paper.size[1], paper.size[0]))
    out = io.BytesIO()
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(out, format="JPEG", quality=80)
    return out.getvalue()


def test_paper_digits_keep_accuracy(mnist, model_10k):
    model, _ = model_10k
    rng = np.random.default_rng(0)
    idx = rng.choice(len(mnist.y_test), 300, replace=False)
    X, y = mnist.X_test[idx], mnist.y_test[idx]
    original = model.score(X, y)
    seen = np.stack([preprocess_image(to_paper(x, rng)).reshape(-1) for x in X])
    paper = model.score(seen, y)
    assert paper >= original - 0.03, (original, paper)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "GIF", "WEBP"])
def test_formats_and_output_form(fmt, mnist):
    digit = mnist.X_test[0].reshape(28, 28)
    img = Image.fromarray(255 - digit).resize((140, 140))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    out = preprocess_image(buf.getvalue())
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert out.max() >= 200 and out[:2].max() == 0 and out[:, :2].max() == 0  # ink bright, border dark
    rows, cols = np.nonzero(out > 30)
    assert max(rows.max() - rows.min(), cols.max() - cols.min()) <= 21  # size-normalised to ~20 px
    total = out.sum()
    cy = (np.arange(28)[:, None] * out).sum() / total
    cx = (np.arange(28)[None, :] * out).sum() / total
    assert abs(cy - 14) < 0.75 and abs(cx - 14) < 0.75  # centre of mass at (14, 14), as in MNIST


def test_transparent_drawing(mnist):
    rgba = np.zeros((100, 100, 4), np.uint8)
    rgba[20:80, 45:55] = (0, 0, 0, 255)  # black stroke on a transparent background
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
    out = preprocess_image(buf.getvalue())
    assert out.max() > 200 and out[0].max() == 0


def test_mnist_style_inputs_pass_through(mnist):
    digit = mnist.X_test[5].reshape(28, 28)
    np.testing.assert_array_equal(preprocess_image(digit), digit)
    np.testing.assert_array_equal(preprocess_image(digit.reshape(-1)), digit)
    buf = io.BytesIO()
    Image.fromarray(digit).save(buf, format="PNG")
    np.testing.assert_array_equal(preprocess_image(buf.getvalue()), digit)


def test_errors(tmp_path):
    with pytest.raises(ImageError, match="not an image in a format read here"):
        preprocess_image(b"hello, not an image")
    with pytest.raises(ImageError, match="no such file"):
        preprocess_image(tmp_path / "missing.png")
    blank = io.BytesIO()
    Image.new("L", (50, 50), 255).save(blank, format="PNG")
    with pytest.raises(ImageError, match="blank image"):
        preprocess_image(blank.getvalue())
    big = io.BytesIO()
    Image.new("1", (6000, 5000), 1).save(big, format="PNG")
    assert 6000 * 5000 > MAX_PIXELS
    with pytest.raises(ImageError, match="over the limit"):
        preprocess_image(big.getvalue())
    trunc = io.BytesIO()
    Image.new("L", (50, 50), 0).save(trunc, format="PNG")
    with pytest.raises(ImageError, match=r"unreadable image|not an image"):
        preprocess_image(trunc.getvalue()[:60])
    with pytest.raises(ImageError, match="2-D greyscale"):
        preprocess_image(np.zeros((3, 3, 3)))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_large_photos_are_reduced_while_decoding(mnist, fmt, tmp_path):
    """A 12-megapixel photo of a digit is read at about 1 MP (memory bounded) and still read right."""
    import resource

    from mnist_logreg.images import WORKING_PIXELS, load_image

    digit = Image.fromarray(255 - mnist.X_test[0].reshape(28, 28)).resize((3000, 4000))
    path = tmp_path / f"big.{fmt.lower()}"
    digit.convert("RGB").save(path, format=fmt)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    grey = load_image(path)
    assert grey.size <= WORKING_PIXELS * 1.2
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 300  # 12 MP as float64 RGBA alone would be 384 MB
    seen = preprocess_image(path)
    assert seen.shape == (28, 28) and seen.max() > 128


@pytest.mark.parametrize("kind", ["table edge", "gradient", "shadow", "all"])
def test_harsh_photos_are_read(mnist, model_10k, kind):
    """Paper on a darker table, lit unevenly, with a shadow across it (tests/photos.py): the
    lighting is flattened and the table's edges ignored, so such photos are read nearly as well
    as the digits themselves (before, 21%, 87%, 34% and 8.5% of 200 such photos were read)."""
    from photos import harsh_photo

    model, _ = model_10k
    rng = np.random.default_rng(1)
    idx = rng.choice(len(mnist.y_test), 80, replace=False)
    X, y = mnist.X_test[idx], mnist.y_test[idx]
    seen = np.stack([preprocess_image(harsh_photo(x, rng, kind)).reshape(-1) for x in X])
    assert model.score(seen, y) >= model.score(X, y) - 0.08, kind


def _paper_png(digit: np.ndarray, crop=None) -> bytes:
    img = Image.fromarray(255 - digit.reshape(28, 28)).resize((140, 140))
    paper = Image.new("L", (300, 240), 255)
    paper.paste(img, (80, 50))
    if crop is not None:
        paper = paper.crop(crop)
    buf = io.BytesIO()
    paper.save(buf, format="PNG")
    return buf.getvalue()


def test_a_crop_that_looks_wrong_is_noted(mnist):
    from mnist_logreg.images import CropWarning, read_image

    seven = mnist.X_test[0]
    digit, notes = read_image(_paper_png(seven))
    assert digit.shape == (28, 28) and notes == []
    # the photo cuts the digit off at its middle
    _, notes = read_image(_paper_png(seven, crop=(0, 0, 300, 120)), name="cut.png")
    assert notes[0].startswith("cut.png: the ink reaches the image's edge")
    # two digits side by side
    pair = np.hstack([seven.reshape(28, 28), mnist.X_test[1].reshape(28, 28), mnist.X_test[2].reshape(28, 28)])
    img = Image.new("L", (500, 200), 255)
    img.paste(Image.fromarray(255 - pair).resize((336, 112)), (80, 40))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    _, notes = read_image(buf.getvalue(), name="three.png")
    assert any("only the largest digit is read" in n for n in notes), notes
    # a drawing (bright ink on black) of two digits side by side
    drawing = np.pad(np.hstack([seven.reshape(28, 28), mnist.X_test[1].reshape(28, 28)]), 10)
    _, notes = read_image(drawing, name="two.png")
    assert len(notes) == 1 and notes[0].startswith("two.png: the ink is 2.0 times wider than high, wider than any "
                                                   "digit: more than one digit"), notes
    with pytest.warns(CropWarning, match="the ink reaches the image's edge"):
        preprocess_image(_paper_png(seven, crop=(0, 0, 300, 120)))
