"""Reading images and labelling what a model predicts for them: the one predict path.

``mnist-logreg predict`` and the web page's ``POST /api/predict`` both call
:func:`read_and_predict` (or :func:`predict_digits` on digits already read); each keeps only its
own input and output: the command formats text or JSON and sets its exit status, the web app
answers HTTP.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypedDict

import numpy as np

from .errors import MnistLogregError
from .images import MAX_PIXELS, NOT_ONE_DIGIT, CropNote, read_image
from .tasks import Task, parse_task

if TYPE_CHECKING:
    from .shipped import DigitDetector

__all__ = ["NOT_A_DIGIT", "DigitPrediction", "ReadResult", "predict_digits", "predict_results", "read_and_predict",
           "read_sources"]

#: the note beside an answer when the input does not look like one digit
NOT_A_DIGIT = ("this does not look like one digit (a letter, a scribble, several digits or a stray mark?): "
               "the answer is only the likeliest digit")

#: ``detector`` argument: the digit detector shipped with the package
SHIPPED: Literal["shipped"] = "shipped"


class Classifier(Protocol):
    """What a model needs here: its classes and their probabilities for rows of 784 pixels."""

    classes_: np.ndarray

    def predict_proba(self, X: Any) -> np.ndarray: ...


class DigitPrediction(TypedDict):
    """The model's answer for one digit."""

    label: str
    """What the answer means: ``"7"``, or ``"2"`` / ``"not 2"`` for a ``digit:2`` model."""
    digit: int | None
    """The digit read; None when a binary model answers "not D"."""
    probabilities: list[float]
    """The probability of each class, in the order of ``model.classes_``."""
    top3: list[tuple[str, float]]
    """The three likeliest labels (fewer for a model with fewer classes) with their probabilities, best first."""
    looks_like_a_digit: bool | None
    """Whether the input looks like one MNIST-style digit (False: a letter, a scribble, several
    digits, a stray mark...); None only when no detector is installed."""


@dataclass
class ReadResult:
    """One source of :func:`read_and_predict`: what the model saw and said, or why it was not read.

    Attributes
    ----------
    name : str
        The source as messages name it.
    input : ndarray of uint8, shape (28, 28), or None
        The digit the model saw; None when the source could not be read.
    notes : list of CropNote
        What looks wrong (ink at the image's edge, more than one digit, not like a digit at all...),
        each a ``str`` with its ``kind``; empty when nothing does.
    prediction : DigitPrediction or None
        The model's answer; None when the source could not be read.
    error : MnistLogregError or OSError or None
        Why the source could not be read (its message names the source); None when it was.
        Mostly an :class:`~mnist_logreg.images.ImageError` (an
        :class:`~mnist_logreg.errors.InputError`; a blank image's a
        :class:`~mnist_logreg.errors.NoDigitError`): its class says how to answer.
    """

    name: str
    input: np.ndarray | None = None
    notes: list[CropNote] = field(default_factory=list)
    prediction: DigitPrediction | None = None
    error: MnistLogregError | OSError | None = None

    @property
    def ok(self) -> bool:
        """Whether the source was read (and so has a prediction)."""
        return self.error is None


def _as_task(task: Task | str) -> Task:
    return parse_task(task) if isinstance(task, str) else task


def _detector(detector: DigitDetector | Literal["shipped"] | None) -> DigitDetector | None:
    if detector == SHIPPED:
        from .shipped import digit_detector

        return digit_detector()
    return detector if not isinstance(detector, str) else None


def predict_digits(model: Classifier, task: Task | str, digits: np.ndarray | Sequence[np.ndarray], *,
                   detector: DigitDetector | Literal["shipped"] | None = SHIPPED) -> list[DigitPrediction]:
    """The model's labelled answer for each digit.

    Parameters
    ----------
    model : classifier
        A fitted model (``load_model``'s first value): ``classes_`` and ``predict_proba`` on rows
        of 784 pixels.
    task : Task or str
        What the model classifies (``load_model``'s second value, or its :class:`~mnist_logreg.tasks.Task`);
        it turns classes into labels ("2" / "not 2" for ``digit:2``).
    digits : array-like of shape (n, 28, 28) or (n, 784)
        The digits, MNIST-style (as :func:`~mnist_logreg.images.read_image` gives them).
    detector : DigitDetector, None or "shipped", default "shipped"
        Tells whether each input looks like a digit: the one shipped with the package
        (:func:`~mnist_logreg.shipped.digit_detector`), another, or None (not checked).

    Returns
    -------
    list of DigitPrediction
        One per digit, in order: ``label``, ``digit``, ``probabilities`` (one per class of
        ``model.classes_``), ``top3`` (``[label, probability]``, best first) and
        ``looks_like_a_digit``.
    """
    task = _as_task(task)
    X = np.asarray(digits)
    if len(X) == 0:
        return []
    rows = X.reshape(len(X), -1)
    checker = _detector(detector)
    digit_like: list[bool | None] = [None] * len(rows)
    if checker is not None and checker.shares_features_with(model):  # one transform serves both
        features = model[:-1].transform(rows)  # type: ignore[index]
        proba = model[-1].predict_proba(features)  # type: ignore[index]
        digit_like = [bool(v) for v in checker.looks_like_a_digit_from_features(features)]
    else:
        proba = model.predict_proba(rows)
        if checker is not None:
            digit_like = [bool(v) for v in checker.looks_like_a_digit(rows)]
    out: list[DigitPrediction] = []
    for p, like in zip(proba, digit_like, strict=True):
        top = np.argsort(-p, kind="stable")[:3]  # ties: the first class, as argmax
        best = model.classes_[top[0]]
        out.append({"label": task.label_of(best), "digit": task.digit_of(best),
                    "probabilities": [float(q) for q in p],
                    "top3": [(task.label_of(model.classes_[i]), float(p[i])) for i in top],
                    "looks_like_a_digit": like})
    return out


