"""The off-MNIST generators (tests/offmnist.py): shapes, determinism, every class present."""

import numpy as np
import pytest
from offmnist import SETS, font_files, make_set

from mnist_logreg.images import read_image


@pytest.mark.parametrize("name", SETS)
def test_sets_are_seeded_and_hold_every_class(name, mnist):
    images, labels = make_set(name, 30, seed=4, mnist_test=(mnist.X_test, mnist.y_test))
    again, labels2 = make_set(name, 30, seed=4, mnist_test=(mnist.X_test, mnist.y_test))
    assert len(images) == len(labels) == 30 and np.array_equal(labels, labels2)
    for a, b in zip(images, again, strict=True):
        assert (a == b) if isinstance(a, bytes) else np.array_equal(a, b)
    if name != "sklearn digits" and name != "photos":  # those draw their digits at random
        assert set(labels.tolist()) == set(range(10))
    else:
        assert len(set(labels.tolist())) >= 8
    other, _ = make_set(name, 30, seed=5, mnist_test=(mnist.X_test, mnist.y_test))
    assert any((a != b) if isinstance(a, bytes) else not np.array_equal(a, b)
               for a, b in zip(images, other, strict=True))
    for image in images[:10]:
        if not isinstance(image, bytes):
            assert image.ndim == 2 and image.min() >= 0 and image.max() <= 255
        digit, _ = read_image(image)
        assert digit.shape == (28, 28) and digit.max() > 128


def test_the_machine_has_fonts():
    assert font_files(), "no TrueType fonts under /usr/share/fonts"


def test_unknown_set():
    with pytest.raises(ValueError, match="expected one of"):
        make_set("cursive", 5)
