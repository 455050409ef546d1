"""The main job as library functions: train (or load) a model, evaluate it, write a run folder.

A run folder holds ``model.npz``, ``metrics.json``, ``classification_report.txt``, the PNG
figures of :data:`mnist_logreg.report.FIGURES` and ``report.html``. The CLI's ``train`` and
``evaluate`` commands are thin wrappers over :func:`train` and :func:`evaluate_model`.
"""

from __future__ import annotations

import datetime as _dt
import inspect
import json
import math
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, cast

import numpy as np
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from . import plots
from ._atomic import atomic_folder, atomic_write, check_output_folder
from ._resources import check_memory
from ._schema import MODEL_EXTRA_SCHEMA, validate
from ._sources import TRAIN_SCORED, DaskSource, FittedRun, Hooks, Source, augment_copies, open_source
from .datasets import MNIST, load_mnist
from .datasets.mnist import SOURCES
from .errors import OptionError
from .evaluation import confusion_examples, correctly_classified, cross_validate, evaluate, misclassified
from .features import PRESETS, linear_scaling, parse_features, preset_C
from .features.spec import output_width
from .linear import LogisticRegression, SGDLogisticRegression
from .modelio import feature_spec, final_estimator, load_model, save_model
from .report import build_report
from .tasks import Task, parse_task, shuffle

__all__ = [
    "MODELS",
    "PENALTIES",
    "PRESETS",
    "DataOptions",
    "TrainOptions",
    "TrainingProgress",
    "default_model_path",
    "ensure_default_model",
    "evaluate_model",
    "load_data",
    "make_model",
    "option",
    "train",
]

MODELS = ("softmax", "ovr", "sgd")
PENALTIES = ("l2", "l1")

#: the estimator's own defaults, read from its signature: written once, in the estimator
_ESTIMATOR_DEFAULTS = {name: p.default for name, p in inspect.signature(LogisticRegression).parameters.items()}


def option(default: Any, help: str, *, choices: tuple | None = None, metavar: str | None = None,
           group: str | None = None) -> Any:
    """A field of an options dataclass with what the command line needs to offer it.

    The dataclasses :class:`DataOptions` and :class:`TrainOptions` are the main job's one table of
    options: the CLI builds its flags from their fields (name, type, default, choices, help), so
    the command line cannot drift from the library.

    Parameters
    ----------
    default : object
        The option's default (``None``: not set; the help says what that means).
    help : str
        One line for ``--help``; ``%(default)s`` is argparse's.
    choices : tuple, optional
        The accepted values.
    metavar : str, optional
        The value's name in ``--help``.
    group : str, optional
        The heading the flag is listed under.

    Returns
    -------
    dataclasses.Field
    """
    return field(default=default, metadata={"help": help, "choices": choices, "metavar": metavar, "group": group})


@dataclass
class DataOptions:
    """Where the digits come from (see :func:`mnist_logreg.datasets.load_mnist`)."""

    source: str = option("bundled", "where the digits come from (default: the copy shipped with the package)",
                         choices=SOURCES, group="data source")
    name: str | None = option(None, "OpenML dataset name, e.g. mnist_784 (not with --data-id)", group="data source")
    version: int | None = option(None, "OpenML dataset version (with --name)", group="data source")
    data_id: int | None = option(None, "OpenML data id, e.g. 554 (not with --name)", group="data source")
    base_url: str | None = option(None, "IDX mirror URL (source idx; default: the built-in mirror list)",
                                  group="data source")
    cache_dir: str | None = option(None, "cache folder (default: $MNIST_LOGREG_CACHE or the user cache dir)",
                                   group="data source")


#: the largest C accepted by ``train``: beyond it the penalty is below float32 resolution
MAX_C = 1e6
#: the most distorted copies of each digit ``train --augment`` makes (the memory check refuses
#: most feature maps well before)
MAX_AUGMENT = 100

_DASK = "Dask (more digits than memory holds; the dask extra)"