def read_and_predict(model: Classifier, task: Task | str,
                     sources: Sequence[str | os.PathLike[str] | bytes | np.ndarray], *,
                     names: Sequence[str] | None = None, max_pixels: int = MAX_PIXELS,
                     detector: DigitDetector | Literal["shipped"] | None = SHIPPED) -> list[ReadResult]:
    """Read each image and predict the digit in those read; a source that fails does not stop the others.

    Parameters
    ----------
    model : classifier
        A fitted model, as for :func:`predict_digits`.
    task : Task or str
        What the model classifies, as for :func:`predict_digits`.
    sources : sequence of path, bytes or ndarray
        Image files, their bytes, or greyscale arrays (see :func:`~mnist_logreg.images.read_image`).
    names : sequence of str, optional
        How messages name each source (default: the path, or ``<image bytes>``).
    max_pixels : int
        The largest image read, in pixels (from its header, before decoding).
    detector : DigitDetector, None or "shipped", default "shipped"
        As for :func:`predict_digits`. An image whose crop shows more or less than one digit
        (ink much wider than high, a second digit-sized mark left out, or a stray mark tiny for
        its canvas: the notes of kind :data:`~mnist_logreg.images.NOT_ONE_DIGIT`) does not look
        like one digit either; its notes then end with :data:`NOT_A_DIGIT`.

    Returns
    -------
    list of ReadResult
        One per source, in order: the digit seen, notes and prediction, or the error that
        stopped it (a :class:`~mnist_logreg.errors.MnistLogregError`, mostly an
        :class:`~mnist_logreg.images.ImageError`, or an ``OSError`` for a file that cannot be
        opened). Other exceptions (a bug) propagate. The digits read are predicted together, in one call of the model.
    """
    results = read_sources(sources, names=names, max_pixels=max_pixels)
    predict_results(model, task, results, detector=detector)
    return results


def read_sources(sources: Sequence[str | os.PathLike[str] | bytes | np.ndarray], *,
                 names: Sequence[str] | None = None, max_pixels: int = MAX_PIXELS) -> list[ReadResult]:
    """Read each image (the first half of :func:`read_and_predict`); a source that fails does not stop the others.

    Parameters
    ----------
    sources : sequence of path, bytes or ndarray
        Image files, their bytes, or greyscale arrays.
    names : sequence of str, optional
        How messages name each source.
    max_pixels : int
        The largest image read, in pixels.

    Returns
    -------
    list of ReadResult
        One per source, in order, with no prediction yet: the digit seen and its notes, or the
        error that stopped it.
    """
    if names is not None and len(names) != len(sources):
        raise ValueError(f"names: expected {len(sources)} names, one per source, found {len(names)}")
    results = []
    for i, source in enumerate(sources):
        if names is not None:
            name = names[i]
        elif isinstance(source, bytes):
            name = "<image bytes>"
        elif isinstance(source, np.ndarray):
            name = "<array>"
        else:
            name = str(source)
        try:
            digit, notes = read_image(source, name, max_pixels)
        except (MnistLogregError, OSError) as exc:  # this source's fault: the others are still read
            results.append(ReadResult(name, error=exc))
            continue
        results.append(ReadResult(name, input=digit, notes=notes))
    return results


def predict_results(model: Classifier, task: Task | str, results: Sequence[ReadResult], *,
                    detector: DigitDetector | Literal["shipped"] | None = SHIPPED) -> None:
    """Predict the digits of the results read (the second half of :func:`read_and_predict`), in
    one call of the model; the web server batches concurrent requests through it.

    Parameters
    ----------
    model : classifier
        A fitted model, as for :func:`predict_digits`.
    task : Task or str
        What the model classifies.
    results : sequence of ReadResult
        From :func:`read_sources`; those read get their ``prediction`` (and, when the input does
        not look like one digit, a last note saying so); the others are left as they are.
    detector : DigitDetector, None or "shipped", default "shipped"
        As for :func:`read_and_predict`.
    """
    read = [r for r in results if r.ok and r.input is not None]
    inputs = [r.input for r in read if r.input is not None]
    for r, prediction in zip(read, predict_digits(model, task, inputs, detector=detector), strict=True):
        if prediction["looks_like_a_digit"] is not None and any(n.kind in NOT_ONE_DIGIT for n in r.notes):
            prediction["looks_like_a_digit"] = False
        if prediction["looks_like_a_digit"] is False:
            r.notes.append(CropNote(f"{r.name}: {NOT_A_DIGIT}", "not a digit"))
        r.prediction = prediction
