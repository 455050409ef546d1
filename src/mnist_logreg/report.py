"""The HTML report: one self-contained page (figures embedded) built from a run folder."""

from __future__ import annotations

import base64
import json
import math
import os
from pathlib import Path
from typing import Any

from ._atomic import atomic_write
from ._schema import METRICS_SCHEMA, SchemaError, validate
from .evaluation import top_confusions

__all__ = ["APPENDIX", "BINARY_ONLY", "FIGURES", "build_report"]

#: figures written only for two-class tasks
BINARY_ONLY = frozenset({"pr_roc.png"})

#: figure file -> caption, in the order the report shows them
FIGURES = {
    "confusion_matrix.png": "Confusion matrix on the test set (counts)",
    "confusion_matrix_normalized.png": "Confusion matrix, rows normalised (recall per class)",
    "pr_roc.png": "Binary tasks: ROC and precision-recall curves on the test set, the model's operating point "
                  "marked",
    "misclassified.png": "Misclassified test digits, most confident mistakes first",
    "correct.png": "A sample of correctly classified test digits",
    "coefficients.png": "Coefficient images: one 28x28 heatmap per class",
    "feature_ladder.png": "Test accuracy from raw pixels to feature maps (full MNIST, measured by "
                          "benchmarks/bench_features.py); this run is marked",
    "coefficients_readable.png": "Coefficient images of the same model under a strong penalty (the C in the "
                                 "title): readable templates of the digits, where C = 1 gives noise",
    "training_curve.png": "Objective and estimated gap per solver iteration",
    "learning_curve.png": "Learning curve: train and test accuracy against the number of training digits (the "
                          "same model fitted on the first n shuffled digits, each fit warm-started from the "
                          "previous one)",
    "regularisation_path.png": "Regularisation path: train, validation and test accuracy against C (the "
                               "model was refitted at the chosen C), and coefficient images at a few C",
    "grid.png": "The data as it comes: the first training digits (the task's digits) with their labels",
    "mean_images.png": "Mean image per digit (training set, the task's digits)",
    "pixel_correlation.png": "Pixel-correlation heatmap of the training images (the task's digits)",
}
#: figures about the data rather than the model: shown in the appendix
APPENDIX = frozenset({"grid.png", "mean_images.png", "pixel_correlation.png"})


def _wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of an accuracy ``p`` measured on ``n`` digits."""
    if n <= 0:
        return (float("nan"), float("nan"))
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _readable(value: object) -> str:
    """An option's value as a person reads it (not JSON: no null, no quotes)."""
    if value is None:
        return "default"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_readable(v) for v in value)
    return str(value)


def _read_metrics(path: Path) -> dict[str, Any]:
    """metrics.json, checked against :data:`~._schema.METRICS_SCHEMA` (a SchemaError, a ValueError, names
    the file and the first bad field)."""
    try:
        m = json.loads(path.read_text())
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise SchemaError(f"{path}: not valid JSON ({type(exc).__name__}: {str(exc)[:200]})") from exc
    validate(m, METRICS_SCHEMA, path)
    n = len(m["test"]["per_class"])
    if len(m["test"]["confusion_matrix"]) != n or any(len(row) != n for row in m["test"]["confusion_matrix"]):
        raise SchemaError(f"{path}: field 'test.confusion_matrix': expected {n} x {n} (one row and column per "
                          "class of test.per_class)")
    path_doc = m.get("path")
    if path_doc and not any(row["C"] == path_doc["chosen_C"] for row in path_doc["rows"]):
        raise SchemaError(f"{path}: field 'path.chosen_C': {path_doc['chosen_C']} is not the C of any row")
    return m


