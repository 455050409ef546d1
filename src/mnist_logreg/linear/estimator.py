"""scikit-learn estimators over the solvers: ``LogisticRegression`` and ``SGDLogisticRegression``.

Preprocessing belongs to the model: ``scaling="pixels"`` divides by 255 (default),
``"standard"`` centres and scales each feature by the training mean and standard deviation,
``None`` leaves the input as it is. ``coef_`` and ``intercept_`` act on the preprocessed
features (see :meth:`LogisticRegression.preprocess`); ``predict`` applies exactly the
preprocessing learnt in ``fit``.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable

import numpy as np
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._backend import get_backend
from ._data import DenseMatrix
from ._loss import BinaryLogLoss, SoftmaxLogLoss
from ._penalties import make_penalty
from ._solvers import lbfgs, newton_cg, sgd

__all__ = ["LogisticRegression", "SGDLogisticRegression"]

SOLVERS = {"lbfgs": lbfgs, "newton-cg": newton_cg}
SCALINGS = ("pixels", "standard", None)


def _fit_scaling(X: np.ndarray, scaling: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Offset and scale per feature so that the model sees ``(X - offset) * scale``."""
    d = X.shape[1]
    if scaling is None:
        return np.zeros(d), np.ones(d)
    if scaling == "pixels":
        return np.zeros(d), np.full(d, 1.0 / 255.0)
    if scaling == "standard":
        mean = X.mean(axis=0, dtype=np.float64)
        std = X.std(axis=0, dtype=np.float64)
        return mean, 1.0 / np.where(std > 0, std, 1.0)
    raise ValueError(f"scaling must be 'pixels', 'standard' or None, got {scaling!r}")


class _LinearClassifierMixin(ClassifierMixin):
    """Prediction methods shared by both estimators (binary, softmax or one-vs-rest)."""

    def preprocess(self, X) -> np.ndarray:
        """The preprocessed features the coefficients act on: ``(X - offset_) * scale_``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32, np.uint8])
        return (X - self.offset_) * self.scale_

    def decision_function(self, X) -> np.ndarray:
        """Scores: (n,) for two classes (positive means ``classes_[1]``), else (n, n_classes)."""
        scores = self.preprocess(X) @ self.coef_.T + self.intercept_
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, (n, n_classes); one-vs-rest scores are normalised to sum 1."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            p = expit(scores)
            return np.column_stack([1 - p, p])
        if getattr(self, "multiclass", "multinomial") == "ovr":
            p = expit(scores)
            return p / p.sum(axis=1, keepdims=True)
        return softmax(scores, axis=1)

    def predict_log_proba(self, X) -> np.ndarray:
        """Logarithm of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X) -> np.ndarray:
        """The most probable class for each row of ``X``."""
        scores = self.decision_function(X)
        idx = (scores > 0).astype(int) if scores.ndim == 1 else scores.argmax(axis=1)
        return self.classes_[idx]

    # -- helpers for fit

    def _preprocess(self, X: np.ndarray, dtype: str, columns: np.ndarray | None = None) -> np.ndarray:
        """``(X - offset_) * scale_`` in the working dtype (no float64 copy), optionally of some columns."""
        offset, scale = self.offset_, self.scale_
        if columns is not None and len(columns) < X.shape[1]:
            X, offset, scale = X[:, columns], offset[columns], scale[columns]
        out = X.astype(dtype)
        if np.any(offset):
            out -= offset.astype(dtype)
        out *= scale.astype(dtype)
        return out

    def _validate_fit_data(self, X, y, sample_weight, reset=True):
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32, np.uint8], reset=reset,
                             y_numeric=False)
        check_classification_targets(y)
        if sample_weight is None:
            sample_weight = np.ones(len(y))
        else:
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
            if sample_weight.shape != (len(y),):
                raise ValueError(
                    f"sample_weight: expected shape ({len(y)},), found {sample_weight.shape}"
                )
            if not np.all(np.isfinite(sample_weight)) or np.any(sample_weight < 0):
                raise ValueError("sample_weight must be finite and non-negative")
            if not np.any(sample_weight > 0):
                raise ValueError("sample_weight: every weight is zero; at least one must be positive")
        return X, y, sample_weight

    def _set_classes(self, y):
        classes, codes = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"the data has 1 class ({classes[0]!r}): needs samples of at least 2 classes"
            )
        self.classes_ = classes
        return codes


