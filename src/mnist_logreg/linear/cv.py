"""``LogisticRegressionCV``: the penalty strength (and elastic-net mixing) chosen by cross-validation.

Each fold fits the whole path of ``Cs`` (weakest penalty last) with warm starts, each fit
starting from the previous ``C``'s solution, so a path costs little more than its last fit;
folds run in parallel (``n_jobs``, through joblib). The attributes follow scikit-learn's
current convention (its ``use_legacy_attributes=False``): ``C_`` and ``l1_ratio_`` are floats,
``scores_`` is ``(n_folds, n_l1_ratios, n_Cs)``, ``coefs_paths_`` is
``(n_folds, n_l1_ratios, n_Cs, n_outputs, n_features + fit_intercept)`` (``n_outputs`` is 1
for two classes) and ``n_iter_`` is ``(n_folds, n_l1_ratios, n_Cs)``.
"""

from __future__ import annotations

import warnings
from numbers import Integral

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import check_scoring
from sklearn.model_selection import check_cv
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import Interval

from .estimator import LogisticRegression, _fit_scaling, _LinearClassifierMixin

__all__ = ["LogisticRegressionCV"]

# LogisticRegression's parameters that the CV estimator passes on to every fit
_SHARED = ("fit_intercept", "multiclass", "solver", "tol", "max_iter", "dtype", "device", "backend",
           "scaling", "class_weight", "random_state", "verbose")


def _penalty_of(l1_ratio: float) -> dict:
    """``penalty`` and ``l1_ratio`` for LogisticRegression: 0 is L2, 1 is L1, between elastic-net."""
    if l1_ratio == 0:
        return {"penalty": "l2", "l1_ratio": None}
    if l1_ratio == 1:
        return {"penalty": "l1", "l1_ratio": None}
    return {"penalty": "elasticnet", "l1_ratio": float(l1_ratio)}


def _raw_parameters(model: LogisticRegression) -> np.ndarray:
    """``[coef | intercept]`` (n_outputs, d + 1) acting on the raw features (preprocessing folded in)."""
    coef = model.coef_.astype(np.float64) * model.scale_
    intercept = model.intercept_.astype(np.float64) - coef @ model.offset_
    return np.column_stack([coef, intercept])


def _fit_path(base: LogisticRegression, X, y, sample_weight, train, test, Cs, l1_ratios, scorer):
    """One fold: the path over ``Cs`` for each l1_ratio, warm-started; scores on the held-out rows."""
    X_train, y_train = _safe_indexing(X, train), y[train]
    X_test, y_test = _safe_indexing(X, test), y[test]
    sw_train = None if sample_weight is None else sample_weight[train]
    scores = np.empty((len(l1_ratios), len(Cs)))
    n_iter = np.zeros((len(l1_ratios), len(Cs)), dtype=np.int32)
    paths = []
    for i, l1_ratio in enumerate(l1_ratios):
        model = clone(base).set_params(warm_start=True, **_penalty_of(l1_ratio))
        path = []
        for j, C in enumerate(Cs):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                model.set_params(C=float(C)).fit(X_train, y_train, sample_weight=sw_train)
            for w in caught:  # the fold's warnings, once each, naming the fit
                if issubclass(w.category, ConvergenceWarning):
                    warnings.warn(f"C={C:.4g}, l1_ratio={l1_ratio}: {w.message}", ConvergenceWarning,
                                  stacklevel=2)
            scores[i, j] = scorer(model, X_test, y_test)
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
        How a held-out fold is scored (scikit-learn's scorer names); None is accuracy.
    refit : bool
        Refit on all the data with the best ``C`` / ``l1_ratio`` (warm-started from the folds'
        average solution); if False, the model is the folds' average at each fold's best point
        and ``C_`` / ``l1_ratio_`` the average of those points, as scikit-learn does.
    n_jobs : int or None
        Folds fitted in parallel (joblib; None is 1, -1 all cores).
    fit_intercept, multiclass, solver, tol, max_iter, dtype, device, backend, scaling,
    class_weight, random_state, verbose
        As in :class:`~mnist_logreg.LogisticRegression`, for every fit.

    Attributes
    ----------
    Cs_ : ndarray (n_Cs,)
    l1_ratios_ : ndarray (n_l1_ratios,)
    scores_ : ndarray (n_folds, n_l1_ratios, n_Cs)
        Held-out score of each fit.
    coefs_paths_ : ndarray (n_folds, n_l1_ratios, n_Cs, n_outputs, n_features + fit_intercept)
        Each fit's coefficients (and intercept, last), on the raw input features.
    n_iter_ : ndarray (n_folds, n_l1_ratios, n_Cs)
    C_, l1_ratio_ : float
        The selected point (best mean score over folds; the first best on ties).
    classes_, coef_, intercept_, offset_, scale_, n_features_in_
        As in :class:`~mnist_logreg.LogisticRegression`.
    """

    def __init__(
        self,
        *,
        Cs: int | list = 10,
        l1_ratios: tuple | list = (0.0,),
        cv=None,
        scoring=None,
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
        class_weight: dict | str | None = None,
        random_state: int | None = None,
        verbose: int = 0,
    ):
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

    _parameter_constraints: dict = {  # noqa: RUF012 (scikit-learn's convention)
        **{name: LogisticRegression._parameter_constraints[name] for name in _SHARED},
        "Cs": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "l1_ratios": ["array-like"],
        "cv": ["cv_object"],
        "scoring": [str, callable, None],
        "refit": ["boolean"],
        "n_jobs": [Integral, None],
    }

    def _grids(self) -> tuple[np.ndarray, np.ndarray]:
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

    def fit(self, X, y, sample_weight=None):
        """Cross-validate the grid, pick the best point and (``refit``) fit it on all the data.

        Parameters
        ----------
        X : array-like or scipy sparse matrix of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        self._validate_params()
        Cs, l1_ratios = self._grids()
        X, y, sample_weight = self._validate_fit_data(X, y, sample_weight)
        self._set_classes(y)
        base = LogisticRegression(**{name: getattr(self, name) for name in _SHARED})
        scorer = check_scoring(base, scoring=self.scoring)
        folds = list(check_cv(self.cv, y, classifier=True).split(X, y))
        results = Parallel(n_jobs=self.n_jobs)(
            delayed(_fit_path)(base, X, y, sample_weight, train, test, Cs, l1_ratios, scorer)
            for train, test in folds
        )
        self.Cs_, self.l1_ratios_ = Cs, l1_ratios
        self.scores_ = np.stack([r[0] for r in results])
        self.n_iter_ = np.stack([r[1] for r in results])
        paths = np.stack([r[2] for r in results])  # (folds, l1, Cs, outputs, d + 1), raw features
        self.coefs_paths_ = paths if self.fit_intercept else paths[..., :-1]
        mean = self.scores_.mean(axis=0)
        best_l1, best_C = np.unravel_index(int(np.argmax(mean)), mean.shape)
        if self.refit:
            self.C_, self.l1_ratio_ = float(Cs[best_C]), float(l1_ratios[best_l1])
            model = base.set_params(C=self.C_, warm_start=True, **_penalty_of(self.l1_ratio_))
            # start from the folds' average solution, in the preprocessing fitted on all the data
            offset, scale = _fit_scaling(X, self.scaling)
            start = paths[:, best_l1, best_C].mean(axis=0)
            model.coef_ = start[:, :-1] / scale
            model.intercept_ = start[:, -1] + start[:, :-1] @ offset
            model.classes_ = self.classes_
            model.fit(X, y, sample_weight=sample_weight)
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
