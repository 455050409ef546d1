"""Off-MNIST digits: how the models read digits that are not MNIST's.

The sets of ``tests/offmnist.py`` (measurement sets, not training data): digits rendered from
the machine's TrueType fonts (stroke width, slant and size at random, dark on white); a stroke
simulator (pen strokes of a template per digit, jittered, drawn anti-aliased on a black pad);
scikit-learn's 8x8 handwritten digits (43 writers, not MNIST's) upscaled smoothly; MNIST test
digits in synthetic photos with ruled lines, a box, a margin line or the paper's edge, the
table, gradient and shadow, blurred and saved as JPEG. Each image goes through ``read_image``
and two models read it, each fitted once on the 60,000 training digits: softmax on pixels, and
the accurate preset (``make_feature_map("accurate")`` then softmax at the preset's C, in a
pipeline).

Printed: a markdown table, per set the images and each model's accuracy, the MNIST test
digits themselves first.

    python benchmarks/bench_offmnist.py            # 500 per set (fitting the accurate preset
                                                    # takes minutes on 2 cores)
    python benchmarks/bench_offmnist.py --n 100 --pixels-only
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from offmnist import SETS, make_set

from mnist_logreg import LogisticRegression, load_mnist
from mnist_logreg.images import ImageError, read_image


def _models(data, pixels_only: bool) -> dict:
    from sklearn.pipeline import Pipeline

    from mnist_logreg.features import linear_scaling, make_feature_map, preset_C

    models = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        models["pixels"] = LogisticRegression().fit(data.X_train, data.y_train)
        print(f"pixel model fitted in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        if not pixels_only:
            t0 = time.perf_counter()
            fmap = make_feature_map("accurate")
            linear = LogisticRegression(C=preset_C("accurate"), scaling=linear_scaling("accurate"))
            models["accurate preset"] = Pipeline([*fmap.steps, ("logreg", linear)]).fit(data.X_train, data.y_train)
            print(f"accurate preset fitted in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return models


def _saved(specs: list[str]) -> dict:
    """``NAME=PATH`` (or ``shipped``) -> the loaded models."""
    from mnist_logreg.modelio import load_model
    from mnist_logreg.shipped import default_model_file

    models = {}
    for spec in specs:
        name, _, path = spec.partition("=")
        if spec == "shipped":
            name, path = "shipped default model", str(default_model_file())
        models[name] = load_model(path)[0]
    return models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="images per set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pixels-only", action="store_true", help="only the pixel model (no features to fit)")
    parser.add_argument("--model", action="append", metavar="NAME=PATH",
                        help="measure saved model files instead of fitting (repeatable; 'shipped' for the "
                             "package's default model)")
    args = parser.parse_args()

    data = load_mnist()
    models = _saved(args.model) if args.model else _models(data, args.pixels_only)
    idx = np.random.default_rng(args.seed).choice(len(data.y_test), args.n, replace=False)
    print(f"{args.n} images per set, seed {args.seed}; models fitted on the 60,000 MNIST training digits\n")
    print("| set | images | unreadable | " + " | ".join(models) + " | ms per image |")
    print("|---|--:|--:|" + "--:|" * len(models) + "--:|")
    X, y = data.X_test[idx], data.y_test[idx]
    scores = " | ".join(f"{np.mean(m.predict(X) == y):.1%}" for m in models.values())
    print(f"| MNIST test digits (28x28) | {len(y)} | | {scores} | |", flush=True)
    for name in SETS:
        images, labels = make_set(name, args.n, args.seed, (data.X_test, data.y_test))
        seen, kept, unreadable = [], [], 0
        t0 = time.perf_counter()
        for image, label in zip(images, labels, strict=True):
            try:
                seen.append(read_image(image)[0].reshape(-1))
                kept.append(label)
            except ImageError:
                unreadable += 1
        ms = 1000 * (time.perf_counter() - t0) / len(images)
        S, k = np.stack(seen), np.asarray(kept)
        scores = " | ".join(f"{np.sum(m.predict(S) == k) / len(labels):.1%}" for m in models.values())
        print(f"| {name} | {len(labels)} | {unreadable} | {scores} | {ms:.0f} |", flush=True)


if __name__ == "__main__":
    main()