def _context(m: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """Everything the template shows, computed from metrics.json and the figures in ``run_dir``."""
    test, fit, opts = m["test"], m.get("fit", {}), m["options"]
    accuracy, n_test = float(test["accuracy"]), int(test["n_samples"])
    per_class = _per_class(test)
    names = [r["name"] for r in per_class]
    cm = [[int(x) for x in row] for row in test["confusion_matrix"]]
    confusions = [{"true": names[i], "pred": names[j], "count": count, "share": count / max(sum(cm[i]), 1)}
                  for i, j, count in top_confusions(cm, 5)]
    fit_line, converged_ok = _fit_line(fit, opts)
    features = fit.get("features", "pixels")
    figures, appendix, confusion_figure = _figures(run_dir)
    majority, baseline = _majority_baseline(per_class)
    binary = _binary_context(cm, names, run_dir)
    model_name = opts["model"]
    if len(per_class) == 2 and model_name in ("softmax", "ovr"):
        model_name = "binary logistic regression"
    options, defaults = _options_rows(opts, fit)
    versions = m.get("versions", {})
    data = m.get("data", {})
    data_rows = [("source", data.get("source", "-"))] + [
        (f"MD5 {k}", v) for k, v in (data.get("checksums") or {}).items()]
    return {
        "task": opts["task"], "model": model_name, "accuracy": accuracy, "n_test": n_test,
        "baseline": baseline, "majority": majority, "default_options": defaults,
        "ci": _wilson(accuracy, n_test), "fit_line": fit_line, "converged_ok": converged_ok,
        "created": m.get("created", "-"), "source": data.get("source", "-"),
        "versions_line": ", ".join(f"{k} {v}" for k, v in versions.items() if v),
        "notes": _notes(m, fit, opts), "per_class": per_class,
        "weakest": [r["name"] for r in sorted(per_class, key=lambda r: r["f1"])[: 2 if len(per_class) > 2 else 1]],
        "confusions": confusions, "train": m.get("train"), "test_log_loss": test.get("log_loss"),
        "gap_text": _gap_text(m.get("train"), accuracy), "cv": _cv_context(m.get("cross_validation")),
        "path": m.get("path"), "appendix": appendix, "confusion_figure": confusion_figure,
        "binary": binary, "figures": _without_binary_figure(figures) if binary else figures,
        "curve_text": _curve_text(m.get("learning_curve") or [], features),
        "options": options,
        "data_rows": data_rows, "versions": list(versions.items()), "report_text": test["report_text"],
    }


def _per_class(test: dict[str, Any]) -> list[dict[str, Any]]:
    """Each class's precision, recall, F1 and support."""
    return [{"name": str(name), "precision": float(v["precision"]), "recall": float(v["recall"]),
             "f1": float(v["f1-score"]), "support": int(v["support"])} for name, v in test["per_class"].items()]


def _fit_line(fit: dict[str, Any], opts: dict[str, Any]) -> tuple[str, bool]:
    """The fit in one line, and whether it is fine (converged, or nothing to converge)."""
    if opts.get("model_file"):
        return f"saved model {opts['model_file']}", True
    if fit.get("model") == "sgd":
        return f"fit {float(fit.get('fit_time_s', 0)):.2f} s, {int(fit.get('n_iter', 0))} epochs of SGD", True
    if fit:
        converged_ok = bool(fit.get("converged"))
        return (f"fit {float(fit.get('fit_time_s', 0)):.2f} s, {int(fit.get('n_iter', 0))} iterations, "
                f"{'converged' if converged_ok else 'NOT converged'}"), converged_ok
    return "", True


def _notes(m: dict[str, Any], fit: dict[str, Any], opts: dict[str, Any]) -> list[dict[str, str]]:
    """The notes above the results: the features used, the path over C."""
    notes = []
    features = fit.get("features", "pixels")
    if features != "pixels":
        notes.append({"id": "features", "text": (
            f"Features: {features}, {fit.get('n_features')} columns, computed in "
            f"{float(fit.get('features_time_s', 0)):.1f} s; the logistic regression on top standardises them "
            f"and uses C = {fit.get('C')}.")})
    elif fit and opts.get("task") == "multiclass":
        notes.append({"id": "features", "text": (
            "Features: raw pixels / 255. Softmax on pixels stops near 92.5% however well it converges; "
            "mnist-logreg train --features accurate reaches about 99.2% with the same logistic regression on "
            "convolutional patch features.")})
    path = m.get("path")
    if path:
        best = next(r for r in path["rows"] if r["C"] == path["chosen_C"])
        grid = ", ".join(f"{float(r['C']):g}" for r in path["rows"])
        notes.append({"id": "path", "text": (
            f"Regularisation path over C = {grid}: C = {float(path['chosen_C']):g} chosen by "
            f"{path['selected_by']} (validation accuracy {float(best['validation_accuracy']):.2%}). A strong "
            "penalty (small C) keeps the weights small and smooth, so the coefficient images look like digit "
            "templates; a weak one lets single pixels carry large weights that fit the training digits, so the "
            "images turn to noise and train accuracy runs ahead of test accuracy.")})
    return notes


def _gap_text(train: dict[str, Any] | None, accuracy: float) -> str:
    """Train against test accuracy, in words."""
    if not train:
        return ""
    gap = float(train["accuracy"]) - accuracy
    return (f"Train accuracy is {100 * gap:.2f} points {'above' if gap >= 0 else 'below'} test accuracy"
            + (": the model fits its training digits noticeably better than new ones."
               if gap > 0.02 else ": little overfitting."))


def _cv_context(cv: dict[str, Any] | None) -> dict[str, Any] | None:
    """Cross-validation's folds and mean, for the template."""
    if not cv:
        return None
    return {"k": int(cv["k"]), "mean": float(cv["mean"]), "std": float(cv["std"]),
            "folds": ", ".join(f"{100 * float(s):.2f}%" for s in cv["scores"])}


def _figures(run_dir: Path) -> tuple[list[dict[str, str]], list[dict[str, str]], str | None]:
    """The run folder's figures (base64): the main ones, the appendix's, the confusion examples."""
    figures: list[dict[str, str]] = []
    appendix: list[dict[str, str]] = []
    for name, caption in FIGURES.items():
        png = run_dir / name
        if png.is_file():
            data = png.read_bytes()
            (appendix if name in APPENDIX else figures).append(
                {"caption": caption, "data": base64.b64encode(data).decode(),
                 # wider than a column of two: the whole row, so its text is not shrunk below 8 pt
                 "wide": "wide" if _png_width(data) > WIDE_FIGURE_PX else ""})
    examples_png = run_dir / "confusion_examples.png"  # shown beside the list of confusions
    confusion_figure = base64.b64encode(examples_png.read_bytes()).decode() if examples_png.is_file() else None
    return figures, appendix, confusion_figure


#: figures wider than this (pixels) take a whole row of the report's two columns of figures
WIDE_FIGURE_PX = 640


def _png_width(data: bytes) -> int:
    """A PNG's width from its header (0 for anything else)."""
    return int.from_bytes(data[16:20], "big") if data[:8] == b"\x89PNG\r\n\x1a\n" else 0


def _curve_text(curve: list[dict[str, Any]], features: str) -> str:
    """What the learning curve's last step says about more digits."""
    if len(curve) < 2:
        return ""
    (n0, a0), (n1, a1) = ((int(r["n"]), float(r["test_accuracy"])) for r in curve[-2:])
    gain = 100 * (a1 - a0)
    return (f"from {n0:,} to {n1:,} training digits, test accuracy went from "
            f"{100 * a0:.2f}% to {100 * a1:.2f}% ({gain:+.2f} points)"
            + ("; more digits would still help." if gain >= 1 else
               "; more digits of the same kind would add little: a richer model (features) is the next "
               "step." if features == "pixels" else "; more digits of the same kind would add little."))


def _majority_baseline(per_class: list[dict[str, Any]]) -> tuple[str, float]:
    """The most common test class and what always answering it scores (a binary task's 97% is
    not 97 points of skill when 90% of the digits are "not 2")."""
    if not per_class:
        return "-", 0.0
    supports = [r["support"] for r in per_class]
    majority = per_class[max(range(len(per_class)), key=supports.__getitem__)]["name"]
    return majority, max(supports) / max(sum(supports), 1)


def _options_rows(opts: dict[str, Any], fit: dict[str, Any]) -> tuple[list[tuple[str, str]], list[str]]:
    """The options the run set, with their values; the names of those left at their defaults."""
    options, defaults = [], []
    for key, value in opts.items():
        if key == "C" and value is None and fit.get("C") is not None:
            options.append((key, f"{_readable(fit.get('C'))} (the default for these features)"))
        elif value is None:
            defaults.append(key)
        else:
            options.append((key, _readable(value)))
    return options, defaults


def _ratio(num: int, den: int) -> float | None:
    """``num / den``, or None (shown as "-") when nothing was counted."""
    return num / den if den else None


def _binary_context(cm: list[list[int]], names: list[str], run_dir: Path) -> dict[str, Any] | None:
    """A two-class run's own view: the 2x2 confusion table (true class in rows, the answer in columns,
    the positive class, the second of ``names``, first), its rates, and the ROC / PR figure; None for
    more classes.

    For ``digit:2`` the positive class is "2" and the negative "not 2"; for ``pair:3,8``, "8" and "3"."""
    if len(names) != 2 or len(cm) != 2:
        return None
    negative, positive = names
    (tn, fp), (fn, tp) = cm
    pos, neg, total = tp + fn, tn + fp, tp + fn + tn + fp
    tpr, tnr = _ratio(tp, pos), _ratio(tn, neg)
    p, n = f'"{positive}"', f'"{negative}"'
    rates = [
        ("tpr", "true positive rate (recall, sensitivity)", "TP / (TP + FN)", tpr,
         f"of the {p} digits, the share answered {p}"),
        ("fnr", "false negative rate (miss rate)", "FN / (TP + FN)", _ratio(fn, pos),
         f"of the {p} digits, the share answered {n}"),
        ("fpr", "false positive rate (fall-out)", "FP / (FP + TN)", _ratio(fp, neg),
         f"of the {n} digits, the share answered {p}"),
        ("tnr", "true negative rate (specificity)", "TN / (FP + TN)", tnr,
         f"of the {n} digits, the share answered {n}"),
        ("precision", "precision (positive predictive value)", "TP / (TP + FP)", _ratio(tp, tp + fp),
         f"of the answers {p}, the share right"),
        ("npv", "negative predictive value", "TN / (TN + FN)", _ratio(tn, tn + fn),
         f"of the answers {n}, the share right"),
        ("f1", "F1", "2 TP / (2 TP + FP + FN)", _ratio(2 * tp, 2 * tp + fp + fn),
         "the harmonic mean of precision and recall"),
        ("balanced", "balanced accuracy", "(TPR + TNR) / 2",
         None if tpr is None or tnr is None else (tpr + tnr) / 2,
         "the mean of the two recalls: 50% for a model that always gives the same answer"),
        ("accuracy", "accuracy", "(TP + TN) / all", _ratio(tp + tn, total), "the share of all answers right"),
    ]
    png = run_dir / "pr_roc.png"
    return {
        "positive": positive, "negative": negative, "tp": tp, "fn": fn, "fp": fp, "tn": tn,
        "n_positive": pos, "n_negative": neg, "n": total,
        "tp_share": _ratio(tp, pos), "fn_share": _ratio(fn, pos), "fp_share": _ratio(fp, neg),
        "tn_share": _ratio(tn, neg),
        "rates": [{"id": i, "name": name, "formula": f, "value": v, "meaning": w} for i, name, f, v, w in rates],
        "figure": base64.b64encode(png.read_bytes()).decode() if png.is_file() else None,
        "figure_caption": FIGURES["pr_roc.png"],
    }


def _without_binary_figure(figures: list[dict[str, str]]) -> list[dict[str, str]]:
    """The figures less the ROC / PR one, which a two-class report shows in its own section."""
    return [f for f in figures if f["caption"] != FIGURES["pr_roc.png"]]


def build_report(run_dir: str | os.PathLike[str]) -> Path:
    """Write ``run_dir/report.html`` from ``metrics.json`` and the PNG figures there.

    The page is rendered by Jinja2 with autoescaping, so no value from the run folder is ever
    inserted as markup.

    Parameters
    ----------
    run_dir : str or os.PathLike
        A run folder written by ``train`` or ``evaluate``.

    Returns
    -------
    Path
        The path of the page written, ``run_dir/report.html``.

    Raises
    ------
    FileNotFoundError
        ``run_dir`` has no ``metrics.json``.
    SchemaError
        A ``ValueError``: ``metrics.json`` is not valid JSON or lacks a field the report needs.
    """
    import jinja2

    run_dir = Path(run_dir)
    metrics_path = run_dir / "metrics.json"
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such folder (give a run folder written by train or evaluate)")
    if not metrics_path.is_file():
        raise FileNotFoundError(f"{metrics_path}: no metrics.json in the run folder")
    m = _read_metrics(metrics_path)
    env = jinja2.Environment(loader=jinja2.PackageLoader("mnist_logreg", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    page = env.get_template("report.html").render(**_context(m, run_dir))
    out = run_dir / "report.html"
    with atomic_write(out, "w") as fh:
        fh.write(page)
    return out
