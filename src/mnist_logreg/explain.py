"""Why the model answered what it did: which ink pushed it towards its answer, which towards its
second choice.

The evidence of a pixel is how much the model's log-odds of its answer against its runner-up,
``log p(answer) - log p(runner-up)``, drop when that pixel's ink is taken away (set to the
background, 0):

- on pixels (no feature map), each ink pixel is taken away alone; for a softmax on pixels the
  log-odds are linear in the pixels, so this is exactly the coefficient difference of the two
  classes times the input;
- on a feature map (deskew, patch filters...), a pixel alone barely changes a pooled feature, so
  the ink of a 3x3 window around each ink pixel is taken away (occlusion) and the drop shared
  among the window's ink pixels.

Only ink can be taken away: a blank pixel has no evidence, whatever the model expects there. All
the changed inputs go through the model in one call (one per ink pixel, 150 on a typical digit).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .modelio import final_estimator
from .tasks import Task, parse_task

__all__ = ["Explanation", "explain_digit"]

#: the side of the window of ink taken away on a feature map
WINDOW = 3


@dataclass
class Explanation:
    """The evidence behind one answer.

    Attributes
    ----------
    answer, runner_up : str
        The labels of the likeliest and the second likeliest classes.
    probabilities : tuple of float
        Their probabilities.
    evidence : ndarray of float, shape (28, 28)
        For each pixel, how much its ink raised the log-odds of ``answer`` against ``runner_up``
        (positive: towards the answer; negative: towards the runner-up; 0 where there is no ink).
    method : str
        ``"pixels"`` (coefficients times input) or ``"occlusion"`` (3x3 windows, feature maps).
    """

    answer: str
    runner_up: str
    probabilities: tuple[float, float]
    evidence: np.ndarray
    method: str

    @property
    def log_odds(self) -> float:
        """``log p(answer) - log p(runner-up)``: how far ahead the answer is."""
        pa, pb = (max(p, 1e-300) for p in self.probabilities)
        return float(np.log(pa) - np.log(pb))

    def sentence(self) -> str:
        """What the map means, in words, for this answer.

        Returns
        -------
        str
        """
        pa, pb = self.probabilities
        how = ("each ink pixel taken away alone" if self.method == "pixels"
               else "the ink around each pixel taken away")
        return (f"Red ink pushed the model towards {self.answer}, blue ink towards {self.runner_up}, its second "
                f"choice ({pa:.0%} against {pb:.0%}); the deeper the colour, the more that ink counted "
                f"({how}). Blank paper counts for nothing here.")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready document (the web API's ``explanation``).

        Returns
        -------
        dict
            ``answer``, ``runner_up``, ``probabilities``, ``method``, ``sentence`` and
            ``evidence`` (28 rows of 28 numbers, rounded to 4 decimals).
        """
        return {"answer": self.answer, "runner_up": self.runner_up, "probabilities": list(self.probabilities),
                "method": self.method, "sentence": self.sentence(),
                "evidence": np.round(self.evidence, 4).tolist()}


def _on_pixels(model: Any) -> bool:
    """Whether the model reads the pixels directly (no feature steps before its estimator)."""
    return final_estimator(model) is model


def _log_odds(model: Any, X: np.ndarray, a: int, b: int) -> np.ndarray:
    P = np.asarray(model.predict_proba(X), dtype=np.float64)
    return np.log(np.maximum(P[:, a], 1e-300)) - np.log(np.maximum(P[:, b], 1e-300))


def explain_digit(model: Any, task: Task | str, digit: np.ndarray) -> Explanation:
    """The evidence behind the model's answer for one 28x28 digit.

    Parameters
    ----------
    model : classifier
        A fitted model (``load_model``'s first value): ``classes_`` and ``predict_proba`` on rows
        of 784 pixels; at least two classes.
    task : Task or str
        What the model classifies (it names the classes).
    digit : array-like of shape (28, 28) or (784,)
        The input, MNIST-style (as :func:`~mnist_logreg.images.read_image` gives it).

    Returns
    -------
    Explanation
    """
    task = parse_task(task) if isinstance(task, str) else task
    x = np.asarray(digit, dtype=np.float64).reshape(-1)
    if x.shape != (784,):
        raise ValueError(f"digit: expected 784 pixels (28x28), found {x.size}")
    p = np.asarray(model.predict_proba(x[None]), dtype=np.float64)[0]
    if len(p) < 2:
        raise ValueError("explain: the model has a single class; there is nothing to tell apart")
    a, b = (int(i) for i in np.argsort(-p, kind="stable")[:2])
    ink = np.flatnonzero(x > 0)
    evidence = np.zeros(784)
    pixels = _on_pixels(model)
    if len(ink):
        base = _log_odds(model, x[None], a, b)[0]
        occluded = np.repeat(x[None], len(ink), axis=0)
        if pixels:
            occluded[np.arange(len(ink)), ink] = 0.0
            evidence[ink] = base - _log_odds(model, occluded, a, b)
        else:
            img = occluded.reshape(-1, 28, 28)
            rows, cols = np.divmod(ink, 28)
            h = WINDOW // 2
            shares = np.empty(len(ink))
            for k, (r, c) in enumerate(zip(rows, cols, strict=True)):
                window = img[k, max(r - h, 0) : r + h + 1, max(c - h, 0) : c + h + 1]
                shares[k] = np.count_nonzero(window)
                window[:] = 0.0
            evidence[ink] = (base - _log_odds(model, occluded, a, b)) / shares
    classes = model.classes_
    return Explanation(answer=task.label_of(classes[a]), runner_up=task.label_of(classes[b]),
                       probabilities=(float(p[a]), float(p[b])), evidence=evidence.reshape(28, 28),
                       method="pixels" if pixels else "occlusion")
