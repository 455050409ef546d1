"""Honest and explained: how often ``looks_like_a_digit`` flags what is not one digit, and what an
explanation costs.

Flag rates: the shipped default model and digit detector on MNIST's 10,000 test digits and on
images the detector did not learn from (``tests/nondigits.py``: letters in the machine's fonts,
wandering and spiral scribbles, pairs of test digits, faint marks), each through ``read_image``
as ``predict`` reads them. An image refused as blank counts as flagged (no digit is answered).

Explain: milliseconds per ``explain_digit`` call on test digits, for a softmax on pixels and for
the default model, each in its own process.

    python benchmarks/bench_ood.py            # 300 images per kind (about 2 minutes on 2 cores)
    python benchmarks/bench_ood.py --n 100
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import nondigits

from mnist_logreg import LogisticRegression, load_mnist
from mnist_logreg.modelio import load_model
from mnist_logreg.predict import read_and_predict
from mnist_logreg.shipped import default_model_file, digit_detector


def _explain_timing(which: str, n: int) -> None:
    """One process: time ``explain_digit`` on ``n`` test digits; print JSON."""
    from mnist_logreg.explain import explain_digit

    data = load_mnist()
    if which == "pixels":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model, task = LogisticRegression().fit(data.X_train[:20000], data.y_train[:20000]), "multiclass"
    else:
        model, task, _ = load_model(default_model_file())
    explain_digit(model, task, data.X_test[0])  # warm up
    times = []
    for x in data.X_test[1 : n + 1]:
        t0 = time.perf_counter()
        explain_digit(model, task, x)
        times.append(time.perf_counter() - t0)
    print(json.dumps({"median_ms": 1000 * float(np.median(times)), "p95_ms": 1000 * float(np.percentile(times, 95))}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="images per kind of non-digit")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--explain-only", choices=["pixels", "default"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.explain_only:
        _explain_timing(args.explain_only, 100)
        return

    data = load_mnist()
    detector = digit_detector()
    model, task, _ = load_model(default_model_file())
    assert detector is not None
    print("| images | n | flagged: not one digit |")
    print("|---|--:|--:|")
    kept = detector.looks_like_a_digit(data.X_test)
    print(f"| MNIST test digits | {len(kept):,} | {1 - kept.mean():.2%} |")
    for kind in nondigits.KINDS:
        images = nondigits.generate(kind, args.n, args.seed, data.X_test)
        results = read_and_predict(model, task, images)
        flagged = [r.prediction is None or r.prediction["looks_like_a_digit"] is False for r in results]
        blank = sum(r.prediction is None for r in results)
        extra = f" ({blank} refused as blank)" if blank else ""
        print(f"| {kind} | {len(results)} | {np.mean(flagged):.1%}{extra} |")
    print("\n| explain | median ms | p95 ms |")
    print("|---|--:|--:|")
    for which in ("pixels", "default"):
        out = subprocess.run([sys.executable, __file__, "--explain-only", which], capture_output=True, text=True,
                             check=True).stdout
        got = json.loads(out.strip().splitlines()[-1])
        print(f"| {which} model | {got['median_ms']:.1f} | {got['p95_ms']:.1f} |")


if __name__ == "__main__":
    main()
