"""Where :func:`mnist_logreg.pipeline.train` gets its training digits: one flow, two sources.

The flow (``pipeline.train``) is the same for every source: choose ``C`` on a held-out part
when several are given, make the features, fit, cross-validate, score, write the run folder.
A source decides only how each step reaches the digits:

- :class:`MemorySource`: MNIST's training digits in this process (shuffled, the task applied,
  subsampled with the classes' shares kept);
- :class:`DaskSource`: the same digits or an augmented Zarr store as Dask arrays on a local
  cluster or a scheduler; features are made chunk by chunk on the workers, the path's values
  of ``C`` and the cross-validation folds are fitted side by side where the chunks are.

Each source is a context manager (the Dask one holds the client) with the same methods.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from .datasets import MNIST
from .datasets.augment import augmented_copies
from .errors import OptionError
from .evaluation import (
    cross_validate,
    cross_validate_chunked,
    learning_curve,
    regularisation_path,
    sweep_C_chunked,
)
from .features import make_feature_map, preset_augment
from .tasks import Task, shuffle, stratified_subsample

__all__ = ["DaskSource", "Hooks", "MemorySource", "Source", "augment_copies"]

#: training digits scored for the report's train-versus-test comparison (at most)
TRAIN_SCORED = 10_000
#: training-set sizes of the report's learning curve (those below the run's own size, then it)
LEARNING_CURVE_SIZES = (500, 1000, 2000, 5000, 10000)
#: the share of the training digits the path holds out to choose C (one in ten)
PATH_HOLD_OUT = 10


@dataclass
class Hooks:
    """What ``train`` tells its caller while it works (each optional)."""

    on_iteration: Callable[[dict], None] | None = None  # each solver iteration of the final fit
    on_fold: Callable[[int, float], None] | None = None  # each cross-validation fold's score
    on_path_step: Callable[[int, dict], None] | None = None  # each value of C on the path
    on_stage: Callable[[str], None] | None = None  # the stage begun, in words
    on_cluster: Callable[[str, int], None] | None = None  # the Dask dashboard and number of workers

    def stage(self, text: str) -> None:
        """Tell ``on_stage`` (if any) that ``text`` begins."""
        if self.on_stage is not None:
            self.on_stage(text)


@dataclass
class Features:
    """The training digits as the linear model sees them."""

    feature_map: Pipeline | None  # None on raw pixels
    F: Any  # the training features (numpy or Dask), or the pixels
    seconds: float = 0.0
    # the labels of F's rows when they are not the source's: the digits and their distorted
    # copies (the source's digits first, in order, then each copy)
    y: Any = None


def augment_copies(opts: Any) -> int:
    """The distorted copies of each training digit an in-memory run fits beside it: ``opts.augment``,
    or the feature preset's (:func:`~mnist_logreg.features.preset_augment`) when it is None.

    Parameters
    ----------
    opts : TrainOptions
        The run's options (``augment``, ``features``).

    Returns
    -------
    int
        The number of copies (0: the digits alone).
    """
    return int(opts.augment) if opts.augment is not None else preset_augment(opts.features)


def best_C(rows: list[dict]) -> float:
    """The path's ``C`` with the best validation accuracy (the smallest such ``C`` on ties)."""
    best = max(range(len(rows)), key=lambda i: (rows[i]["validation_accuracy"], -i))
    return float(rows[best]["C"])


