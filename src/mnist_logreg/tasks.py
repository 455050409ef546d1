"""Splits, seeded shuffles and the classification tasks built from MNIST labels.

A task string is one of ``"multiclass"`` (digits 0-9), ``"digit:D"`` ("is it a D": label 1
for D, 0 for every other digit) or ``"pair:A,B"`` (only digits A and B, labels kept as digits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import OptionError

__all__ = [
    "Task",
    "binary_target",
    "pair_subset",
    "parse_task",
    "random_split",
    "shuffle",
    "stratified_subsample",
]


def shuffle(X: np.ndarray, y: np.ndarray, random_state: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return ``X`` and ``y`` in the same random order (``numpy.random.default_rng(random_state)``).

    Parameters
    ----------
    X : ndarray of shape (n_samples, ...)
        Rows to shuffle (images or features).
    y : ndarray of shape (n_samples,)
        Their labels; must have as many rows as ``X``.
    random_state : int or None, default 0
        Seed of the permutation; None draws a fresh one.

    Returns
    -------
    X, y : tuple of ndarray
        Copies of ``X`` and ``y`` with their rows in the same new order.
    """
    if len(X) != len(y):
        raise ValueError(f"X and y disagree in length: {len(X)} rows, {len(y)} labels")
    order = np.random.default_rng(random_state).permutation(len(y))
    return X[order], y[order]


def random_split(
    X: np.ndarray, y: np.ndarray, test_size: int = 10000, random_state: int | None = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle with a seed, then split into ``(X_train, y_train, X_test, y_test)``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, ...)
        Rows to split.
    y : ndarray of shape (n_samples,)
        Their labels.
    test_size : int, default 10000
        Rows in the test part, from 1 to ``n_samples - 1`` (an ``OptionError`` otherwise).
    random_state : int or None, default 0
        Seed of the shuffle (see :func:`shuffle`).

    Returns
    -------
    X_train, y_train, X_test, y_test : tuple of ndarray
        ``n_samples - test_size`` training rows and ``test_size`` test rows, with their labels.
    """
    if not 0 < test_size < len(y):
        raise OptionError(f"test_size must be between 1 and {len(y) - 1}, got {test_size}")
    Xs, ys = shuffle(X, y, random_state)
    return Xs[:-test_size], ys[:-test_size], Xs[-test_size:], ys[-test_size:]


def binary_target(y: np.ndarray, digit: int) -> np.ndarray:
    """1 where the label is ``digit``, else 0 (int64): the "is it a D" target.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Digit labels.
    digit : int
        The digit, 0 to 9 (an ``OptionError`` otherwise).

    Returns
    -------
    ndarray of int64, shape (n_samples,)
        1 where ``y == digit``, else 0.
    """
    _check_digit(digit)
    return (np.asarray(y) == digit).astype(np.int64)


def pair_subset(X: np.ndarray, y: np.ndarray, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose label is ``a`` or ``b``; labels stay the digits themselves.

    Parameters
    ----------
    X : ndarray of shape (n_samples, ...)
        Rows to select from.
    y : ndarray of shape (n_samples,)
        Their digit labels.
    a, b : int
        The two digits, 0 to 9 and different (an ``OptionError`` otherwise).

    Returns
    -------
    X, y : tuple of ndarray
        The rows labelled ``a`` or ``b`` and their labels, in their original order.
    """
    _check_digit(a)
    _check_digit(b)
    if a == b:
        raise OptionError(f"a pair needs two different digits, got {a} and {b}")
    mask = (y == a) | (y == b)
    return X[mask], y[mask]