@dataclass
class TrainOptions:
    """Options of :func:`train`; the defaults are the full softmax pipeline on bundled MNIST."""

    task: str = option("multiclass", "multiclass | digit:D | pair:A,B (default multiclass)")
    model: str = option("softmax", "softmax (one model over all classes, default), ovr (one binary model per "
                        "class) or sgd (softmax by mini-batch SGD)", choices=MODELS)
    features: str = option("pixels", f"feature map: a preset ({', '.join(PRESETS)}) or steps such as "
                           "deskew,pca:60,poly:2 (default pixels; accurate reaches "
                           f"{100 * PRESETS['accurate'].accuracy:.1f}%%, best {100 * PRESETS['best'].accuracy:.1f}%%)",
                           metavar="SPEC")
    # None: the preset's copies (Preset.augment)
    augment: int | None = option(None, "distorted copies of each training digit (shifts, rotations, scaling, "
                                 "elastic distortion; seeded by --seed) trained on beside it, in memory (default: "
                                 "the feature preset's: " + ", ".join(f"{k} {p.augment}" for k, p in PRESETS.items()
                                                                      if p.augment) + ", 0 otherwise)",
                                 metavar="COPIES")
    # None: the preset's C (1.0 on pixels); a list: a path
    C: float | list[float] | None = option(  # noqa: RUF009 (option() returns a dataclasses.field)
        None, "inverse penalty (default: the feature preset's, 1.0 on pixels); several values, e.g. "
        "0.001,0.01,0.1,1,10, fit the regularisation path, choose C on a held-out 10%% of the training digits "
        "and write regularisation_path.png", metavar="C[,C...]")
    penalty: str = option("l2", "l2 (default) or l1 (sparse coefficients; softmax and ovr)", choices=PENALTIES)
    seed: int = option(0, "seed of the shuffle and subsample (default 0)")
    train_size: int | None = option(None, "stratified subsample of N training digits", metavar="N")
    cv: int | None = option(None, "K-fold cross-validation on the training set", metavar="K")
    max_iter: int = option(_ESTIMATOR_DEFAULTS["max_iter"], "solver iteration limit (default %(default)s)")
    tol: float | None = option(None, "the solver's relative accuracy (default: the estimator's, "
                               f"{_ESTIMATOR_DEFAULTS['tol']:g})")
    figures: bool = option(True, "figures and the HTML report (default: written; --no-figures skips them)")
    # Dask (the dask extra): training digits from an augmented Zarr store, and where to fit
    train_source: str | None = option(None, "train on an augmented store written by 'mnist-logreg data augment' "
                                      "(read lazily)", metavar="DIR", group=_DASK)
    workers: int | None = option(None, "fit on a local Dask cluster of N worker processes", metavar="N",
                                 group=_DASK)
    scheduler: str | None = option(None, "fit on a running Dask cluster, e.g. tcp://10.0.0.5:8786 (not with "
                                   "--workers)", metavar="ADDRESS", group=_DASK)
    worker_memory: str | None = option(None, "memory limit per local worker, e.g. 4GiB", metavar="SIZE",
                                       group=_DASK)

    @property
    def uses_dask(self) -> bool:
        """Whether the fit runs on Dask (a store, a local cluster or a scheduler was asked for)."""
        return self.train_source is not None or self.workers is not None or self.scheduler is not None


def load_data(opts: DataOptions, progress: bool = False) -> MNIST:
    """Load the digits as ``opts`` says.

    Parameters
    ----------
    opts : DataOptions
        The source and its options (name, version, data_id, base_url, cache_dir).
    progress : bool, default False
        Show download progress on stderr.

    Returns
    -------
    MNIST
        The training and test digits.
    """
    return load_mnist(opts.source, name=opts.name, version=opts.version, data_id=opts.data_id,
                      base_url=opts.base_url, cache_dir=opts.cache_dir, progress=progress)


def make_model(model: str, C: float, n_train: int, seed: int, max_iter: int | None = None, tol: float | None = None,
               *, scaling: str | None = "pixels", penalty: str = "l2") -> Any:
    """The estimator for ``model`` ("softmax", "ovr" or "sgd") with penalty ``C``.

    ``scaling`` is the model's preprocessing: "pixels" (x / 255) on raw pixels, "standard" on
    feature maps.

    Parameters
    ----------
    model : str
        ``"softmax"``, ``"ovr"`` or ``"sgd"`` (an ``OptionError`` otherwise).
    C : float
        Inverse regularisation strength; for SGD, ``alpha = 1 / (C * n_train)``.
    n_train : int
        Training digits (SGD's penalty per sample).
    seed : int
        SGD's shuffling seed.
    max_iter, tol : int, float or None, default None
        The solver's stopping rule; None keeps the estimator's own default (not used by SGD).
    scaling : str or None, default "pixels"
        The estimator's ``scaling``.
    penalty : str, default "l2"
        ``"l2"`` or ``"l1"``; SGD fits L2 only.

    Returns
    -------
    LogisticRegression or SGDLogisticRegression
        The unfitted estimator.
    """
    if model in ("softmax", "ovr"):
        # None: the estimator's own default
        stopping: dict[str, Any] = {k: v for k, v in (("max_iter", max_iter), ("tol", tol)) if v is not None}
        return LogisticRegression(C=C, multiclass="multinomial" if model == "softmax" else "ovr",
                                  scaling=scaling, penalty=penalty, **stopping)
    if model == "sgd":
        if penalty != "l2":
            raise OptionError.naming(f"$model 'sgd' fits an L2 penalty only, not {penalty!r}: use $model softmax")
        return SGDLogisticRegression(alpha=1.0 / (C * n_train), random_state=seed, scaling=scaling)
    raise OptionError.naming(f"unknown $model {model!r}: expected one of {', '.join(MODELS)}")


