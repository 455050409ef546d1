"""The models that ship inside the package: the default model and the digit detector.

``predict`` and ``serve`` without ``--model`` use the **default model** (the ``best`` feature
preset on MNIST's 60,000 training digits and two distorted copies of each), so they answer at
once on a fresh install. Every
prediction says whether the image ``looks_like_a_digit``: the **digit detector**, a logistic
regression on the default model's features, tells MNIST's digits from letters, scribbles, pairs
of digits and blank-looking marks (:mod:`mnist_logreg.datasets.nondigits`), and flags what it
scores above a threshold that lets through 99.2% of held-out training digits.

Both are plain model files (``.npz``, no pickle) in ``mnist_logreg/_shipped/``, listed with their
SHA-256 in ``manifest.json``; a file that does not match is refused. They are made by one
command, reproducible from its seeds::

    python -m mnist_logreg.shipped build            # about 6 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from ._atomic import atomic_write
from .datasets import MNIST, load_mnist
from .datasets.nondigits import KINDS, generate
from .errors import MnistLogregError
from .images import read_image
from .modelio import ModelFileError, load_model, save_model

__all__ = ["DigitDetector", "build", "default_model_file", "digit_detector", "fit_detector", "shipped_dir",
           "train_default_model"]

#: the default model's feature preset
DEFAULT_FEATURES = "best"
MODEL_FILE = "default-model.npz"
DETECTOR_FILE = "digit-detector.npz"
MANIFEST = "manifest.json"
#: the share of held-out training digits the detector lets through
DIGITS_KEPT = 0.992
#: negatives per kind the detector learns from, their seed, and its C
NEGATIVES_PER_KIND = 1500
NEGATIVES_SEED = 7
DETECTOR_C = 0.1
#: training digits held out to set the threshold
HELD_OUT = 10_000


def shipped_dir() -> Path:
    """The folder of the shipped files inside the installed package.

    Returns
    -------
    Path
        ``.../mnist_logreg/_shipped``.
    """
    return Path(str(resources.files("mnist_logreg") / "_shipped"))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _verified(name: str, folder: Path | None = None) -> Path:
    """The path of a shipped file whose SHA-256 matches the manifest's (ModelFileError otherwise)."""
    folder = folder or shipped_dir()
    path = folder / name
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        expected = manifest["files"][name]["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{folder / MANIFEST}: no checksum for {name} ({exc}); reinstall mnist-logreg") from exc
    if not path.is_file():
        raise ModelFileError(f"{path}: the shipped file is missing; reinstall mnist-logreg")
    if _sha256(path) != expected:
        raise ModelFileError(f"{path}: does not match its SHA-256 in {MANIFEST} (damaged or changed); "
                             "reinstall mnist-logreg, or rebuild it with: python -m mnist_logreg.shipped build")
    return path


def default_model_file() -> Path | None:
    """The shipped default model, checked against its SHA-256; None when the package has none.

    Returns
    -------
    Path or None
        The model file (load it with :func:`~mnist_logreg.modelio.load_model`).

    Raises
    ------
    ModelFileError
        The file is there but does not match its checksum.
    """
    if not (shipped_dir() / MODEL_FILE).is_file():
        return None
    return _verified(MODEL_FILE)