class Source:
    """The steps of ``train`` that depend on where the digits are (see the module's docstring).

    Parameters
    ----------
    opts : TrainOptions
        The run's options (``seed``, ``features``, ``train_size``, ``train_source``...).
    data : MNIST
        The loaded digits; their test set is always scored in memory.
    task : Task
        The parsed task.
    """

    #: a fit's description in ``metrics.json`` gains these (the Dask source: workers, chunks)
    fit_extra: dict
    #: the data's description in ``metrics.json`` gains these (the Dask source: the store's identity)
    data_extra: dict

    def __init__(self, opts: Any, data: MNIST, task: Task) -> None:
        self.opts, self.data, self.task = opts, data, task
        self.X_test, self.y_test = task.apply(data.X_test, data.y_test)
        self.fit_extra, self.data_extra = {}, {}

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def _new_feature_map(self) -> Pipeline | None:
        return make_feature_map(self.opts.features, random_state=self.opts.seed)

    @property
    def n_train(self) -> int:
        """The number of training digits."""
        raise NotImplementedError

    @property
    def y(self) -> Any:
        """The training labels (the task's classes)."""
        raise NotImplementedError

    def choose_C(self, make_linear: Callable[[float, int], Any], Cs: list[float], hooks: Hooks) -> dict:
        """Fit the path over ``Cs``; returns its rows, coefficients and ``chosen_C``."""
        raise NotImplementedError

    def features(self) -> Features:
        """Fit the feature map (if any) and make the training features."""
        raise NotImplementedError

    def cross_validate(self, model: Any, linear: Any, features: Features, k: int, hooks: Hooks) -> dict:
        """k-fold accuracy of the run's model."""
        raise NotImplementedError

    def learning_curve(self, linear: Any, features: Features, hooks: Hooks) -> list[dict] | None:
        """Accuracy against the number of training digits (None where the source does not draw one)."""
        return None

    def readable_fit(self) -> tuple[Any, Any] | None:
        """The pixels and labels a second fit at a strong penalty may use for readable
        coefficient images (None where the source does not make them)."""
        return None

    def head(self, n: int = TRAIN_SCORED) -> tuple[np.ndarray, np.ndarray]:
        """The first ``n`` training digits and labels, in memory (scored for the report)."""
        raise NotImplementedError


