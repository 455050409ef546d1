"""The HTML report: one self-contained page (figures embedded) built from a run folder."""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path

from ._atomic import atomic_write

__all__ = ["FIGURES", "build_report"]

#: figure file -> caption, in the order the report shows them
FIGURES = {
    "confusion_matrix.png": "Confusion matrix on the test set (counts)",
    "confusion_matrix_normalized.png": "Confusion matrix, rows normalised (recall per class)",
    "misclassified.png": "Misclassified test digits, most confident mistakes first",
    "correct.png": "A sample of correctly classified test digits",
    "coefficients.png": "Coefficient images: one 28x28 heatmap per class",
    "feature_ladder.png": "Test accuracy from raw pixels to feature maps (full MNIST, measured by "
                          "benchmarks/bench_features.py); this run is marked",
    "training_curve.png": "Objective and estimated gap per solver iteration",
    "regularisation_path.png": "Regularisation path: train, validation and test accuracy against C (the "
                               "model was refitted at the chosen C), and coefficient images at a few C",
    "mean_images.png": "Mean image per digit (training set)",
    "pixel_correlation.png": "Pixel-correlation heatmap of the training images",
}

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em} .summary{font-size:1.3em;background:#f3f6fa;padding:.8em 1em;border-radius:8px}
figure{display:inline-block;margin:1em;vertical-align:top;max-width:100%}
figure img{max-width:100%;border:1px solid #ddd} figcaption{color:#555;font-size:.9em}
table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}
pre{background:#f7f7f7;padding:1em;overflow-x:auto}
"""


def _read_metrics(path: Path) -> dict:
    """metrics.json, checked for the fields the report uses (a ValueError names the first missing)."""
    try:
        m = json.loads(path.read_text())
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({type(exc).__name__}: {str(exc)[:200]})") from exc
    required = {"test": dict, "test.accuracy": (int, float), "test.n_samples": int, "test.report_text": str,
                "options": dict, "options.task": str, "options.model": str}
    for field, kind in required.items():
        value = m
        for part in field.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(f"{path}: field {field!r} missing or of the wrong type "
                             f"(expected {getattr(kind, '__name__', 'a number')})")
    return m


def build_report(run_dir: str | os.PathLike[str]) -> Path:
    """Write ``run_dir/report.html`` from ``metrics.json`` and the PNG figures there.

    Raises
    ------
    FileNotFoundError
        ``run_dir`` has no ``metrics.json``.
    ValueError
        ``metrics.json`` is not valid JSON or lacks a field the report needs.
    """
    run_dir = Path(run_dir)
    metrics_path = run_dir / "metrics.json"
    if not metrics_path.is_file():
        raise FileNotFoundError(f"{metrics_path}: no metrics.json in the run folder")
    m = _read_metrics(metrics_path)
    esc = html.escape
    test = m["test"]
    fit = m.get("fit", {})
    summary = (
        f"Test accuracy <b id='accuracy'>{test['accuracy']:.2%}</b> on {test['n_samples']} digits"
        f" &middot; task {esc(m['options']['task'])} &middot; model {esc(m['options']['model'])}"
    )
    if m["options"].get("model_file"):
        summary += f" &middot; saved model {esc(str(m['options']['model_file']))}"
    elif fit.get("model") == "sgd":
        summary += f" &middot; fit {float(fit.get('fit_time_s', 0)):.2f} s, {int(fit.get('n_iter', 0))} epochs of SGD"
    elif fit:
        summary += (f" &middot; fit {float(fit.get('fit_time_s', 0)):.2f} s, {int(fit.get('n_iter', 0))} iterations, "
                    f"{'converged' if fit.get('converged') else 'NOT converged'}")
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>mnist-logreg report</title>"
             f"<style>{_CSS}</style></head><body>",
             "<h1>mnist-logreg report</h1>", f"<p class='summary'>{summary}</p>"]
    features = fit.get("features", "pixels")
    if features != "pixels":
        parts.append(
            f"<p id='features'>Features: <code>{esc(str(features))}</code>, {esc(str(fit.get('n_features')))} "
            f"columns, computed in {float(fit.get('features_time_s', 0)):.1f} s; the logistic regression on top "
            f"standardises them and uses C = {esc(str(fit.get('C')))}.</p>")
    elif fit:
        parts.append("<p id='features'>Features: raw pixels / 255. Softmax on pixels stops near 92.5% however well "
                     "it converges; <code>mnist-logreg train --features accurate</code> reaches about 99.2% "
                     "with the same logistic regression on convolutional patch features.</p>")
    path = m.get("path")
    if path:
        best = next(r for r in path["rows"] if r["C"] == path["chosen_C"])
        grid = ", ".join(f"{float(r['C']):g}" for r in path["rows"])
        parts.append(
            f"<p id='path'>Regularisation path over C = {esc(grid)}: "
            f"C = {float(path['chosen_C']):g} chosen by {esc(str(path['selected_by']))} "
            f"(validation accuracy {float(best['validation_accuracy']):.2%}). A strong penalty (small C) keeps "
            "the weights small and smooth, so the coefficient images look like digit templates; a weak one "
            "lets single pixels carry large weights that fit the training digits, so the images turn to "
            "noise and train accuracy runs ahead of test accuracy.</p>")
    cv = m.get("cross_validation")
    if cv:
        parts.append(f"<p>{int(cv['k'])}-fold cross-validation accuracy: {float(cv['mean']):.2%} &plusmn; "
                     f"{float(cv['std']):.2%} (folds: {', '.join(f'{float(s):.2%}' for s in cv['scores'])})</p>")
    parts.append("<h2>Figures</h2>")
    for name, caption in FIGURES.items():
        png = run_dir / name
        if png.is_file():
            data = base64.b64encode(png.read_bytes()).decode()
            parts.append(f"<figure><img alt='{esc(caption)}' src='data:image/png;base64,{data}'>"
                         f"<figcaption>{esc(caption)}</figcaption></figure>")
    parts.append("<h2>Classification report</h2>")
    parts.append(f"<pre>{esc(test['report_text'])}</pre>")
    parts.append("<h2>Options</h2><table>")
    for key, value in m["options"].items():
        parts.append(f"<tr><th>{esc(str(key))}</th><td>{esc(json.dumps(value))}</td></tr>")
    parts.append("</table>")
    if "data" in m:
        parts.append(f"<h2>Data</h2><pre>{esc(json.dumps(m['data'], indent=2))}</pre>")
    parts.append("</body></html>")
    out = run_dir / "report.html"
    with atomic_write(out, "w") as fh:
        fh.write("\n".join(parts))
    return out