class DigitDetector:
    """Whether 28x28 inputs look like one MNIST-style digit: a binary model and a threshold.

    Parameters
    ----------
    model : Pipeline or estimator
        Fitted on digits (class 0) and non-digits (class 1), with ``decision_function``.
    threshold : float
        Scores above it do not look like a digit.
    """

    def __init__(self, model: Any, threshold: float) -> None:
        self.model = model
        self.threshold = float(threshold)
        self._shares: dict[int, tuple[Any, bool]] = {}

    def shares_features_with(self, model: Any) -> bool:
        """Whether ``model`` computes the same features as the detector (the same fitted steps),
        so that one transform serves both (the default model and its detector do).

        Parameters
        ----------
        model : estimator or Pipeline
            A fitted model.

        Returns
        -------
        bool
        """
        known = self._shares.get(id(model))
        if known is not None and known[0] is model:
            return known[1]
        same = _same_feature_steps(model, self.model)
        self._shares[id(model)] = (model, same)
        return same

    def looks_like_a_digit_from_features(self, features: np.ndarray) -> np.ndarray:
        """As :meth:`looks_like_a_digit`, from the features the detector's steps make of the inputs.

        Parameters
        ----------
        features : ndarray of shape (n, n_features)
            The output of the detector's feature steps (``model[:-1].transform``).

        Returns
        -------
        ndarray of bool, shape (n,)
        """
        scores = np.asarray(self.model[-1].decision_function(features), dtype=np.float64).reshape(-1)
        return scores <= self.threshold

    def scores(self, digits: np.ndarray) -> np.ndarray:
        """How little each input looks like a digit (higher: less).

        Parameters
        ----------
        digits : array-like of shape (n, 28, 28) or (n, 784)
            MNIST-style inputs, as :func:`~mnist_logreg.images.read_image` gives them.

        Returns
        -------
        ndarray of float, shape (n,)
        """
        X = np.asarray(digits).reshape(len(digits), -1)
        return np.asarray(self.model.decision_function(X), dtype=np.float64).reshape(-1)

    def looks_like_a_digit(self, digits: np.ndarray) -> np.ndarray:
        """Whether each input scores at or below the threshold.

        Parameters
        ----------
        digits : array-like of shape (n, 28, 28) or (n, 784)
            MNIST-style inputs.

        Returns
        -------
        ndarray of bool, shape (n,)
        """
        if len(digits) == 0:
            return np.zeros(0, dtype=bool)
        return self.scores(digits) <= self.threshold

    @classmethod
    def load(cls, path: str | Path) -> DigitDetector:
        """Read a detector file (a model file whose extra document holds the threshold).

        Parameters
        ----------
        path : str or Path
            The file.

        Returns
        -------
        DigitDetector
        """
        model, _, extra = load_model(path)
        threshold = extra.get("threshold") if isinstance(extra, dict) else None
        if not isinstance(threshold, int | float) or not np.isfinite(threshold):
            raise ModelFileError(f"{path}: not a digit detector (its extra document has no finite 'threshold')")
        return cls(model, float(threshold))


def _same_feature_steps(a: Any, b: Any) -> bool:
    """Whether two pipelines have the same fitted feature steps (names, parameters, arrays)."""
    from .features.state import export_state

    if not (isinstance(a, Pipeline) and isinstance(b, Pipeline)) or len(a.steps) != len(b.steps):
        return False
    for (name_a, step_a), (name_b, step_b) in zip(a.steps[:-1], b.steps[:-1], strict=True):
        if name_a != name_b:
            return False
        try:
            (params_a, arrays_a), (params_b, arrays_b) = export_state(name_a, step_a), export_state(name_b, step_b)
        except (KeyError, AttributeError, ValueError):  # a step a model file does not hold
            return False
        if params_a != params_b or arrays_a.keys() != arrays_b.keys():
            return False
        if not all(np.array_equal(arrays_a[k], arrays_b[k]) for k in arrays_a):
            return False
    return True


@cache
def digit_detector() -> DigitDetector | None:
    """The shipped digit detector (read once), or None when the package has none.

    Returns
    -------
    DigitDetector or None
    """
    if not (shipped_dir() / DETECTOR_FILE).is_file():
        return None
    return DigitDetector.load(_verified(DETECTOR_FILE))


# ------------------------------------------------------------------ the recipe


def _read_all(images: Sequence[np.ndarray]) -> np.ndarray:
    """The 28x28 inputs the model would see for each image (those that cannot be read left out)."""
    out = []
    for image in images:
        try:
            out.append(read_image(image)[0].reshape(-1))
        except MnistLogregError:  # blank: the user would get an error, not a prediction
            continue
    return np.asarray(out, dtype=np.uint8)


def fit_detector(features: Pipeline, digits: np.ndarray, held_out: np.ndarray, negatives: np.ndarray,
                 C: float = DETECTOR_C) -> DigitDetector:
    """Fit the detector on a fitted feature map: ``digits`` against ``negatives``.

    Parameters
    ----------
    features : Pipeline
        Fitted feature steps (a model's ``model[:-1]``); reused as they are.
    digits : ndarray of shape (n, 784)
        MNIST-style digits (class 0).
    held_out : ndarray of shape (m, 784)
        Other digits: the threshold lets :data:`DIGITS_KEPT` of them through.
    negatives : ndarray of shape (k, 784)
        Inputs that are not one digit (class 1), as read by ``read_image``.
    C : float, default DETECTOR_C
        Inverse regularisation of the logistic regression.

    Returns
    -------
    DigitDetector
    """
    from .features import linear_scaling
    from .linear import LogisticRegression

    X = np.vstack([digits, negatives])
    y = np.r_[np.zeros(len(digits), dtype=int), np.ones(len(negatives), dtype=int)]
    head = LogisticRegression(C=C, scaling=linear_scaling(DEFAULT_FEATURES))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a convergence note of the binary fit is not the user's business
        head.fit(features.transform(X), y)
    model = Pipeline([*features.steps, ("logistic", head)])
    threshold = float(np.quantile(model.decision_function(held_out), DIGITS_KEPT))
    return DigitDetector(model, threshold)


