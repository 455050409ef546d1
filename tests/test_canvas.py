"""Drawings on a flat canvas (the page's pad, a paint program): the ink is what differs from the
canvas's one colour, darker or brighter, whatever that colour is. Since issue 30 (item 14) this is
decided from the canvas alone, without the wide blur photos need (half of a drawing's read time)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mnist_logreg.images import _dark_ink, read_image


def _canvas(background: int, ink: int) -> np.ndarray:
    img = Image.new("L", (280, 280), background)
    ImageDraw.Draw(img).line([(100, 60), (190, 60), (130, 230)], fill=ink, width=20, joint="curve")  # a 7
    return np.asarray(img, dtype=np.float64)


@pytest.mark.parametrize(("background", "ink", "dark"), [(0, 255, False), (255, 0, True), (100, 20, True),
                                                         (100, 220, False), (200, 120, True), (60, 140, False)])
def test_the_ink_is_what_differs_from_the_canvas(background, ink, dark):
    a = _canvas(background, ink)
    assert _dark_ink(a) is dark
    digit, notes = read_image(a)
    reference, _ = read_image(_canvas(0, 255))  # the same drawing, bright on black
    assert notes == []
    assert np.corrcoef(digit.ravel().astype(float), reference.ravel().astype(float))[0, 1] > 0.97


def test_a_noisy_edge_is_left_to_the_photo_rule():
    """A photo's edge is never perfectly flat: one grain of noise sends it down the photo path."""
    a = _canvas(0, 255)
    a[0, 5] = 1.0
    assert _dark_ink(a) is False  # bright ink on black, found by the ratio to a wide blur