def stratified_subsample(
    X: np.ndarray, y: np.ndarray, n: int, random_state: int | None = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A subsample of ``n`` rows with the class proportions of ``y`` (shuffled).

    Parameters
    ----------
    X : ndarray of shape (n_samples, ...)
        Rows to draw from.
    y : ndarray of shape (n_samples,)
        Their labels; the subsample keeps their proportions.
    n : int
        Rows wanted; at least one per class. ``n >= n_samples`` returns all rows, shuffled.
    random_state : int or None, default 0
        Seed of the draw.

    Returns
    -------
    X, y : tuple of ndarray
        ``min(n, n_samples)`` rows and their labels.
    """
    if n >= len(y):
        return shuffle(X, y, random_state)
    from sklearn.model_selection import train_test_split

    n_classes = len(np.unique(y))
    if n < n_classes:
        raise OptionError(f"a stratified subsample needs at least {n_classes} rows (one per class), got {n}")
    Xs, _, ys, _ = train_test_split(X, y, train_size=n, stratify=y, random_state=random_state)
    return Xs, ys


def _check_digit(d: int) -> None:
    if not (isinstance(d, int | np.integer) and 0 <= d <= 9):
        raise OptionError(f"digit must be an integer 0-9, got {d!r}")


@dataclass(frozen=True)
class Task:
    """What to classify: ``kind`` is "multiclass", "digit" or "pair"; ``digits`` the digits named."""

    kind: str = "multiclass"
    digits: tuple[int, ...] = ()

    def __str__(self) -> str:
        if self.kind == "multiclass":
            return "multiclass"
        return f"{self.kind}:{','.join(map(str, self.digits))}"

    @property
    def class_names(self) -> list[str]:
        """Human-readable names of the model's classes, in order."""
        if self.kind == "digit":
            return [f"not {self.digits[0]}", f"{self.digits[0]}"]
        if self.kind == "pair":
            return [str(d) for d in sorted(self.digits)]
        return [str(d) for d in range(10)]

    def label_of(self, class_value: int | np.integer[Any]) -> str:
        """What a predicted class means to a person: "2" / "not 2" for ``digit:2``, the digit otherwise.

        Parameters
        ----------
        class_value : int
            A class the model predicts (a digit, or 0/1 for ``digit:D``).

        Returns
        -------
        str
            Its readable label.
        """
        if self.kind == "digit":
            return str(self.digits[0]) if int(class_value) == 1 else f"not {self.digits[0]}"
        return str(int(class_value))

    def digit_of(self, class_value: int | np.integer[Any]) -> int | None:
        """The digit a predicted class names, or None ("not 2" names no digit).

        Parameters
        ----------
        class_value : int
            A class the model predicts (a digit, or 0/1 for ``digit:D``).

        Returns
        -------
        int or None
            The digit.
        """
        if self.kind == "digit":
            return self.digits[0] if int(class_value) == 1 else None
        return int(class_value)

    @property
    def scope_note(self) -> str | None:
        """A plain sentence on what a binary model can answer (None for the ten-digit model)."""
        if self.kind == "digit":
            return f"a {self} model answers only '{self.digits[0]}' or 'not {self.digits[0]}'"
        if self.kind == "pair":
            a, b = sorted(self.digits)
            return f"a {self} model knows only the digits {a} and {b}: any image is read as one of them"
        return None

    def apply(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rows and targets of this task from MNIST pixels and digit labels.

        Parameters
        ----------
        X : ndarray of shape (n_samples, 784)
            Pixels.
        y : ndarray of shape (n_samples,)
            Digit labels.

        Returns
        -------
        X, y : tuple of ndarray
            ``X`` and ``y`` for ``multiclass``; ``X`` and the 0/1 target for ``digit:D``
            (:func:`binary_target`); the rows of the two digits for ``pair:A,B`` (:func:`pair_subset`).
        """
        if self.kind == "digit":
            return X, binary_target(y, self.digits[0])
        if self.kind == "pair":
            return pair_subset(X, y, *self.digits)
        return X, y


def parse_task(text: str) -> Task:
    """Parse ``"multiclass"``, ``"digit:D"`` or ``"pair:A,B"`` into a :class:`Task`.

    Parameters
    ----------
    text : str
        The task as written on the command line and in a model file.

    Returns
    -------
    Task
        Its kind and digits.

    Raises
    ------
    OptionError
        With the expected forms, when ``text`` is none of them (a ``ValueError`` too).
    """
    forms = "expected 'multiclass', 'digit:D' or 'pair:A,B' with digits 0-9"
    text = text.strip()
    if text == "multiclass":
        return Task()
    kind, sep, rest = text.partition(":")
    if not sep or kind not in ("digit", "pair"):
        raise OptionError(f"bad task {text!r}: {forms}")
    parts = [p.strip() for p in rest.split(",")]
    if not all(p.isdigit() for p in parts) or not parts:
        raise OptionError(f"bad task {text!r}: {forms}")
    digits = tuple(int(p) for p in parts)
    if any(d > 9 for d in digits):
        raise OptionError(f"bad task {text!r}: unknown digit {max(digits)}; {forms}")
    if kind == "digit" and len(digits) != 1:
        raise OptionError(f"bad task {text!r}: 'digit' takes one digit; {forms}")
    if kind == "pair" and (len(digits) != 2 or digits[0] == digits[1]):
        raise OptionError(f"bad task {text!r}: 'pair' takes two different digits; {forms}")
    return Task(kind, digits)
