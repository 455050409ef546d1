"""Figures: each function takes plain data and returns a matplotlib ``Figure``.

Nothing here touches global pyplot state, so the functions are safe in scripts, servers and
notebooks; :func:`save_figure` writes a PNG atomically.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.artist import Artist
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from ._atomic import atomic_write

__all__ = [
    "coefficient_images",
    "confusion_examples",
    "confusion_matrix_figure",
    "digit_figure",
    "digit_grid",
    "explanation_figure",
    "feature_ladder",
    "learning_curve",
    "mean_images",
    "pixel_correlation",
    "save_figure",
    "training_curve",
]


def _as_images(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X)
    return X.reshape(len(X), 28, 28) if X.ndim == 2 else X


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int = 100) -> None:
    """Write ``fig`` as a PNG to ``path`` (temporary file, then rename).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path : str or os.PathLike
        The PNG file to write (replaced whole, never left half-written).
    dpi : int, default 100
        Resolution.
    """
    with atomic_write(path) as fh:
        fig.savefig(fh, format="png", dpi=dpi, bbox_inches="tight")


def digit_figure(image: np.ndarray, title: str = "") -> Figure:
    """One digit (784 values or 28x28) shown as a 28x28 greyscale image.

    Parameters
    ----------
    image : ndarray of shape (784,) or (28, 28)
        Pixel values (any scale; larger values are drawn darker).
    title : str, default ""
        The figure's title (none when empty).

    Returns
    -------
    matplotlib.figure.Figure
        The image, without axes.
    """
    fig = Figure(figsize=(3, 3.2), layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(np.asarray(image).reshape(28, 28), cmap="gray_r", interpolation="nearest")
    ax.set_title(title)
    ax.set_axis_off()
    return fig


#: characters of a digit_grid label per line (a 1.1-inch column at 8 points)
_GRID_LABEL_CHARS = 15


def _fit_label(line: str, width: int | None = None) -> str:
    """A label line fitted to a grid column's width: wrapped between words, never inside one; a
    word longer than the column (a file name) shortened in its middle, so that its start and its
    end (the extension) stay readable: ``handwritten_sev…_3.png``."""
    width = width or _GRID_LABEL_CHARS

    def short(word: str) -> str:
        if len(word) <= width:
            return word
        tail = min(6, width // 3)
        return word[: width - tail - 1] + "…" + word[-tail:]

    words = [short(w) for w in line.split(" ")]
    return textwrap.fill(" ".join(words), width, break_long_words=False, break_on_hyphens=False) or line


def digit_grid(
    images: np.ndarray,
    labels: Sequence[Any] | None = None,
    *,
    rows: int | None = None,
    cols: int | None = None,
    title: str = "",
    label_colors: Sequence[str] | None = None,
) -> Figure:
    """A grid of digits, each titled with its label (a string such as "7" or "true 7, pred 1").

    Parameters
    ----------
    images : ndarray of shape (n, 784) or (n, 28, 28)
        The digits, in order, row by row.
    labels : sequence or None, default None
        A title per digit (long ones wrap to their column's width); None leaves them untitled.
    rows, cols : int or None, default None
        The grid's shape; None means at most 10 columns and as many rows as the digits need.
    title : str, default ""
        The figure's title (none when empty).
    label_colors : sequence of str or None, default None
        A matplotlib colour per label (black by default).

    Returns
    -------
    matplotlib.figure.Figure
        The grid; cells beyond the digits are blank.
    """
    images = _as_images(images)
    n = len(images)
    if cols is None:
        cols = min(10, max(n, 1))
    if rows is None:
        rows = max(1, -(-n // cols))
    fig = Figure(figsize=(1.1 * cols, 1.25 * rows + (0.4 if title else 0)), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= n:
            continue
        ax.imshow(images[i], cmap="gray_r", interpolation="nearest")
        if labels is not None:
            color = label_colors[i] if label_colors is not None else "black"
            text = "\n".join(_fit_label(line) for line in str(labels[i]).split("\n"))
            ax.set_title(text, fontsize=8, color=color)
    if title:
        fig.suptitle(title)
    return fig


def explanation_figure(digits: np.ndarray, evidence: np.ndarray, titles: Sequence[str],
                       sides: Sequence[tuple[str, str]], caption: str = "") -> Figure:
    """Each digit beside its evidence map: red ink pushed towards the answer, blue towards the runner-up.

    Parameters
    ----------
    digits : ndarray of shape (n, 784) or (n, 28, 28)
        The inputs the model saw.
    evidence : ndarray of shape (n, 784) or (n, 28, 28)
        Per pixel, how much its ink raised the log-odds of the answer against the runner-up
        (see :mod:`mnist_logreg.explain`).
    titles : sequence of str
        A title per digit (its name and answer).
    sides : sequence of (str, str)
        Per digit, the labels of the answer and of the runner-up (the colour bar's ends).
    caption : str, default ""
        What the maps mean, under the figure (wrapped).

    Returns
    -------
    matplotlib.figure.Figure
        One row per digit: the input, then the evidence on a symmetric red-blue scale.
    """
    digits, evidence = _as_images(digits), _as_images(evidence)
    n = len(digits)
    fig = Figure(figsize=(5.2, 2.4 * n + (0.8 if caption else 0.2)), layout="constrained")
    axes = fig.subplots(n, 2, squeeze=False)
    for i in range(n):
        seen, ev = axes[i]
        seen.imshow(digits[i], cmap="gray_r", interpolation="nearest")
        seen.set_title(_fit_label(titles[i], 30), fontsize=9)
        top = float(np.abs(evidence[i]).max()) or 1.0
        shown = ev.imshow(np.where(digits[i] > 0, evidence[i], np.nan), cmap="RdBu_r", vmin=-top, vmax=top,
                          interpolation="nearest")
        ev.set_facecolor("white")
        ev.set_title("the evidence", fontsize=9)
        answer, runner_up = sides[i]
        bar = fig.colorbar(shown, ax=ev, ticks=[-top, 0, top], shrink=0.9)
        bar.ax.set_yticklabels([f"towards {runner_up}", "0", f"towards {answer}"], fontsize=8)
        for ax in (seen, ev):
            ax.set_xticks([])
            ax.set_yticks([])
    if caption:
        fig.supxlabel(textwrap.fill(caption, 80), fontsize=8, ha="center")
    return fig


def confusion_examples(rows: Sequence[tuple[str, np.ndarray]], per_row: int = 8) -> Figure:
    """Example digits of the top confusions: one row each, titled (e.g. "4 read as 9: 23 digits").

    Parameters
    ----------
    rows : sequence of (str, ndarray)
        Per row, its title and the digits to show (shape (k, 784) or (k, 28, 28)).
    per_row : int, default 8
        Cells per row; a row with fewer digits leaves the rest blank, extra ones are not shown.

    Returns
    -------
    matplotlib.figure.Figure
        One row per confusion.
    """
    fig = Figure(figsize=(1.0 * per_row, 1.35 * max(len(rows), 1)), layout="constrained")
    subfigs = fig.subfigures(max(len(rows), 1), 1, squeeze=False)[:, 0]
    for subfig, (title, images) in zip(subfigs, rows, strict=False):
        subfig.suptitle(title, fontsize=10, x=0.0, ha="left")
        axes = subfig.subplots(1, per_row, squeeze=False)[0]
        for ax, image in zip(axes, list(_as_images(images)) + [None] * per_row, strict=False):
            ax.set_axis_off()
            if image is not None:
                ax.imshow(image, cmap="gray_r", interpolation="nearest")
    return fig


def learning_curve(rows: Sequence[dict[str, Any]]) -> Figure:
    """Train and test accuracy against the number of training digits (log scale).

    Parameters
    ----------
    rows : sequence of dict
        Per training size: ``n``, ``train_accuracy`` and ``test_accuracy`` (0-1), as
        :func:`mnist_logreg.evaluation.learning_curve` returns them.

    Returns
    -------
    matplotlib.figure.Figure
        Accuracy in percent against ``n``.
    """
    fig = Figure(figsize=(6, 3.6), layout="constrained")
    ax = fig.subplots()
    n = [r["n"] for r in rows]
    ax.plot(n, [100 * r["train_accuracy"] for r in rows], "o-", label="train")
    ax.plot(n, [100 * r["test_accuracy"] for r in rows], "o-", label="test")
    ax.set_xscale("log")
    ax.set_xticks(n, [f"{v:,}" for v in n], fontsize=8)
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("training digits")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Learning curve")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return fig


def confusion_matrix_figure(cm: np.ndarray, class_names: Sequence[str], *, normalize: bool = False) -> Figure:
    """Confusion matrix as a heatmap: counts, or rows normalised to sum 1 (recall per class).

    Parameters
    ----------
    cm : ndarray of shape (n_classes, n_classes)
        Counts, rows true and columns predicted.
    class_names : sequence of str
        The classes' names, in the matrix's order.
    normalize : bool, default False
        Show each row divided by its sum instead of the counts.

    Returns
    -------
    matplotlib.figure.Figure
        The heatmap with its colour bar.
    """
    cm = np.asarray(cm, dtype=float)
    values = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    k = len(class_names)
    fig = Figure(figsize=(1.0 + 0.55 * k, 0.8 + 0.5 * k), layout="constrained")
    ax = fig.add_subplot()
    im = ax.imshow(values, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_xticks(range(k), class_names)
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    # above the colorbar too: a title over the matrix alone runs into the colorbar's top label
    fig.suptitle("Confusion matrix (row-normalised)" if normalize else "Confusion matrix (counts)")
    top = values.max() if values.size else 1
    for i in range(k):
        for j in range(k):
            text = f"{values[i, j]:.2f}" if normalize else f"{int(values[i, j])}"
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if values[i, j] > 0.6 * top else "black")
    return fig


def coefficient_images(coef: np.ndarray, class_names: Sequence[str], *,
                       title: str = "Coefficients (red: evidence for the class, blue: against)") -> Figure:
    """One 28x28 heatmap per class of the model's coefficients, diverging colours centred at 0.

    Parameters
    ----------
    coef : ndarray of shape (n_classes, 784)
        The model's coefficients on the pixels (one row for a binary model).
    class_names : sequence of str
        A title per row of ``coef``.
    title : str
        The figure's title.

    Returns
    -------
    matplotlib.figure.Figure
        One heatmap per class, on one colour scale symmetric about 0.
    """
    coef = np.atleast_2d(coef)
    k = len(coef)
    cols = min(5, k)
    rows = -(-k // cols)
    fig = Figure(figsize=(2.2 * cols + 0.8, 2.3 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    # a few rarely-inked border pixels get large weights; a robust limit keeps the digits visible
    limit = float(np.percentile(np.abs(coef), 99.5)) or float(np.abs(coef).max()) or 1.0
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-limit, vmax=limit)
    im = None
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < k:
            im = ax.imshow(np.clip(coef[i], -limit, limit).reshape(28, 28), cmap="RdBu_r", norm=norm,
                           interpolation="nearest")
            ax.set_title(f"class {class_names[i]}", fontsize=9)
    assert im is not None  # k >= 1: at least one class's image
    fig.colorbar(im, ax=axes.ravel().tolist(), fraction=0.03)
    fig.suptitle(title)
    return fig


def pixel_correlation(X: np.ndarray, max_rows: int = 10000, seed: int = 0) -> Figure:
    """Correlation between the 784 pixels over (a sample of) the images; constant pixels are blank.

    Parameters
    ----------
    X : ndarray of shape (n_samples, 784) or (n_samples, 28, 28)
        The images.
    max_rows : int, default 10000
        At most this many images, drawn at random, enter the correlation.
    seed : int, default 0
        Seed of that draw.

    Returns
    -------
    matplotlib.figure.Figure
        The 784 x 784 correlation matrix as a heatmap.
    """
    X = np.asarray(X).reshape(len(X), -1)
    if len(X) > max_rows:
        X = X[np.random.default_rng(seed).choice(len(X), max_rows, replace=False)]
    Xf = X.astype(np.float64)
    std = Xf.std(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.asarray(np.corrcoef(Xf, rowvar=False))  # asarray: numpy types the result array or scalar
    corr[std == 0, :] = np.nan
    corr[:, std == 0] = np.nan
    fig = Figure(figsize=(6.5, 5.5), layout="constrained")
    ax = fig.add_subplot()
    im = ax.imshow(corr, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, label="Pearson correlation")
    ax.set_title(f"Pixel correlation ({len(X)} training images)")
    ax.set_xlabel("pixel index (row-major 28x28)")
    ax.set_ylabel("pixel index")
    return fig


def mean_images(X: np.ndarray, y: np.ndarray, classes: Sequence[int] = tuple(range(10))) -> Figure:
    """The mean image of each digit.

    Parameters
    ----------
    X : ndarray of shape (n_samples, 784) or (n_samples, 28, 28)
        The images.
    y : ndarray of shape (n_samples,)
        Their labels.
    classes : sequence of int, default 0 to 9
        The digits shown, in order.

    Returns
    -------
    matplotlib.figure.Figure
        One mean image per class.
    """
    X = _as_images(X)
    means = np.stack([X[y == c].mean(axis=0) if np.any(y == c) else np.zeros((28, 28)) for c in classes])
    return digit_grid(means, [f"mean {c}" for c in classes], cols=min(10, len(classes)),
                      title="Mean image per digit")


def training_curve(history: Sequence[dict[str, Any]], test_accuracy: float | None = None) -> Figure:
    """Objective (and estimated gap) per solver iteration, log scale.

    Parameters
    ----------
    history : sequence of dict
        The solver's per-iteration records (``history_``): ``iter``, ``objective`` and
        ``est_gap`` (optional).
    test_accuracy : float or None, default None
        Shown in the title when given (0-1).

    Returns
    -------
    matplotlib.figure.Figure
        Two panels: the objective, and the estimated gap relative to the objective.
    """
    fig = Figure(figsize=(7, 3.2), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    its = [h["iter"] for h in history]
    ax1.plot(its, [h["objective"] for h in history])
    ax1.set_xlabel("iteration")
    ax1.set_ylabel("objective F")
    ax1.set_yscale("log")
    ax1.set_title("Objective")
    gaps = [max(h.get("est_gap", np.nan), 1e-16) for h in history]
    ax2.plot(its, [g / max(abs(h["objective"]), 1) for g, h in zip(gaps, history, strict=True)])
    ax2.set_yscale("log")
    ax2.set_xlabel("iteration")
    ax2.set_ylabel("estimated relative gap")
    title = "Convergence"
    if test_accuracy is not None:
        title += f" (test accuracy {test_accuracy:.2%})"
    ax2.set_title(title)

    return fig


def feature_ladder(names: Sequence[str], accuracies: Sequence[float], *, current: str | None = None,
                   current_accuracy: float | None = None) -> Figure:
    """Test accuracy per feature map, from raw pixels up; ``current`` (this run) is highlighted.

    Parameters
    ----------
    names, accuracies
        The feature maps in order and their measured test accuracies (0-1).
    current, current_accuracy
        This run's feature map and accuracy, drawn as a marker (``current`` may be a spec not in
        ``names``: it is added at the end).

    Returns
    -------
    matplotlib.figure.Figure
        A bar per feature map, with this run's marker.
    """
    names, acc = list(names), [100 * a for a in accuracies]
    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = fig.add_subplot()
    colors = ["#4a78b5" if n != current else "#e07b39" for n in names]
    bars = ax.barh(names, acc, color=colors)
    ax.bar_label(bars, labels=[f"{a:.2f}%" for a in acc], padding=3, fontsize=9)
    if current is not None and current_accuracy is not None:
        if current not in names:
            names.append(current)
            ax.barh([current], [100 * current_accuracy], color="#e07b39")
        ax.plot([100 * current_accuracy], [names.index(current)], "k|", markersize=18, mew=2,
                label=f"this run: {current_accuracy:.2%}")
        # outside the axes: inside, it sat on a bar and read as that bar's score
        fig.legend(loc="outside lower center", fontsize=9)
    lo = min(min(acc), 100 * (current_accuracy or 1)) - 1.5
    ax.set_xlim(max(lo, 0), 100.6)
    ax.invert_yaxis()
    ax.set_xlabel("test accuracy (%)")
    ax.set_title("Logistic regression: from pixels to feature maps")
    return fig


def regularisation_path(rows: Sequence[dict[str, Any]], coefs: Sequence[np.ndarray], class_names: Sequence[str], *,
                        chosen_C: float | None = None, max_images: int = 4) -> Figure:
    """Accuracy against C (train, validation, test), the share of zero coefficients for L1 paths, and
    coefficient images at a few C (rows: C, columns: classes) when the features are pixels.

    ``rows`` and ``coefs`` are what :func:`mnist_logreg.evaluation.regularisation_path` returns.
    """
    Cs = np.array([r["C"] for r in rows])
    show = [i for i in np.unique(np.linspace(0, len(rows) - 1, min(max_images, len(rows))).round().astype(int))]
    pixels = coefs[0].shape[1] == 784
    fig = Figure(figsize=(11, 3.4 + (1.25 * len(show) if pixels else 0)), layout="constrained")
    # matplotlib's stub types subfigures() as one SubFigure or an array, whatever the grid: 2 x 1 is an array
    top, bottom = fig.subfigures(2, 1, height_ratios=[3.4, 1.25 * len(show)]) if pixels else (fig, None)  # type: ignore[misc]
    ax = top.subplots()
    for name, style in (("train", "o-"), ("validation", "s-"), ("test", "^-")):
        key = f"{name}_accuracy"
        if key in rows[0]:
            ax.plot(Cs, [r[key] for r in rows], style, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("C (larger: weaker penalty)")
    ax.set_ylabel("accuracy")
    if chosen_C is not None:
        ax.axvline(chosen_C, color="grey", linestyle="--", label=f"chosen C = {chosen_C:g}")
    zeros = [r["zero_fraction"] for r in rows]
    if rows[0].get("penalty") in ("l1", "elasticnet"):
        ax2 = ax.twinx()
        ax2.plot(Cs, zeros, "k:", label="zero coefficients")
        ax2.set_ylabel("share of coefficients = 0")
        ax2.set_ylim(0, 1)
    # one legend beside the axes, never on the points (inside, it covered the smallest C's)
    handles: list[Artist] = []
    labels: list[str] = []
    for a in top.axes:
        h, lab = a.get_legend_handles_labels()
        handles += h
        labels += lab
    top.legend(handles, labels, loc="outside right upper", fontsize=8)
    ax.set_title("Regularisation path: accuracy against C")
    if bottom is not None:
        k = coefs[0].shape[0]
        axes = bottom.subplots(len(show), k, squeeze=False)
        for r, i in enumerate(show):
            limit = float(np.percentile(np.abs(coefs[i]), 99.5)) or 1.0
            for j in range(k):
                a = axes[r, j]
                a.imshow(np.clip(coefs[i][j], -limit, limit).reshape(28, 28), cmap="RdBu_r", vmin=-limit, vmax=limit,
                         interpolation="nearest")
                a.set_xticks([]), a.set_yticks([])
                if r == 0:
                    a.set_title(class_names[j] if k > 1 else f"{class_names[-1]}", fontsize=8)
                if j == 0:
                    a.set_ylabel(f"C={Cs[i]:g}", fontsize=8)
        bottom.suptitle("Coefficients at a few C: templates under a strong penalty, noise under a weak one",
                        fontsize=9)
    return fig


def pr_roc_curves(y_true: np.ndarray, scores: np.ndarray, positive: str, negative: str = "the rest",
                  threshold: float = 0.5) -> Figure:
    """ROC and precision-recall curves of a binary model, with its operating point marked.

    Parameters
    ----------
    y_true : ndarray of bool
        Whether each digit is the positive class.
    scores : ndarray
        The model's probability of the positive class.
    positive, negative : str
        The classes' names ("2" and "not 2", or "5" and "3").
    threshold : float
        The decision threshold the model uses (0.5: the most probable class).
    """
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

    y_true = np.asarray(y_true, dtype=bool)
    predicted = scores >= threshold
    tpr_point = float(np.mean(predicted[y_true])) if y_true.any() else 0.0
    fpr_point = float(np.mean(predicted[~y_true])) if (~y_true).any() else 0.0
    precision_point = float(np.mean(y_true[predicted])) if predicted.any() else 1.0
    fig = Figure(figsize=(9, 4), layout="constrained")
    ax_roc, ax_pr = fig.subplots(1, 2)
    fpr, tpr, _ = roc_curve(y_true, scores)
    ax_roc.plot(fpr, tpr, label=f"AUC {roc_auc_score(y_true, scores):.4f}")
    ax_roc.plot([0, 1], [0, 1], ":", color="grey")
    ax_roc.plot([fpr_point], [tpr_point], "o", color="firebrick", label=f"threshold {threshold:g}")
    ax_roc.set_xlabel("false positive rate")
    ax_roc.set_ylabel("true positive rate (recall)")
    ax_roc.set_title("ROC")
    ax_roc.legend(loc="lower right", fontsize=9)
    precision, recall, _ = precision_recall_curve(y_true, scores)
    ax_pr.plot(recall, precision, label=f"average precision {average_precision_score(y_true, scores):.4f}")
    ax_pr.plot([tpr_point], [precision_point], "o", color="firebrick", label=f"threshold {threshold:g}")
    ax_pr.set_xlabel("recall")
    ax_pr.set_ylabel("precision")
    ax_pr.set_title("Precision-recall")
    ax_pr.legend(loc="lower left", fontsize=9)
    fig.suptitle(f"{positive} against {negative} on the test set; the dot is the model's operating point")
    return fig
