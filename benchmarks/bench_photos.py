"""Harsh photographs: how many synthesised photos of test digits are read right.

Each test digit is written on paper (dark ink, 6-10 times its size, off-centre) and
photographed under each condition of ``tests/photos.py``: plain; the paper on a darker,
textured table, slightly turned, the table showing on two or three sides; light falling off to
40-60% across the frame; a soft-edged shadow at 40-55% over part of the frame, the digit
included; all three together; then paper with lines of its own: a box drawn around the digit,
ruled lines (faint or dark) across it, a margin line, the paper's edge, and one of these with
the table, gradient and shadow. JPEG at quality 85. Each photo goes through ``read_image`` and a
softmax model on pixels (the default ``train``, fitted on the 60,000 training digits) reads it.

Printed: accuracy on the digits themselves and on each kind of photo, the share of photos
given a note (the crop looks wrong), and the time per photo (reading and preprocessing).

    python benchmarks/bench_photos.py            # 500 test digits (about 5 minutes on 2 cores)
    python benchmarks/bench_photos.py --n 200
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from photos import KINDS, harsh_photo

from mnist_logreg import LogisticRegression, load_mnist
from mnist_logreg.images import ImageError, read_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="test digits per kind of photo")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    data = load_mnist()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LogisticRegression().fit(data.X_train, data.y_train)
    idx = np.random.default_rng(args.seed).choice(len(data.y_test), args.n, replace=False)
    X, y = data.X_test[idx], data.y_test[idx]
    print(f"{args.n} test digits; softmax on pixels, fitted on 60,000 digits\n")
    print("| photos | read right | with a note | unreadable | ms per photo |")
    print("|---|--:|--:|--:|--:|")
    print(f"| the digits themselves | {model.score(X, y):.1%} | | | |")
    for kind in KINDS:
        rng = np.random.default_rng(args.seed + 1)
        photos = [harsh_photo(x, rng, kind) for x in X]
        right = noted = unreadable = 0
        t0 = time.perf_counter()
        for photo, label in zip(photos, y, strict=True):
            try:
                digit, notes = read_image(photo)
            except ImageError:
                unreadable += 1
                continue
            noted += bool(notes)
            right += int(model.predict(digit.reshape(1, -1))[0] == label)
        ms = 1000 * (time.perf_counter() - t0) / len(photos)
        print(f"| {kind} | {right / len(y):.1%} | {noted / len(y):.1%} | {unreadable} | {ms:.0f} |", flush=True)


if __name__ == "__main__":
    main()
