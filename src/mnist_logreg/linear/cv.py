"""``LogisticRegressionCV``: the penalty strength (and elastic-net mixing) chosen by cross-validation.

Each fold fits the whole path of ``Cs`` (weakest penalty last) with warm starts, each fit
starting from the previous ``C``'s solution, so a path costs little more than its last fit;
folds run in parallel (``n_jobs``, through joblib). As in scikit-learn, every fold is fitted with
all the classes of ``y``, even one its training rows lack (that class's intercept heads to -inf
until the stopping rule ends the fit); class weights are computed once on all of ``y``;
held-out rows are scored with their sample weights; and ``fit`` and ``score`` route extra
metadata (e.g. ``groups`` to the splitter) when scikit-learn's metadata routing is enabled.
The attributes follow scikit-learn's current convention (its ``use_legacy_attributes=False``):
``C_`` and ``l1_ratio_`` are floats, ``scores_`` is ``(n_folds, n_l1_ratios, n_Cs)``,
``coefs_paths_`` is ``(n_folds, n_l1_ratios, n_Cs, n_outputs, n_features + fit_intercept)``
(``n_outputs`` is 1 for two classes) and ``n_iter_`` is ``(n_folds, n_l1_ratios, n_Cs)``.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from numbers import Integral
from typing import Any, Self

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import get_scorer, make_scorer
from sklearn.model_selection import check_cv
from sklearn.utils import Bunch, _safe_indexing
from sklearn.utils._param_validation import Interval
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.metadata_routing import (
    UNUSED,
    MetadataRouter,
    MethodMapping,
    _raise_for_params,
    _routing_enabled,
    process_routing,
)
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import _check_method_params

from .estimator import LogisticRegression, _fit_scaling, _LinearClassifierMixin, check_class_weight

__all__ = ["LogisticRegressionCV"]

# LogisticRegression's parameters that the CV estimator passes on to every fit
_SHARED = ("fit_intercept", "multiclass", "solver", "tol", "max_iter", "dtype", "device", "backend",
           "scaling", "class_weight", "random_state", "verbose")


def _penalty_of(l1_ratio: float) -> dict[str, Any]:
    """``penalty`` and ``l1_ratio`` for LogisticRegression: 0 is L2, 1 is L1, between elastic-net."""
    if l1_ratio == 0:
        return {"penalty": "l2", "l1_ratio": None}
    if l1_ratio == 1:
        return {"penalty": "l1", "l1_ratio": None}
    return {"penalty": "elasticnet", "l1_ratio": float(l1_ratio)}


def _raw_parameters(model: LogisticRegression) -> NDArray[np.float64]:
    """``[coef | intercept]`` (n_outputs, d + 1) acting on the raw features (preprocessing folded in)."""
    coef = model.coef_.astype(np.float64) * model.scale_
    intercept = model.intercept_.astype(np.float64) - coef @ model.offset_
    return np.column_stack([coef, intercept])


class _FoldLogisticRegression(LogisticRegression):
    """A fold's model: :class:`LogisticRegression` fitted with the classes ``fold_classes`` (set
    before ``fit``) rather than those of the fold's ``y``, so that every fold has the outputs of all
    the classes, as in scikit-learn.

    A class without (weighted) training rows keeps its outputs: its loss keeps falling as its
    intercept goes to -inf, and the fit ends where the stopping rule finds what is left below
    ``tol`` (the smooth solvers, after a few dozen iterations on iris; OWL-QN, for L1 and
    elastic-net, may run to ``max_iter`` instead, as scikit-learn's saga does).
    """

    fold_classes: NDArray[Any] | None = None

    def _set_classes(self, y: NDArray[Any]) -> NDArray[np.intp]:
        if self.fold_classes is None:
            codes: NDArray[np.intp] = super()._set_classes(y)
            return codes
        self.classes_ = self.fold_classes
        return np.searchsorted(self.fold_classes, y)


def _scorer_for_folds(scorer: Any, classes: NDArray[Any]) -> Any:
    """``scorer`` told all the classes (``labels``, and the positive class of two) when its metric
    takes them, as scikit-learn does: a held-out fold may lack some classes (log-loss, Brier score)."""
    func = getattr(scorer, "_score_func", None)
    accepted = inspect.signature(func).parameters if func is not None else {}
    if "labels" not in accepted:
        return scorer
    told = {"labels": classes}
    if len(classes) == 2 and "pos_label" in accepted:
        told["pos_label"] = classes[-1]
    return make_scorer(func, greater_is_better=scorer._sign > 0, response_method=scorer._response_method,
                       **{**told, **(scorer._kwargs or {})})


def _fit_path(base: _FoldLogisticRegression, X: Any, y: NDArray[Any], fit_weight: NDArray[Any],
              train: NDArray[np.intp], test: NDArray[np.intp], Cs: NDArray[np.float64], l1_ratios: NDArray[np.float64],
              scorer: Any, score_params: dict[str, Any],
              lacking: list[Any]) -> tuple[NDArray[np.float64], NDArray[np.int32], NDArray[np.float64]]:
    """One fold: the path over ``Cs`` for each l1_ratio, warm-started; scores on the held-out rows.

    ``fit_weight`` holds the sample weights times the class weights; ``score_params`` (the
    held-out rows' sample weights among them, when given) go to ``scorer``; ``lacking`` lists
    the classes without training weight in this fold (for the warnings).
    """
    X_train, y_train = _safe_indexing(X, train), y[train]
    X_test, y_test = _safe_indexing(X, test), y[test]
    scores = np.empty((len(l1_ratios), len(Cs)))
    n_iter = np.zeros((len(l1_ratios), len(Cs)), dtype=np.int32)
    paths = []
    note = ""
    if lacking:
        note = (f" (this fold has no training weight in class(es) {lacking}: their intercepts have no finite "
                "optimum, so a larger max_iter may not help)")
    for i, l1_ratio in enumerate(l1_ratios):
        model = clone(base).set_params(warm_start=True, **_penalty_of(l1_ratio))
        model.fold_classes = base.fold_classes
        path = []
        for j, C in enumerate(Cs):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                model.set_params(C=float(C)).fit(X_train, y_train, sample_weight=fit_weight[train])
            for w in caught:  # the fold's warnings, once each, naming the fit
                if issubclass(w.category, ConvergenceWarning):
                    message = str(w.message).replace(type(model).__name__, "LogisticRegression", 1)
                    warnings.warn(f"C={C:.4g}, l1_ratio={l1_ratio}: {message}{note}", ConvergenceWarning,
                                  stacklevel=2)
            scores[i, j] = scorer(model, X_test, y_test, **score_params)
            n_iter[i, j] = int(model.n_iter_.max())
            path.append(_raw_parameters(model))
        paths.append(path)
    return scores, n_iter, np.asarray(paths)


class LogisticRegressionCV(_LinearClassifierMixin, BaseEstimator):
    """Logistic regression with ``C`` (and ``l1_ratio``) selected by cross-validation.

    Parameters
    ----------
    Cs : int or array-like of float
        The grid of ``C``: an int ``n`` means ``np.logspace(-4, 4, n)`` (scikit-learn's grid),
        fitted from the strongest penalty to the weakest with warm starts.
    l1_ratios : array-like of float
        Elastic-net mixings to try, 0 (L2, default) to 1 (L1).
    cv : int, cross-validation generator or iterable, or None
        The folds (scikit-learn's ``check_cv``): None is 5-fold stratified.
    scoring : str, callable or None
        How a held-out fold is scored (scikit-learn's scorer names), and what :meth:`score`
        returns; None is accuracy. The held-out rows' ``sample_weight``, when given, goes to the
        scorer (a callable must accept it), and a metric that takes ``labels`` gets all the classes.
    refit : bool
        Refit on all the data with the best ``C`` / ``l1_ratio`` (warm-started from the folds'
        average solution); if False, the model is the folds' average at each fold's best point
        and ``C_`` / ``l1_ratio_`` the average of those points, as scikit-learn does.
    n_jobs : int or None
        Folds fitted in parallel (joblib; None is 1, -1 all cores).
    class_weight : dict, "balanced" or None
        As in :class:`~mnist_logreg.LogisticRegression`, but computed once on all of ``y`` (with
        ``sample_weight``) and used by every fold, as scikit-learn does.
    fit_intercept, multiclass, solver, tol, max_iter, dtype, device, backend, scaling,
    random_state, verbose
        As in :class:`~mnist_logreg.LogisticRegression`, for every fit.

    Attributes
    ----------
    Cs_ : ndarray (n_Cs,)
    l1_ratios_ : ndarray (n_l1_ratios,)
    scores_ : ndarray (n_folds, n_l1_ratios, n_Cs)
        Held-out score of each fit.
    coefs_paths_ : ndarray (n_folds, n_l1_ratios, n_Cs, n_outputs, n_features + fit_intercept)
        Each fit's coefficients (and intercept, last), on the raw input features; every fold
        has the outputs of all the classes (a class its training rows lack gets a large negative
        intercept, and a warning says which).
    n_iter_ : ndarray (n_folds, n_l1_ratios, n_Cs)
    C_, l1_ratio_ : float
        The selected point (best mean score over folds; the first best on ties).
    classes_, coef_, intercept_, offset_, scale_, n_features_in_
        As in :class:`~mnist_logreg.LogisticRegression`.
    """

    # score's sample_weight is for the scorer, not this estimator (scikit-learn's declaration)
    __metadata_request__score = {"sample_weight": UNUSED}  # noqa: RUF012

    def __init__(
        self,
        *,
        Cs: int | npt.ArrayLike = 10,
        l1_ratios: npt.ArrayLike = (0.0,),
        cv: Any = None,
        scoring: str | Callable[..., float] | None = None,
        refit: bool = True,
        n_jobs: int | None = None,
        fit_intercept: bool = True,
        multiclass: str = "multinomial",
        solver: str = "lbfgs",
        tol: float = LogisticRegression().tol,
        max_iter: int = LogisticRegression().max_iter,
        dtype: str = "float32",
        device: str = "cpu",
        backend: str = "auto",
        scaling: str | None = "auto",
        class_weight: dict[Any, float] | str | None = None,
        random_state: int | None = None,
        verbose: int = 0,
    ) -> None:
        self.Cs = Cs
        self.l1_ratios = l1_ratios
        self.cv = cv
        self.scoring = scoring
        self.refit = refit
        self.n_jobs = n_jobs
        self.fit_intercept = fit_intercept
        self.multiclass = multiclass
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.dtype = dtype
        self.device = device
        self.backend = backend
        self.scaling = scaling
        self.class_weight = class_weight
        self.random_state = random_state
        self.verbose = verbose

    _parameter_constraints: dict[str, list[Any]] = {  # noqa: RUF012 (scikit-learn's convention)
        **{name: LogisticRegression._parameter_constraints[name] for name in _SHARED},
        "Cs": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "l1_ratios": ["array-like"],
        "cv": ["cv_object"],
        "scoring": [str, callable, None],
        "refit": ["boolean"],
        "n_jobs": [Integral, None],
    }

    def _grids(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        if isinstance(self.Cs, Integral):
            Cs = np.logspace(-4, 4, int(self.Cs))
        else:
            Cs = np.asarray(self.Cs, dtype=np.float64).ravel()
            if Cs.size == 0 or not np.all(np.isfinite(Cs)) or np.any(Cs <= 0):
                raise ValueError(f"Cs: expected finite numbers > 0, found {Cs.tolist()}")
            Cs = np.sort(Cs)  # strongest penalty first: each fit warm-starts the next
        l1_ratios = np.asarray(self.l1_ratios, dtype=np.float64).ravel()
        if l1_ratios.size == 0 or np.any(~np.isfinite(l1_ratios)) or np.any((l1_ratios < 0) | (l1_ratios > 1)):
            raise ValueError(f"l1_ratios: expected numbers from 0 to 1, found {l1_ratios.tolist()}")
        if np.any(l1_ratios > 0) and self.solver != "lbfgs":
            raise ValueError(f"l1_ratios > 0 are fitted by solver='lbfgs' (OWL-QN), not {self.solver!r}")
        return Cs, l1_ratios

    def fit(self, X: Any, y: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None, **params: Any) -> Self:
        """Cross-validate the grid, pick the best point and (``refit``) fit it on all the data.

        Parameters
        ----------
        X : array-like or scipy sparse matrix of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional
            Weights of the fits, and of the held-out rows' scores.
        **params : dict
            Metadata for the splitter (``split``, e.g. ``groups``) and the scorer (``score``),
            routed as requested; only with ``sklearn.set_config(enable_metadata_routing=True)``.

        Returns
        -------
        self
        """
        _raise_for_params(params, self, "fit")
        self._validate_params()
        Cs, l1_ratios = self._grids()
        given = sample_weight is not None
        X, y, sample_weight = self._validate_fit_data(X, y, sample_weight)
        codes = self._set_classes(y)
        # the sample weights given (checked), for the scorer; those of the fits also hold the class weights
        score_weight = sample_weight if given else None
        fit_weight = sample_weight * self._class_weights(y, score_weight)[codes]
        if _routing_enabled():
            routed = process_routing(self, "fit", sample_weight=score_weight, **params)
        else:
            routed = Bunch(splitter=Bunch(split={}),
                           scorer=Bunch(score={} if score_weight is None else {"sample_weight": score_weight}))
        folds = list(check_cv(self.cv, y, classifier=True).split(X, y, **routed.splitter.split))
        lacking = self._lacking_classes(folds, codes, fit_weight)
        base = _FoldLogisticRegression(**{name: getattr(self, name) for name in _SHARED})
        base.set_params(class_weight=None)  # already in fit_weight
        base.fold_classes = self.classes_
        scorer = _scorer_for_folds(self._get_scorer(), self.classes_)
        results = Parallel(n_jobs=self.n_jobs)(
            delayed(_fit_path)(base, X, y, fit_weight, train, test, Cs, l1_ratios, scorer,
                               _check_method_params(X, routed.scorer.score, indices=test), lacking[k])
            for k, (train, test) in enumerate(folds)
        )
        self.Cs_, self.l1_ratios_ = Cs, l1_ratios
        self.scores_ = np.stack([r[0] for r in results])
        self.n_iter_ = np.stack([r[1] for r in results])
        paths = np.stack([r[2] for r in results])  # (folds, l1, Cs, outputs, d + 1), raw features
        n_outputs = 1 if len(self.classes_) == 2 else len(self.classes_)
        if paths.shape[3] != n_outputs:  # the folds' models must have had every class
            raise RuntimeError(f"the folds' models have {paths.shape[3]} outputs, expected {n_outputs}")
        self.coefs_paths_ = paths if self.fit_intercept else paths[..., :-1]
        mean = self.scores_.mean(axis=0)
        best_l1, best_C = np.unravel_index(int(np.argmax(mean)), mean.shape)
        if self.refit:
            self.C_, self.l1_ratio_ = float(Cs[best_C]), float(l1_ratios[best_l1])
            model = LogisticRegression(**base.get_params()).set_params(
                C=self.C_, warm_start=True, **_penalty_of(self.l1_ratio_))
            # start from the folds' average solution, in the preprocessing fitted on all the data
            offset, scale = _fit_scaling(X, self.scaling)
            start = paths[:, best_l1, best_C].mean(axis=0)
            model.coef_ = start[:, :-1] / scale
            model.intercept_ = start[:, -1] + start[:, :-1] @ offset
            model.classes_ = self.classes_
            model.fit(X, y, sample_weight=fit_weight)
            for name in ("coef_", "intercept_", "offset_", "scale_", "objective_", "converged_"):
                setattr(self, name, getattr(model, name))
        else:
            per_fold = [np.unravel_index(int(np.argmax(s)), s.shape) for s in self.scores_]
            self.C_ = float(np.mean([Cs[j] for _, j in per_fold]))
            self.l1_ratio_ = float(np.mean([l1_ratios[i] for i, _ in per_fold]))
            average = np.mean([paths[k, i, j] for k, (i, j) in enumerate(per_fold)], axis=0)
            self.coef_ = average[:, :-1].astype(self.dtype)
            self.intercept_ = average[:, -1].astype(self.dtype)
            self.offset_, self.scale_ = np.zeros(X.shape[1]), np.ones(X.shape[1])
        return self

    def _class_weights(self, y: npt.ArrayLike, sample_weight: npt.ArrayLike | None) -> NDArray[np.float64]:
        """The weight of each class, from all of ``y`` and its sample weights (scikit-learn's rules)."""
        if self.class_weight is None:
            return np.ones(len(self.classes_))
        check_class_weight(self.class_weight)
        if isinstance(self.class_weight, dict):
            unknown = [label for label in self.class_weight if label not in set(self.classes_.tolist())]
            if unknown:
                raise ValueError(f"class_weight: labels {unknown} are not among the classes {self.classes_.tolist()}")
        weights: NDArray[np.float64] = compute_class_weight(self.class_weight, classes=self.classes_, y=y,
                                                            sample_weight=sample_weight)
        return weights

    def _lacking_classes(self, folds: list[tuple[NDArray[np.intp], NDArray[np.intp]]], codes: NDArray[np.intp],
                         fit_weight: NDArray[Any]) -> list[list[Any]]:
        """For each fold, the classes without training weight; a warning names them."""
        n_classes = len(self.classes_)
        lacking = [self.classes_[np.bincount(codes[train], weights=fit_weight[train], minlength=n_classes) <= 0]
                   .tolist() for train, _ in folds]
        if any(lacking):
            which = "; ".join(f"fold {k}: {labels}" for k, labels in enumerate(lacking) if labels)
            warnings.warn(
                f"classes without training weight in some folds ({which}): as in scikit-learn, those folds are "
                "fitted with every class anyway; such a class's intercept heads to -inf until the fit meets its "
                "tol, so the fold (almost) never predicts it, and scores its held-out rows accordingly (a "
                "log-loss there depends on where the fit stopped). A stratified or shuffled split avoids this.",
                UserWarning, stacklevel=3)
        return lacking

    def _get_scorer(self) -> Any:
        """The scorer of ``scoring`` (accuracy when None): scikit-learn's, untyped."""
        return get_scorer("accuracy" if self.scoring is None else self.scoring)

    def score(self, X: Any, y: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None, **params: Any) -> float:
        """The ``scoring`` (accuracy when None) of the model on ``X, y``, as scikit-learn's does.

        Parameters
        ----------
        X : array-like or scipy sparse matrix of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional
            Passed to the scorer (with metadata routing enabled, only if the scorer requests it).
        **params : dict
            Metadata for the scorer; only with ``sklearn.set_config(enable_metadata_routing=True)``.

        Returns
        -------
        float
        """
        _raise_for_params(params, self, "score")
        if sample_weight is not None:
            params["sample_weight"] = sample_weight
        if _routing_enabled():
            kwargs = process_routing(self, "score", **params).scorer.score
        elif self.scoring is None:  # accuracy; Dask arrays too (reduced where they are)
            return super().score(X, y, sample_weight)
        else:
            kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
        score: float = self._get_scorer()(self, X, y, **kwargs)
        return score

    def get_metadata_routing(self) -> MetadataRouter:
        """How ``fit`` and ``score`` route metadata: to the splitter's ``split`` and the scorer's ``score``.

        Returns
        -------
        MetadataRouter
        """
        return (
            MetadataRouter(owner=self)
            .add_self_request(self)
            .add(splitter=self.cv, method_mapping=MethodMapping().add(caller="fit", callee="split"))
            .add(scorer=self._get_scorer(),
                 method_mapping=MethodMapping().add(caller="score", callee="score").add(caller="fit", callee="score"))
        )