class MemorySource(Source):
    """MNIST's training digits in this process: shuffled with ``seed``, the task applied, the
    first ``train_size`` of a stratified subsample."""

    def __init__(self, opts: Any, data: MNIST, task: Task) -> None:
        super().__init__(opts, data, task)
        X, y = task.apply(*shuffle(data.X_train, data.y_train, opts.seed))
        if opts.train_size is not None:  # checked by the flow (at least 2)
            X, y = stratified_subsample(X, y, opts.train_size, opts.seed)
        if opts.cv:
            smallest = int(np.min(np.unique(y, return_counts=True)[1]))
            if opts.cv > smallest:
                raise OptionError.naming(f"$cv {opts.cv}: more folds than the {smallest} training digits of "
                                         "the rarest class")
        self.X, self._y = X, y

    @property
    def n_train(self) -> int:
        return len(self._y)

    @property
    def y(self) -> np.ndarray:
        return self._y

    def choose_C(self, make_linear: Callable[[float, int], Any], Cs: list[float], hooks: Hooks) -> dict:
        """Fit the path over ``Cs`` (warm starts) on 90% of the digits; choose C by accuracy on
        the other 10% (stratified)."""
        from sklearn.model_selection import train_test_split

        X_fit, X_val, y_fit, y_val = train_test_split(self.X, self._y, test_size=1 / PATH_HOLD_OUT,
                                                      stratify=self._y, random_state=self.opts.seed)
        X_test = self.X_test
        X_fit, y_fit = self._augmented(X_fit, y_fit)  # the held-out digits have no copies in the fit
        feature_map = self._new_feature_map()
        if feature_map is not None:
            X_fit = feature_map.fit_transform(X_fit, y_fit)
            X_val, X_test = feature_map.transform(X_val), feature_map.transform(X_test)
        rows, coefs = regularisation_path(make_linear(Cs[0], len(y_fit)), X_fit, y_fit, Cs,
                                          {"validation": (X_val, y_val), "test": (X_test, self.y_test)},
                                          on_step=hooks.on_path_step)
        return {"rows": rows, "coefs": coefs, "chosen_C": best_C(rows),
                "selected_by": "accuracy on 10% of the training digits held out (stratified)",
                "n_fit": len(y_fit), "n_validation": len(y_val)}

    def _augmented(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``X`` and ``y`` followed by the run's distorted copies of them (:func:`augment_copies`)."""
        copies = augment_copies(self.opts)
        return augmented_copies(X, y, copies, seed=self.opts.seed) if copies else (X, y)

    def features(self) -> Features:
        """Fit the feature map on the training digits and their distorted copies (if any), and make
        their features; the copies are made here and count in the features' time."""
        t0 = time.perf_counter()
        X, y = self._augmented(self.X, self._y)
        labels = None if y is self._y else y
        feature_map = self._new_feature_map()
        if feature_map is None:
            return Features(None, X, time.perf_counter() - t0, labels)
        F = feature_map.fit_transform(X, y)
        return Features(feature_map, F, time.perf_counter() - t0, labels)

    def cross_validate(self, model: Any, linear: Any, features: Features, k: int, hooks: Hooks) -> dict:
        # the whole model, features included, is refitted per fold: no fold sees its test digits
        return cross_validate(model, self.X, self._y, k, random_state=self.opts.seed, on_fold=hooks.on_fold)

    def learning_curve(self, linear: Any, features: Features, hooks: Hooks) -> list[dict] | None:
        hooks.stage("learning curve")
        F_test = self.X_test if features.feature_map is None else features.feature_map.transform(self.X_test)
        curve = learning_curve(linear, features.F, self._y, F_test, self.y_test,
                               [n for n in LEARNING_CURVE_SIZES if n < self.n_train])
        scored = slice(0, TRAIN_SCORED)
        curve.append({"n": self.n_train, "train_accuracy": float(linear.score(features.F[scored], self._y[scored])),
                      "test_accuracy": float(linear.score(F_test, self.y_test)),
                      "fit_time_s": float(getattr(linear, "fit_time_", 0.0))})
        return curve

    def readable_fit(self) -> tuple[Any, Any] | None:
        return self.X, self._y

    def head(self, n: int = TRAIN_SCORED) -> tuple[np.ndarray, np.ndarray]:
        return self.X, self._y  # all of them: the run scores the first n and says how many there were


class DaskSource(Source):
    """The training digits as Dask arrays on a cluster: an augmented store's (read lazily) or
    MNIST's (shuffled with ``seed``), the task applied chunk by chunk, the first
    ``train_size`` kept. The client lives while the source is entered."""

    def __init__(self, opts: Any, data: MNIST, task: Task) -> None:
        super().__init__(opts, data, task)
        from .datasets.augment import open_augmented

        self.store = open_augmented(opts.train_source) if opts.train_source else None  # a bad store fails here
        if self.store is not None:  # the per-chunk checksums are in the store; the report needs its identity
            self.data_extra = {"augmented": {k: v for k, v in self.store.attrs.items() if k != "sha256"}}
        self._client_cm: Any = None
        self._features: Features | None = None

    def __enter__(self) -> DaskSource:
        from ._chunks import dask_client

        self._client_cm = dask_client(self.opts.workers, self.opts.scheduler, self.opts.worker_memory)
        self.client = self._client_cm.__enter__()
        try:
            self._load()
        except BaseException:
            self._client_cm.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.fit_extra = {"dask": {"workers": self.n_workers(), "chunks": len(self.X.chunks[0]),
                                   "train_source": str(self.opts.train_source) if self.opts.train_source
                                   else "MNIST training digits"}} if exc[0] is None else {}
        self._client_cm.__exit__(*exc)

    def n_workers(self) -> int:
        """The number of workers the client sees."""
        return len(self.client.scheduler_info()["workers"])

    def _load(self) -> None:
        import dask.array as da

        from ._chunks import row_groups

        opts, task = self.opts, self.task
        if self.store is not None:
            X, y = self.store.images, self.store.labels
            # row i is a copy of training digit i % n_source: its group, so copies share a fold
            groups = row_groups(X.chunks[0], int(self.store.attrs.get("n_source", X.shape[0])))
        else:
            X_np, y_np = shuffle(self.data.X_train, self.data.y_train, opts.seed)
            X = da.from_array(X_np, chunks=(10_000, X_np.shape[1]))
            y = da.from_array(y_np, chunks=10_000)
            groups = row_groups(X.chunks[0])
        if task.kind == "pair":  # the rows of the two digits, chunk by chunk where they are
            import dask

            keep = da.isin(y, list(task.digits))
            # held on the workers once selected: their chunk sizes are then known without
            # recomputing the selection, and later graphs over them never disagree about a key
            # (recomputed, the selection made Dask's scheduler warn 80 lines per fit)
            X, y, groups = dask.persist(X[keep], y[keep], groups[keep])
            for a in (X, y, groups):
                a.compute_chunk_sizes()
        if task.kind == "digit":
            y = y.map_blocks(lambda b: task.apply(b[:, None], b)[1], dtype=np.int64)
        if opts.train_size is not None:  # the first digits (a store begins with the 60,000 originals)
            X, y, groups = X[: opts.train_size], y[: opts.train_size], groups[: opts.train_size]
        self.X, self._y, self.groups = X, y, groups

    @property
    def n_train(self) -> int:
        return int(self.X.shape[0])

    @property
    def y(self) -> Any:
        return self._y

    def features(self) -> Features:
        if self._features is None:  # made once: the path and the final fit share them
            from .features.chunks import fit_on_sample, transform_chunks

            feature_map = self._new_feature_map()
            if feature_map is None:
                self._features = Features(None, self.X)
            else:
                t0 = time.perf_counter()
                fit_on_sample(feature_map, self.X, self._y)
                self._features = Features(feature_map, transform_chunks(feature_map, self.X),
                                          time.perf_counter() - t0)
        return self._features

    def choose_C(self, make_linear: Callable[[float, int], Any], Cs: list[float], hooks: Hooks) -> dict:
        """Fit every ``C`` side by side on the cluster, one digit in ten (with its copies) held
        out to choose among them."""
        hooks.stage(f"fitting {len(Cs)} values of C side by side on the cluster")
        features = self.features()
        F_test = self.X_test if features.feature_map is None else features.feature_map.transform(self.X_test)
        rows, coefs = sweep_C_chunked(make_linear(Cs[0], self.n_train), features.F, self._y, Cs, groups=self.groups,
                                      eval_sets={"test": (F_test, self.y_test)}, on_step=hooks.on_path_step)
        n_val = int((self.groups % PATH_HOLD_OUT == 0).sum().compute())  # the rows the path held out
        return {"rows": rows, "coefs": coefs, "chosen_C": best_C(rows),
                "selected_by": "accuracy on 10% of the training digits held out (each with its copies)",
                "n_fit": self.n_train - n_val, "n_validation": n_val}

    def cross_validate(self, model: Any, linear: Any, features: Features, k: int, hooks: Hooks) -> dict:
        hooks.stage(f"cross-validating: {k} folds side by side on the cluster")
        # the feature map was fitted on a sample of all the digits; the folds refit the linear model
        return cross_validate_chunked(linear, features.F, self._y, k, groups=self.groups, on_fold=hooks.on_fold)

    def head(self, n: int = TRAIN_SCORED) -> tuple[np.ndarray, np.ndarray]:
        import dask.array as da

        scored = min(n, self.n_train)
        X_head, y_head = da.compute(self.X[:scored], self._y[:scored])
        return np.asarray(X_head), np.asarray(y_head)


def open_source(opts: Any, data: MNIST, task: Task) -> Source:
    """The source ``opts`` asks for: Dask when a store, local workers or a scheduler is given."""
    return DaskSource(opts, data, task) if opts.uses_dask else MemorySource(opts, data, task)


@dataclass
class FittedRun:
    """What the flow's fitting steps give the run folder."""

    model: Any  # the fitted model (a Pipeline with the feature map's steps, or the linear model)
    linear: Any  # its linear model
    C: float
    fit_time_s: float
    features_time_s: float
    n_train: int
    train_head: tuple[np.ndarray, np.ndarray]
    path: dict | None = None
    cross_validation: dict | None = None
    learning_curve: list[dict] | None = None
    readable_coef: np.ndarray | None = None
    extra: dict = field(default_factory=dict)