class LogisticRegression(_LinearClassifierMixin, BaseEstimator):
    """L2-penalised logistic regression with converged, preconditioned solvers.

    Minimises (scikit-learn's convention)::

        sum_i s_i * logloss(y_i, x_i @ W + b) + 0.5 / C * ||W||^2

    over the preprocessed features ``x_i``; the intercept ``b`` is not penalised. Two classes
    give the binary (sigmoid) model; more give the softmax model (``multiclass="multinomial"``)
    or one binary model per class (``"ovr"``).

    Parameters
    ----------
    C : float
        Inverse regularisation strength (larger = weaker penalty).
    penalty : {"l2", None}
        ``None`` fits without penalty (``C`` is ignored).
    fit_intercept : bool
        Whether to fit an unpenalised intercept.
    multiclass : {"multinomial", "ovr"}
        Softmax over all classes, or one-vs-rest binary models.
    solver : {"lbfgs", "newton-cg"}
        Preconditioned L-BFGS (default, fastest on MNIST) or Newton-CG.
    tol : float
        Stop when the estimated suboptimality ``-g^T d / 2`` is at most ``tol * |F|``. The
        default 2e-7 leaves the objective within 1e-5 (relative) of the optimum on full MNIST,
        measured against a float64 reference optimum (``benchmarks/bench_fit.py``).
    max_iter : int
        Iteration limit (a ``ConvergenceWarning`` says when it is reached).
    dtype : {"float32", "float64"}
        Working precision of the data and solver.
    device : str
        "cpu", or a torch device such as "cuda" (needs the ``gpu`` extra).
    backend : {"auto", "numpy", "torch"}
        "auto" uses numpy on "cpu" and torch elsewhere; "torch" on "cpu" runs the torch path.
    scaling : {"pixels", "standard", None}
        Preprocessing learnt in ``fit`` and applied in ``predict`` (see the module doc).
    random_state : int or None
        Unused by the deterministic solvers; kept for API symmetry with the SGD model.
    verbose : int
        Print one line per iteration when > 0.
    callback : callable or None
        Called with a dict (iter, objective, grad_norm, est_gap, time) after each iteration.

    Attributes
    ----------
    classes_, coef_, intercept_, n_iter_, n_features_in_
        As in scikit-learn; ``coef_`` is (1, d) for two classes, else (n_classes, d).
    offset_, scale_ : ndarray
        The preprocessing: the model sees ``(X - offset_) * scale_``.
    objective_ : float
        Final objective value (sum over one-vs-rest models for "ovr").
    converged_ : bool
    history_ : list of dict
        Per-iteration objective, gradient norm, estimated gap and time (per class for "ovr").
    fit_time_ : float
        Seconds spent in the solver.
    """

    def __init__(
        self,
        C: float = 1.0,
        *,
        penalty: str | None = "l2",
        fit_intercept: bool = True,
        multiclass: str = "multinomial",
        solver: str = "lbfgs",
        tol: float = 2e-7,
        max_iter: int = 1000,
        dtype: str = "float32",
        device: str = "cpu",
        backend: str = "auto",
        scaling: str | None = "pixels",
        random_state: int | None = None,
        verbose: int = 0,
        callback: Callable | None = None,
    ):
        self.C = C
        self.penalty = penalty
        self.fit_intercept = fit_intercept
        self.multiclass = multiclass
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.dtype = dtype
        self.device = device
        self.backend = backend
        self.scaling = scaling
        self.random_state = random_state
        self.verbose = verbose
        self.callback = callback

    def _check_params(self):
        if self.penalty not in ("l2", None):
            raise ValueError(f"penalty must be 'l2' or None, got {self.penalty!r}")
        if not (isinstance(self.C, int | float) and self.C > 0):
            raise ValueError(f"C must be a positive number, got {self.C!r}")
        if self.multiclass not in ("multinomial", "ovr"):
            raise ValueError(f"multiclass must be 'multinomial' or 'ovr', got {self.multiclass!r}")
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {sorted(SOLVERS)}, got {self.solver!r}")
        if not (self.tol > 0):
            raise ValueError(f"tol must be positive, got {self.tol!r}")
        if not (isinstance(self.max_iter, int | np.integer) and self.max_iter >= 1):
            raise ValueError(f"max_iter must be a positive integer, got {self.max_iter!r}")

    def fit(self, X, y, sample_weight=None):
        """Fit the model to pixels ``X`` (n, d) and labels ``y`` (n,)."""
        self._check_params()
        X, y, sample_weight = self._validate_fit_data(X, y, sample_weight)
        codes = self._set_classes(y)
        be = get_backend(self.backend, self.device, self.dtype)
        self.offset_, self.scale_ = _fit_scaling(X, self.scaling)
        # features that preprocess to 0 in every training row (MNIST's corner pixels) get
        # coefficient 0 at the optimum: leave them out of the solve, which makes every pass over
        # X cheaper
        active = np.flatnonzero(np.any(X != self.offset_, axis=0))
        data = DenseMatrix(be.xp, be.asarray(self._preprocess(X, be.dtype_name, active)))
        sw = be.asarray(sample_weight[:, None])
        penalty = make_penalty(math.inf if self.penalty is None else float(self.C))
        solve = SOLVERS[self.solver]
        n_classes = len(self.classes_)
        t0 = time.perf_counter()
        if n_classes == 2 or self.multiclass == "ovr":
            targets = [codes] if n_classes == 2 else [(codes == k) for k in range(n_classes)]
            losses = [BinaryLogLoss(data, be.asarray(t.astype(np.float64)), sw, penalty, self.fit_intercept)
                      for t in targets]
        else:
            yk = be.asarray(codes, dtype=None if be.name == "numpy" else be.torch.int64)
            losses = [SoftmaxLogLoss(data, yk, sw, penalty, self.fit_intercept, n_classes)]
        results = []
        for k, loss in enumerate(losses):
            cb = self.callback
            if cb is not None and len(losses) > 1:
                cb = _tag_callback(cb, k)
            results.append(solve(loss, loss.initial(), eigh=be.eigh, tol=self.tol,
                                 max_iter=self.max_iter, verbose=self.verbose, callback=cb))
        self.fit_time_ = time.perf_counter() - t0
        theta = np.concatenate([be.to_numpy(r.theta).astype(np.float64) for r in results], axis=1)
        n_active = len(active)
        self.coef_ = np.zeros((theta.shape[1], X.shape[1]))
        self.coef_[:, active] = theta[:n_active].T
        self.intercept_ = theta[n_active].copy() if self.fit_intercept else np.zeros(theta.shape[1])
        self.n_iter_ = np.array([r.n_iter for r in results], dtype=np.int32)
        self.n_evals_ = int(sum(r.n_evals + r.n_hessp for r in results))
        self.objective_ = float(sum(r.objective for r in results))
        self.converged_ = all(r.converged for r in results)
        self.history_ = results[0].history if len(results) == 1 else [r.history for r in results]
        if not self.converged_:
            worst = max((r for r in results if not r.converged), key=lambda r: r.grad_norm)
            warnings.warn(
                f"{type(self).__name__} ({self.solver}) did not converge: stopped after "
                f"{worst.n_iter} iterations with gradient norm {worst.grad_norm:.3g} "
                f"({worst.message}); raise max_iter (now {self.max_iter}) or tol (now {self.tol})",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self


def _tag_callback(cb, k):
    return lambda info: cb({**info, "model": k})


class SGDLogisticRegression(_LinearClassifierMixin, BaseEstimator):
    """Logistic regression (softmax for 3+ classes) fitted by mini-batch SGD, with ``partial_fit``.

    Minimises ``mean_i logloss(y_i, x_i @ W + b) + 0.5 * alpha * ||W||^2``; ``alpha = 1 / (C n)``
    matches :class:`LogisticRegression`'s objective divided by ``n``. Each epoch visits the data
    in a new random order; the returned coefficients are the average of the epoch's iterates.

    Parameters
    ----------
    alpha : float
        L2 penalty per sample.
    batch_size : int
        Rows per update.
    max_iter : int
        Epochs for ``fit``.
    eta0, power_t : float
        Step size ``eta0 / (1 + t / steps_per_epoch) ** power_t`` at update ``t``.
    fit_intercept, scaling, dtype, device, backend, verbose, callback
        As in :class:`LogisticRegression`.
    random_state : int or None
        Seed of the shuffling.
    """

    def __init__(
        self,
        alpha: float = 1e-5,
        *,
        fit_intercept: bool = True,
        batch_size: int = 256,
        max_iter: int = 5,
        eta0: float = 0.5,
        power_t: float = 0.5,
        scaling: str | None = "pixels",
        dtype: str = "float32",
        device: str = "cpu",
        backend: str = "auto",
        random_state: int | None = None,
        verbose: int = 0,
        callback: Callable | None = None,
    ):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.eta0 = eta0
        self.power_t = power_t
        self.scaling = scaling
        self.dtype = dtype
        self.device = device
        self.backend = backend
        self.random_state = random_state
        self.verbose = verbose
        self.callback = callback

    def fit(self, X, y, sample_weight=None):
        """Fit from scratch with ``max_iter`` epochs of mini-batch SGD."""
        for attr in ("classes_", "theta_"):
            self.__dict__.pop(attr, None)
        return self._fit(X, y, None, sample_weight, self.max_iter, reset=True)

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over ``X, y``; the first call needs ``classes`` (all labels there will be)."""
        first = not hasattr(self, "theta_")
        if first and classes is None:
            raise ValueError("the first call to partial_fit needs classes=[...] (every label)")
        return self._fit(X, y, classes, sample_weight, 1, reset=first)

    def _fit(self, X, y, classes, sample_weight, epochs, reset):
        if not (self.alpha >= 0 and self.batch_size >= 1 and self.eta0 > 0 and epochs >= 1):
            raise ValueError("alpha >= 0, batch_size >= 1, eta0 > 0 and max_iter >= 1 are required")
        X, y, sample_weight = self._validate_fit_data(X, y, sample_weight, reset=reset)
        be = get_backend(self.backend, self.device, self.dtype)
        if reset:
            if classes is not None:
                self.classes_ = np.unique(np.asarray(classes))
                if len(self.classes_) < 2:
                    raise ValueError("classes: needs at least 2 classes")
            else:
                self._set_classes(y)
            self.offset_, self.scale_ = _fit_scaling(X, self.scaling)
            self.t_ = 0
            self._rng = np.random.default_rng(self.random_state)
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if unknown.size:
            raise ValueError(f"y has labels {unknown.tolist()} not in classes_ {self.classes_.tolist()}")
        codes = np.searchsorted(self.classes_, y)
        K = len(self.classes_)
        data = DenseMatrix(be.xp, be.asarray(self._preprocess(X, be.dtype_name)))
        sw = be.asarray(sample_weight[:, None])
        if K == 2:
            yb = be.asarray(codes.astype(np.float64))
        else:
            yb = be.asarray(codes, dtype=None if be.name == "numpy" else be.torch.int64)
        no_penalty = make_penalty(math.inf)

        def make_loss(rows, yb_, sb):
            if K == 2:
                return BinaryLogLoss(rows, yb_, sb, no_penalty, self.fit_intercept)
            return SoftmaxLogLoss(rows, yb_, sb, no_penalty, self.fit_intercept, K)

        p = X.shape[1] + int(self.fit_intercept)
        theta = be.asarray(np.zeros((p, 1 if K == 2 else K))) if reset else be.asarray(self.theta_)
        t0 = time.perf_counter()
        avg, last, self.t_ = sgd(
            make_loss, data, yb, sw, theta, alpha=self.alpha, batch_size=self.batch_size,
            epochs=epochs, eta0=self.eta0, power_t=self.power_t, t_start=self.t_, rng=self._rng,
            verbose=self.verbose, callback=self.callback,
        )
        self.fit_time_ = time.perf_counter() - t0
        self.theta_ = be.to_numpy(last).astype(np.float64)
        avg = be.to_numpy(avg).astype(np.float64)
        d = X.shape[1]
        self.coef_ = np.ascontiguousarray(avg[:d].T)
        self.intercept_ = avg[d].copy() if self.fit_intercept else np.zeros(avg.shape[1])
        self.n_iter_ = epochs if reset else getattr(self, "n_iter_", 0) + epochs
        return self