def _model_kind(model: Any) -> str:
    """"softmax", "ovr" or "sgd": the name ``train --model`` uses for a fitted model."""
    linear = final_estimator(model)
    if isinstance(linear, SGDLogisticRegression):
        return "sgd"
    return "ovr" if getattr(linear, "multiclass", "multinomial") == "ovr" else "softmax"


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for pkg in ("mnist-logreg", "numpy", "scipy", "scikit-learn", "matplotlib"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def default_run_dir() -> Path:
    """``runs/<timestamp>`` under the current folder."""
    return Path("runs") / _dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def _class_names(task: Task, classes: np.ndarray) -> list[str]:
    if task.kind == "digit":
        return [f"not {task.digits[0]}" if c == 0 else str(task.digits[0]) for c in classes]
    return [str(c) for c in classes]


#: training digits in the run folder's grid.png (the data as it comes, before any model)
GRID_DIGITS = 100
#: a penalty strong enough that coefficient images are readable templates (the report shows them
#: beside the model's own when its C is larger)
READABLE_C = 0.001


def _write_outputs(out: Path, model: Any, task: Task, data: MNIST, X_test: Any, y_test: Any, metrics: dict[str, Any],
                   figures: bool, history: Any = None, train_set: Any = None,
                   on_stage: Callable[[str], None] | None = None, n_train: int | None = None) -> dict[str, Any]:
    """Evaluate on the test set and write metrics, report text, figures and report.html to ``out``.

    ``train_set`` (X, y), when given, is scored too (its first ``TRAIN_SCORED`` rows) for the
    report's train-versus-test comparison; ``n_train`` is the number of training digits it
    comes from (default: its length). ``on_stage(text)`` is told what is being done.
    Returns ``metrics`` with the results and ``"out"``.
    """
    from sklearn.metrics import log_loss

    stage = on_stage or (lambda text: None)
    stage("evaluating on the test set")
    names = _class_names(task, model.classes_)
    y_pred = model.predict(X_test)
    proba = model.predict_proba(X_test)
    result = evaluate(y_test, y_pred, names, labels=model.classes_)
    result["log_loss"] = float(log_loss(y_test, proba, labels=model.classes_))
    metrics["test"] = result
    metrics["created"] = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    if train_set is not None:
        X_tr, y_tr = train_set[0][:TRAIN_SCORED], train_set[1][:TRAIN_SCORED]
        n_from = len(train_set[1]) if n_train is None else n_train
        metrics["train"] = {"accuracy": float(model.score(X_tr, y_tr)), "n_samples": len(y_tr),
                            "log_loss": float(log_loss(y_tr, model.predict_proba(X_tr), labels=model.classes_)),
                            "note": f"its first {len(y_tr)} digits" if len(y_tr) < n_from else ""}
    with atomic_write(out / "metrics.json", "w") as fh:
        json.dump(metrics, fh, indent=2, allow_nan=False)  # strict JSON: no NaN or Infinity
    with atomic_write(out / "classification_report.txt", "w") as fh:
        fh.write(result["report_text"])
    metrics["out"] = str(out)
    if figures:
        stage("writing figures")
        _write_result_figures(out, model, names, result, X_test, y_test, y_pred, proba)
        _write_model_figures(out, model, task, names, result, metrics, history)
        _write_data_figures(out, task, data)
        stage("writing report.html")
        build_report(out)
    return metrics


def _write_result_figures(out: Path, model: Any, names: list[str], result: dict[str, Any], X_test: Any, y_test: Any,
                          y_pred: Any, proba: Any) -> None:
    """The figures of the test set's results: confusion matrices, curves, right and wrong digits."""
    label_of = dict(zip(model.classes_.tolist(), names, strict=True))
    cm = np.array(result["confusion_matrix"])
    plots.save_figure(plots.confusion_matrix_figure(cm, names), out / "confusion_matrix.png")
    plots.save_figure(plots.confusion_matrix_figure(cm, names, normalize=True),
                      out / "confusion_matrix_normalized.png")
    if len(model.classes_) == 2:  # binary and pair tasks: the curves behind the single threshold
        plots.save_figure(plots.pr_roc_curves(y_test == model.classes_[1], proba[:, 1], names[1], names[0]),
                          out / "pr_roc.png")
    wrong = misclassified(y_test, y_pred, proba, limit=40)
    if len(wrong["index"]):
        labels = [f"true {label_of[t]}\npred {label_of[p]} {c:.0%}"
                  for t, p, c in zip(wrong["true"], wrong["pred"], wrong["confidence"], strict=True)]
        plots.save_figure(plots.digit_grid(X_test[wrong["index"]], labels, cols=10,
                                           title="Misclassified test digits", label_colors=["firebrick"] * len(labels)),
                          out / "misclassified.png")
    examples = confusion_examples(y_test, y_pred, proba, model.classes_)
    if examples:  # the report lists the top confusions with these beside them
        plots.save_figure(plots.confusion_examples(
            [(f"{label_of[e['true']]} read as {label_of[e['pred']]}: {e['count']} digit{'s' * (e['count'] > 1)}",
              X_test[e["index"]]) for e in examples]), out / "confusion_examples.png")
    right = correctly_classified(y_test, y_pred, proba, limit=20, seed=0)
    labels = [f"pred {label_of[p]} {c:.0%}" for p, c in zip(right["pred"], right["confidence"], strict=True)]
    plots.save_figure(plots.digit_grid(X_test[right["index"]], labels, cols=10,
                                       title="Correctly classified test digits",
                                       label_colors=["darkgreen"] * len(labels)), out / "correct.png")


def _write_model_figures(out: Path, model: Any, task: Task, names: list[str], result: dict[str, Any],
                         metrics: dict[str, Any], history: Any) -> None:
    """The figures of the model: its coefficients, training and learning curves, the ladder."""
    linear = final_estimator(model)
    if not feature_spec(model):  # coefficients are images only on raw pixels
        coef_names = names if len(linear.coef_) == len(names) else [names[1]]
        plots.save_figure(plots.coefficient_images(linear.coef_, coef_names), out / "coefficients.png")
    if history:
        plots.save_figure(plots.training_curve(history, result["accuracy"]), out / "training_curve.png")
    if metrics.get("learning_curve"):
        plots.save_figure(plots.learning_curve(metrics["learning_curve"]), out / "learning_curve.png")
    if task.kind == "multiclass":
        spec = feature_spec(model) or "pixels"
        current = next((name for name, p in PRESETS.items() if p.spec == feature_spec(model)), spec)
        plots.save_figure(plots.feature_ladder(list(PRESETS), [p.accuracy for p in PRESETS.values()],
                                               current=current, current_accuracy=result["accuracy"]),
                          out / "feature_ladder.png")


def _write_data_figures(out: Path, task: Task, data: MNIST) -> None:
    """The appendix: the training digits of the task's classes (a pair task: its two digits)."""
    in_task = np.isin(data.y_train, task.digits) if task.kind == "pair" else slice(None)
    X_task, y_task = data.X_train[in_task], data.y_train[in_task]
    shown = min(GRID_DIGITS, len(y_task))
    plots.save_figure(plots.digit_grid(X_task[:shown], [str(v) for v in y_task[:shown]], cols=10,
                                       title=f"The first {shown} training digits and their labels"),
                      out / "grid.png")
    plots.save_figure(plots.mean_images(X_task, y_task, sorted(np.unique(y_task).tolist())), out / "mean_images.png")
    plots.save_figure(plots.pixel_correlation(X_task), out / "pixel_correlation.png")


# a feature run's peak memory, measured on 2 cores: a fixed part (the digits, the libraries, the
# feature map's working blocks); bytes per element of the widest features of the training and
# test digits: patch features (float32, standardised in float32) 8, PCA and polynomial ones
# (float64) 16; and the solver's preconditioner, a Gram matrix of the final width d and its
# eigendecomposition in float64, about 20 d^2 bytes (the measurements: docs/user-guide/reliability.md)
_FEATURE_MEMORY_BASE = 1 << 30
_PRECONDITIONER_BYTES = 20
_N_TEST = 10_000


def _check_feature_memory(spec: str, train_size: int | None, augment: int = 0) -> None:
    """Refuse a feature spec whose features would not fit in memory (``ResourceError``), before
    any work: ``pca:784,poly:2`` on all digits needs 300 GB; ``patches:1024`` 18,432 columns.
    ``augment`` distorted copies of each training digit multiply the training rows."""
    widths = output_width(spec)
    if not widths:
        return
    widest = max(range(len(widths)), key=widths.__getitem__)
    per_element = 8 if parse_features(spec)[widest][0] == "patches" else 16
    n_rows = (train_size or 60_000) * (1 + augment) + _N_TEST
    check_memory(_FEATURE_MEMORY_BASE + per_element * n_rows * widths[widest] + _PRECONDITIONER_BYTES * widths[-1] ** 2,
                 f"--features {spec} on {n_rows:,} digits ({widths[widest]:,} columns)")


def _check_options(opts: TrainOptions) -> tuple[Task, list[float] | None, float]:
    """Check ``opts`` before any work; returns the task, the path's values of C (None for one
    C) and the C to fit (the first of the path, the preset's, or 1)."""
    task = parse_task(opts.task)
    if opts.model not in MODELS:
        raise OptionError.naming(f"unknown $model {opts.model!r}: expected one of {', '.join(MODELS)}")
    parse_features(opts.features)  # a bad spec fails before any work
    _check_augment(opts)
    if not opts.uses_dask:  # on Dask the features are made chunk by chunk on the workers
        _check_feature_memory(opts.features, opts.train_size, augment_copies(opts))
    Cs, C = _check_C(opts)
    if opts.cv is not None and not (isinstance(opts.cv, int) and opts.cv >= 2):
        raise OptionError.naming(f"$cv: cross-validation needs at least 2 folds, got {opts.cv!r}")
    if Cs and len(Cs) > 1 and opts.model == "sgd":
        raise OptionError.naming("a path over C (several $C values) needs $model softmax or ovr, not sgd")
    if opts.train_size is not None and not (isinstance(opts.train_size, int) and opts.train_size >= 2):
        raise OptionError.naming(f"$train_size must be at least 2, got {opts.train_size!r}")
    if opts.penalty not in PENALTIES:
        raise OptionError.naming(f"$penalty must be 'l2' or 'l1', got {opts.penalty!r}")
    _check_dask_options(opts)
    try:  # the estimator's own rules (_parameter_constraints) for the values passed on to it
        make_model(opts.model, float(C), 1000, opts.seed, opts.max_iter, opts.tol,
                   scaling=linear_scaling(opts.features), penalty=opts.penalty)._validate_params()
    except OptionError:  # make_model's own check, naming its options
        raise
    except ValueError as exc:  # scikit-learn's InvalidParameterError names the parameter
        raise OptionError(str(exc)) from None
    return task, (Cs if Cs and len(Cs) > 1 else None), float(C)


def _check_augment(opts: TrainOptions) -> None:
    """Refuse a bad ``augment``, and augmenting on Dask (where a store holds the copies)."""
    copies = opts.augment
    if copies is None:
        return
    if not (isinstance(copies, int) and not isinstance(copies, bool) and 0 <= copies <= MAX_AUGMENT):
        raise OptionError.naming(f"$augment: expected a number of copies from 0 to {MAX_AUGMENT}, found {copies!r}")
    if copies and opts.uses_dask:
        raise OptionError.naming("$augment makes distorted copies in memory; on Dask write them to a store with "
                                 "'mnist-logreg data augment' and train on it with $train_source")


def _check_C(opts: TrainOptions) -> tuple[list[float] | None, float]:
    """The values of C of ``opts`` (a list for a path, else None) and the first (or the preset's)."""
    Cs = list(opts.C) if isinstance(opts.C, list | tuple) else None
    C: object = Cs[0] if Cs else opts.C if opts.C is not None else (preset_C(opts.features) or 1.0)
    values: Sequence[object] = Cs or [C]
    for value in values:
        if not (isinstance(value, int | float) and math.isfinite(value) and 0 < value <= MAX_C):
            why = (" (a larger C leaves the penalty below float32 resolution: the fit would not be meaningful)"
                   if isinstance(value, int | float) and value > MAX_C else "")
            raise OptionError(f"every C must be a finite number > 0 and at most {MAX_C:g}, got {value!r}{why}")
    return Cs, cast(float, C)  # a number: checked just above


def _check_dask_options(opts: TrainOptions) -> None:
    if opts.worker_memory is not None:
        from ._chunks import check_worker_memory

        check_worker_memory(opts.worker_memory)
        if opts.workers is None and opts.train_source is None:
            raise OptionError.naming("$worker_memory sets the memory of local Dask workers: give $workers N (or "
                                     "$train_source) with it")
    if opts.scheduler is not None:
        from ._chunks import check_scheduler_address

        check_scheduler_address(opts.scheduler)


def train(
    opts: TrainOptions,
    data_opts: DataOptions | None = None,
    out: str | Path | None = None,
    *,
    on_iteration: Callable[[dict], None] | None = None,
    on_fold: Callable[[int, float], None] | None = None,
    on_path_step: Callable[[int, dict], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
    on_cluster: Callable[[str, int], None] | None = None,
    data: MNIST | None = None,
) -> dict:
    """Load, shuffle, (subsample), fit, cross-validate, evaluate and write a run folder.

    One flow for every source of training digits (:mod:`mnist_logreg._sources`): in memory,
    or on Dask when ``opts.uses_dask`` (an augmented store, local workers or a scheduler;
    ``on_cluster`` is told the dashboard address and the number of workers).

    With several values of ``opts.C``, the regularisation path is fitted first on 90% of the
    training digits, ``C`` is chosen by accuracy on the other 10%, and the model is then fitted
    at that ``C`` on all the training digits; the path and its figure go into the run folder.

    Returns the metrics dictionary (also written to ``out/metrics.json``), with ``"out"`` added.

    Parameters
    ----------
    opts : TrainOptions
        What to fit and how (task, model, C, features, sizes, cross-validation, Dask options...).
    data_opts : DataOptions or None, default None
        Where the digits come from; None is the bundled copy.
    out : str, Path or None, default None
        The run folder to write: missing, empty, or an earlier run folder of this package
        (anything else is refused before any work); None is ``runs/<timestamp>``.
    on_iteration : callable or None, default None
        The solver's callback: a dict per iteration (objective, gradient norm, gap, time).
    on_fold : callable or None, default None
        ``on_fold(i, score)`` after each fold of cross-validation.
    on_path_step : callable or None, default None
        ``on_path_step(index, row)`` after each fit of the regularisation path.
    on_stage : callable or None, default None
        Called with a short description as each stage of the flow starts.
    on_cluster : callable or None, default None
        ``on_cluster(dashboard address, number of workers)`` once a Dask cluster is up.
    data : MNIST or None, default None
        Digits already loaded; ``data_opts`` then only names them in the metrics.

    Returns
    -------
    dict
        The metrics, with ``"out"`` added (see above).
    """
    task, Cs, C = _check_options(opts)
    hooks = Hooks(on_iteration=on_iteration, on_fold=on_fold, on_path_step=on_path_step, on_stage=on_stage,
                  on_cluster=on_cluster)
    data_opts = data_opts or DataOptions()
    if data is None:
        data = load_data(data_opts)
    out = check_output_folder(out if out is not None else default_run_dir())  # before any work
    source = open_source(opts, data, task)
    with source:
        if isinstance(source, DaskSource) and on_cluster is not None:
            on_cluster(source.client.dashboard_link, source.n_workers())
        run = _fit(source, opts, Cs, C, hooks)
    return _write_run(out, opts, data_opts, data, task, source, run, hooks)


def _fit(source: Source, opts: TrainOptions, Cs: list[float] | None, C: float, hooks: Hooks) -> FittedRun:
    """The fitting steps of the flow, on ``source``: the path (when several C), the features, the
    fit, the learning curve, cross-validation and the readable coefficients."""
    def make_linear(value: float, n_train: int) -> Any:
        return make_model(opts.model, value, n_train, opts.seed, opts.max_iter, opts.tol,
                          scaling=linear_scaling(opts.features), penalty=opts.penalty)

    path = source.choose_C(make_linear, Cs, hooks) if Cs else None
    if path is not None:
        C = path["chosen_C"]
    if parse_features(opts.features):
        hooks.stage(f"making the features ({opts.features})")
    features = source.features()
    hooks.stage("fitting")
    y = source.y if features.y is None else features.y  # the labels of the augmented rows
    linear = make_linear(C, len(y))
    if hooks.on_iteration is not None:
        linear.set_params(callback=hooks.on_iteration)
    t0 = time.perf_counter()
    linear.fit(features.F, y)
    wall = features.seconds + time.perf_counter() - t0
    linear.set_params(callback=None)
    model = linear if features.feature_map is None else Pipeline([*features.feature_map.steps, ("logreg", linear)])
    run = FittedRun(model=model, linear=linear, C=C, fit_time_s=wall, features_time_s=features.seconds,
                    n_train=source.n_train, train_head=source.head(), path=path)
    if opts.figures and opts.model != "sgd":  # SGD has no warm start: a curve would cost a fit per size
        run.learning_curve = source.learning_curve(linear, features, hooks)
    if opts.cv:
        run.cross_validation = source.cross_validate(model, linear, features, opts.cv, hooks)
    readable = source.readable_fit()
    if (readable is not None and opts.figures and path is None and features.feature_map is None
            and opts.model != "sgd" and opts.penalty == "l2" and C > READABLE_C):
        # at C = 1 single pixels take large weights and the images look like noise: show the
        # same model under a strong penalty too, where they are templates of the digits
        hooks.stage(f"coefficient images at C = {READABLE_C:g}")
        run.readable_coef = clone(linear).set_params(C=READABLE_C, callback=None).fit(*readable).coef_
    return run


def _fit_record(opts: TrainOptions, run: FittedRun, source: Source) -> dict:
    """The fit's description in ``metrics.json`` and in the model file."""
    linear = run.linear
    return {
        "fit_time_s": run.fit_time_s,
        "features": feature_spec(run.model) or "pixels",
        "features_time_s": run.features_time_s,
        "n_features": int(linear.n_features_in_),
        "model": opts.model,
        "C": run.C,
        "penalty": opts.penalty,
        "n_iter": int(np.max(linear.n_iter_)),
        # SGD runs its epochs and has no convergence test: None, not a claim
        "converged": bool(linear.converged_) if hasattr(linear, "converged_") else None,
        "objective": getattr(linear, "objective_", None),
        "n_train": run.n_train,
        # distorted copies of each training digit fitted beside it (in memory; 0 on Dask)
        "augment": 0 if isinstance(source, DaskSource) else augment_copies(opts),
        **source.fit_extra,
    }


def _write_run(out: Path, opts: TrainOptions, data_opts: DataOptions, data: MNIST, task: Task, source: Source,
               run: FittedRun, hooks: Hooks) -> dict:
    """The run folder of a fitted run: built beside its place and renamed there whole (never
    half old, half new)."""
    fit = _fit_record(opts, run, source)
    metrics: dict = {
        "options": {**asdict(opts), **{f"data_{k}": v for k, v in asdict(data_opts).items()}},
        "fit": fit,
        "data": {"source": data.source, "checksums": data.checksums, "n_train": run.n_train,
                 "n_test": len(source.y_test), **source.data_extra},
        "versions": _versions(),
    }
    if run.learning_curve:
        metrics["learning_curve"] = run.learning_curve
    if run.cross_validation is not None:
        metrics["cross_validation"] = run.cross_validation
    history = getattr(run.linear, "history_", None)  # SGD has none
    if history and isinstance(history[0], list):  # one-vs-rest: show the first model's curve
        history = history[0]
    names = _class_names(task, run.model.classes_)
    with atomic_folder(out) as staging:
        if run.readable_coef is not None:
            plots.save_figure(plots.coefficient_images(
                run.readable_coef, names if len(run.readable_coef) == len(names) else [names[1]],
                title=f"Coefficients at C = {READABLE_C:g}: templates of the digits (this model, C = {run.C:g}, "
                      "looks noisier)"), staging / "coefficients_readable.png")
        if run.path is not None:
            coefs = run.path.pop("coefs")
            metrics["path"] = run.path
            if opts.figures:
                plots.save_figure(plots.regularisation_path(run.path["rows"], coefs, names, chosen_C=run.C),
                                  staging / "regularisation_path.png")
        save_model(run.model, staging / "model.npz", task=str(task), extra={"fit": fit})
        metrics = _write_outputs(staging, run.model, task, data, source.X_test, source.y_test, metrics,
                                 opts.figures, history, train_set=run.train_head, on_stage=hooks.on_stage,
                                 n_train=run.n_train)
    metrics["out"] = str(out)
    return metrics


DEFAULT_MODEL_FEATURES = "accurate"


def default_model_path(cache_dir: str | Path | None = None) -> Path:
    """Where the model used without ``--model`` is cached (the accurate preset, trained once).

    Parameters
    ----------
    cache_dir : str, Path or None, default None
        The cache folder; None means :func:`~mnist_logreg.datasets.default_cache_dir`.

    Returns
    -------
    Path
        ``<cache_dir>/models/<preset>-v<format version>.npz`` (it may not exist yet).
    """
    from .datasets.mnist import default_cache_dir
    from .modelio import FORMAT_VERSION

    base = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return base / "models" / f"{DEFAULT_MODEL_FEATURES}-v{FORMAT_VERSION}.npz"


class TrainingProgress:
    """How far a training has come, from :func:`train`'s ``on_stage`` and ``on_iteration``: the
    stage, the share done and the time left (the default model's first run shows it).

    The share weights each stage by its measured part of the default model's training (2 cores:
    loading 5%, the patch features 35%, the fit 55%, the test set 5%); within the fit, by how far
    the estimated gap to the optimum has come, on a log scale, from its first value to where the
    default fit stops.
    """

    #: (stage's first words, share of the whole done when it begins)
    STAGES = (("loading", 0.0), ("making the features", 0.05), ("fitting", 0.40), ("evaluating", 0.95))
    FIT_SHARE = 0.55
    #: the relative gap where the default fit stops (tol = 6e-4: about tol**2 / 2)
    GAP_AT_STOP = 2e-7

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.stage_name, self.base, self.share = "starting", 0.0, 0.0
        self.iteration_count: int | None = None
        self.first_gap: float | None = None

    def stage(self, text: str) -> None:
        """``train``'s ``on_stage``: a stage begins.

        Parameters
        ----------
        text : str
            The stage, in words ("making the features (accurate)").
        """
        share = next((s for words, s in self.STAGES if text.startswith(words)), self.share)
        self.stage_name, self.base, self.share = text, share, max(share, self.share)
        self.iteration_count = None

    def iteration(self, info: dict[str, Any]) -> None:
        """``train``'s ``on_iteration``: the solver's iteration ``info`` (``iter``, ``objective``,
        ``est_gap``).

        Parameters
        ----------
        info : dict
            The solver's callback document.
        """
        if "est_gap" not in info:
            return
        gap = float(info["est_gap"]) / max(abs(float(info["objective"])), 1.0)
        if self.first_gap is None:
            self.first_gap = max(gap, self.GAP_AT_STOP * 10)
        span = math.log(self.first_gap / self.GAP_AT_STOP)
        fraction = min(max(math.log(self.first_gap / max(gap, self.GAP_AT_STOP)) / span, 0.0), 1.0)
        self.share = max(self.share, self.base + self.FIT_SHARE * fraction)
        self.iteration_count = int(info["iter"])

    def snapshot(self) -> dict[str, Any]:
        """The progress now.

        Returns
        -------
        dict
            ``stage`` (with the iteration while fitting), ``percent`` (0-100), ``elapsed_s`` and
            ``seconds_left`` (None until 5% is done).
        """
        elapsed = time.monotonic() - self.t0
        stage = self.stage_name if self.iteration_count is None else f"fitting (iteration {self.iteration_count})"
        left = elapsed / self.share * (1 - self.share) if self.share >= 0.05 else None
        return {"stage": stage, "percent": round(100 * self.share), "elapsed_s": elapsed, "seconds_left": left}


def ensure_default_model(cache_dir: str | Path | None = None, *, data: MNIST | None = None,
                         train_size: int | None = None, on_stage: Callable[[str], None] | None = None,
                         on_iteration: Callable[[dict[str, Any]], None] | None = None) -> tuple[Path, bool]:
    """The cached default model, trained first if missing; returns ``(path, trained_now)``.

    The model is the ``accurate`` feature preset on all training digits (``train_size`` for a
    subsample); it is trained in a temporary folder beside the cache entry and renamed into
    place, so an interrupted training leaves no half-written model.

    Parameters
    ----------
    cache_dir : str, Path or None, default None
        The cache folder (see :func:`default_model_path`).
    data : MNIST or None, default None
        The digits to train on if the model is missing; None loads the bundled copy.
    train_size : int or None, default None
        Train on a subsample of this many training digits; None uses them all.
    on_stage, on_iteration : callable or None, default None
        Told the training's stages and the solver's iterations, as :func:`train` tells them (a
        first run shows its progress with them).

    Returns
    -------
    path : Path
        The model file.
    trained_now : bool
        Whether it was trained by this call.
    """
    import tempfile

    path = default_model_path(cache_dir)
    if path.is_file():
        return path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".training-") as tmp:
        if data is None and on_stage is not None:
            on_stage("loading the digits")
        train(TrainOptions(features=DEFAULT_MODEL_FEATURES, train_size=train_size, figures=False),
              out=tmp, data=data, on_stage=on_stage, on_iteration=on_iteration)
        (Path(tmp) / "model.npz").replace(path)
    return path, True


def evaluate_model(model_path: str | Path, data_opts: DataOptions | None = None, out: str | Path | None = None,
                   *, cv: int | None = None, seed: int = 0, figures: bool = True,
                   data: MNIST | None = None, on_fold: Callable[[int, float], None] | None = None) -> dict[str, Any]:
    """Evaluate a saved model on the test set (and optionally k-fold CV on the training set).

    Parameters
    ----------
    model_path : str or Path
        A model file, or a run folder holding ``model.npz``.
    data_opts : DataOptions or None, default None
        Where the digits come from; None is the bundled copy.
    out : str, Path or None, default None
        The run folder to write: missing, empty, or an earlier run folder of this package
        (anything else is refused before any work); None is ``runs/<timestamp>``.
    cv : int or None, default None
        Folds of cross-validation of a clone of the model on the training digits; None or 0 skips it.
    seed : int, default 0
        Seed of the shuffle before cross-validation and of its folds.
    figures : bool, default True
        Write the figures (PNG) and the HTML report besides the metrics.
    data : MNIST or None, default None
        Digits already loaded; ``data_opts`` then only names them in the metrics.
    on_fold : callable or None, default None
        ``on_fold(i, score)`` after each fold of cross-validation.

    Returns
    -------
    dict
        The metrics (also written to ``out/metrics.json``), with ``"out"``, the run folder, added.
    """
    model, task_text, extra = load_model(model_path)
    validate(extra, MODEL_EXTRA_SCHEMA, f"{model_path} (its extra document)")
    task = parse_task(task_text)
    data_opts = data_opts or DataOptions()
    if data is None:
        data = load_data(data_opts)
    X_test, y_test = task.apply(data.X_test, data.y_test)
    out = check_output_folder(out if out is not None else default_run_dir())  # before any work
    metrics = {
        "options": {"task": task_text, "model": extra.get("fit", {}).get("model") or _model_kind(model),
                    "model_file": str(model_path),
                    **{f"data_{k}": v for k, v in asdict(data_opts).items()}},
        "fit": extra.get("fit", {}),
        "data": {"source": data.source, "checksums": data.checksums, "n_test": len(y_test)},
        "versions": _versions(),
    }
    if cv:
        X_train, y_train = task.apply(*shuffle(data.X_train, data.y_train, seed))
        metrics["cross_validation"] = cross_validate(model, X_train, y_train, cv, random_state=seed,
                                                     on_fold=on_fold)
    with atomic_folder(out) as staging:
        metrics = _write_outputs(staging, model, task, data, X_test, y_test, metrics, figures)
    metrics["out"] = str(out)
    return metrics