def train_default_model(out: str | Path, data: MNIST, train_size: int | None = None,
                        on_stage: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train the default model as the recipe does: a run folder ``out`` holding ``model.npz``.

    Parameters
    ----------
    out : str or Path
        The run folder to write (new or empty).
    data : MNIST
        The digits.
    train_size : int or None, default None
        Train on this many training digits; None: all.
    on_stage : callable or None, default None
        Told each stage, in words.

    Returns
    -------
    dict
        The run's metrics (``metrics["test"]["accuracy"]``...).
    """
    from .pipeline import TrainOptions, train

    return train(TrainOptions(features=DEFAULT_FEATURES, train_size=train_size, figures=False),
                 out=out, data=data, on_stage=on_stage)


def build(out: str | Path | None = None, *, data: MNIST | None = None, train_size: int | None = None,
          negatives_per_kind: int = NEGATIVES_PER_KIND, on_stage: Callable[[str], None] | None = None) -> Path:
    """Train the default model and the digit detector, and write them with their manifest.

    Parameters
    ----------
    out : str, Path or None, default None
        The folder to write (``default-model.npz``, ``digit-detector.npz``, ``manifest.json``);
        None: the package's own ``_shipped`` folder.
    data : MNIST or None, default None
        The digits; None loads the bundled copy.
    train_size : int or None, default None
        Train on this many training digits (tests); None: all 60,000.
    negatives_per_kind : int, default NEGATIVES_PER_KIND
        Non-digit images of each kind the detector learns from.
    on_stage : callable or None, default None
        Told each stage, in words.

    Returns
    -------
    Path
        The folder written.
    """
    say = on_stage or (lambda text: None)
    folder = Path(out) if out is not None else shipped_dir()
    data = data if data is not None else load_mnist()
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".building-") as tmp:
        say(f"training the default model ({DEFAULT_FEATURES})")
        metrics = train_default_model(tmp, data, train_size, on_stage=say)
        model_path = Path(tmp) / "model.npz"
        model, _, _ = load_model(model_path)
        say("making the detector's negatives")
        n_digits = len(data.X_train) if train_size is None else min(train_size, len(data.X_train))
        digits = np.asarray(data.X_train[:n_digits])
        held = min(HELD_OUT, n_digits // 5)
        negatives = np.vstack([_read_all(generate(kind, negatives_per_kind, NEGATIVES_SEED + i, digits[held:]))
                               for i, kind in enumerate(KINDS)])
        say("fitting the detector")
        detector = fit_detector(model[:-1], digits[held:], digits[:held], negatives)
        detector_path = Path(tmp) / DETECTOR_FILE
        save_model(detector.model, detector_path, task="multiclass",
                   extra={"threshold": detector.threshold, "digits_kept": DIGITS_KEPT,
                          "classes": {"0": "a digit", "1": "not one digit"}, "kinds": list(KINDS),
                          "negatives_per_kind": negatives_per_kind, "seed": NEGATIVES_SEED})
        files: dict[str, dict[str, Any]] = {}
        manifest = {"recipe": "python -m mnist_logreg.shipped build",
                    "default_model": {"features": DEFAULT_FEATURES, "test_accuracy": metrics["test"]["accuracy"],
                                      "train_size": train_size or len(data.X_train)},
                    "files": files}
        for name, path in ((MODEL_FILE, model_path), (DETECTOR_FILE, detector_path)):
            shutil.copyfile(path, folder / f".{name}.new")
            (folder / f".{name}.new").replace(folder / name)
            files[name] = {"sha256": _sha256(folder / name), "bytes": (folder / name).stat().st_size}
        with atomic_write(folder / MANIFEST, "w") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")
    digit_detector.cache_clear()
    return folder


def main(argv: list[str] | None = None) -> int:
    """``python -m mnist_logreg.shipped build [--out DIR]``.

    Parameters
    ----------
    argv : list of str or None
        The arguments (None: the command line's).

    Returns
    -------
    int
        The exit status.
    """
    parser = argparse.ArgumentParser(prog="python -m mnist_logreg.shipped", description="Train the default model "
                                     "and the digit detector shipped with the package.")
    parser.add_argument("command", choices=["build"])
    parser.add_argument("--out", help="folder to write (default: the package's _shipped folder)")
    args = parser.parse_args(argv)
    folder = build(args.out, on_stage=lambda text: print(text, flush=True))
    print(json.dumps(json.loads((folder / MANIFEST).read_text()), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
