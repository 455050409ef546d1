"""scikit-learn estimators over the solvers: ``LogisticRegression`` and ``SGDLogisticRegression``.

Preprocessing belongs to the model: ``scaling="auto"`` (default) divides uint8 images by 255
and leaves any other input as it is; ``"pixels"`` always divides by 255; ``"standard"`` centres
and scales each feature by the training mean and standard deviation (a feature constant in
training, up to rounding, is centred but not scaled, as scikit-learn's StandardScaler does);
``None`` leaves the input as it is. Sparse input (scipy CSR/CSC) is never densified: it is only
scaled, so ``"standard"`` is refused for it. ``coef_`` and ``intercept_`` act on the preprocessed
features (see :meth:`LogisticRegression.preprocess`); ``predict`` applies exactly the
preprocessing learnt in ``fit``.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from numbers import Integral, Real
from typing import Any, Self

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._backend import BACKENDS, DTYPES, Backend, FitProblem, by_chunks, chunked_accuracy, select_backend
from ._data import CentredMatrix, DesignMatrix, preprocessed_array
from ._inputs import ACCEPTED_DTYPES, SCALINGS, SPARSE_FORMATS, fit_scaling
from ._loss import BinaryLogLoss, Loss, SoftmaxLogLoss
from ._penalties import Penalty, make_penalty
from ._solvers import ROUNDING, Preconditioner, SolverResult, lbfgs, newton_cg, owlqn, sgd

__all__ = ["LogisticRegression", "SGDLogisticRegression"]

SOLVERS: dict[str, Callable[..., SolverResult]] = {"lbfgs": lbfgs, "newton-cg": newton_cg}
_ACCEPTED_DTYPES = ACCEPTED_DTYPES
_SPARSE_FORMATS = SPARSE_FORMATS
_fit_scaling = fit_scaling  # the name cv.py imports


class _LinearClassifierMixin(ClassifierMixin):
    """Prediction methods shared by both estimators (binary, softmax or one-vs-rest)."""

    def preprocess(self, X: Any) -> Any:
        """The preprocessed features the coefficients act on: ``(X - offset_) * scale_``.

        Sparse ``X`` stays sparse (its offset is always 0).

        Parameters
        ----------
        X : array-like or scipy sparse matrix of shape (n_samples, n_features)
            The samples, in the raw scale ``fit`` saw.

        Returns
        -------
        ndarray or scipy sparse array of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=_ACCEPTED_DTYPES, accept_sparse=_SPARSE_FORMATS)
        if sp.issparse(X):
            return sp.csr_array(X.multiply(self.scale_[None, :]))
        return (X - self.offset_) * self.scale_

    def decision_function(self, X: Any) -> Any:
        """Scores: (n,) for two classes (positive means ``classes_[1]``), else (n, n_classes).

        A Dask array gives a Dask array, computed chunk by chunk where the chunks are.

        Parameters
        ----------
        X : array-like, scipy sparse matrix or Dask array of shape (n_samples, n_features)
            The samples, in the raw scale ``fit`` saw (the model applies its preprocessing).

        Returns
        -------
        ndarray (or Dask array) of shape (n_samples,) or (n_samples, n_classes)
        """
        check_is_fitted(self)
        K = self.coef_.shape[0]
        lazy = by_chunks(X, self.decision_function, None if K == 1 else K, self.coef_.dtype)
        if lazy is not None:
            return lazy
        scores = np.asarray(self.preprocess(X) @ self.coef_.T) + self.intercept_
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities, (n, n_classes); one-vs-rest scores are normalised to sum 1.

        A Dask array gives a Dask array, computed chunk by chunk where the chunks are.

        Parameters
        ----------
        X : array-like, scipy sparse matrix or Dask array of shape (n_samples, n_features)
            The samples, in the raw scale ``fit`` saw (the model applies its preprocessing).

        Returns
        -------
        ndarray (or Dask array) of shape (n_samples, n_classes)
            Columns in the order of ``classes_``.
        """
        check_is_fitted(self)
        lazy = by_chunks(X, self.predict_proba, len(self.classes_), self.coef_.dtype)
        if lazy is not None:
            return lazy
        scores = self.decision_function(X)
        if scores.ndim == 1:
            p = expit(scores)
            return np.column_stack([1 - p, p])
        if getattr(self, "multiclass", "multinomial") == "ovr":
            p = expit(scores)
            return p / p.sum(axis=1, keepdims=True)
        return softmax(scores, axis=1)

    def predict_log_proba(self, X: Any) -> Any:
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like, scipy sparse matrix or Dask array of shape (n_samples, n_features)
            The samples, in the raw scale ``fit`` saw (the model applies its preprocessing).

        Returns
        -------
        ndarray (or Dask array) of shape (n_samples, n_classes)
            ``-inf`` where a probability is 0.
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X: Any) -> Any:
        """The most probable class for each row of ``X`` (a Dask array for a Dask array).

        Parameters
        ----------
        X : array-like, scipy sparse matrix or Dask array of shape (n_samples, n_features)
            The samples, in the raw scale ``fit`` saw (the model applies its preprocessing).

        Returns
        -------
        ndarray (or Dask array) of shape (n_samples,)
            Labels from ``classes_``.
        """
        check_is_fitted(self)
        lazy = by_chunks(X, self.predict, None, self.classes_.dtype)
        if lazy is not None:
            return lazy
        scores = self.decision_function(X)
        idx = (scores > 0).astype(int) if scores.ndim == 1 else scores.argmax(axis=1)
        return self.classes_[idx]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy on ``X, y`` (weighted by ``sample_weight``); Dask arrays are reduced where
        they are, only the total comes back.

        Parameters
        ----------
        X : array-like, scipy sparse matrix or Dask array of shape (n_samples, n_features)
            The samples, in the raw scale ``fit`` saw (the model applies its preprocessing).
        y : array-like or Dask array of shape (n_samples,)
            The true labels.
        sample_weight : array-like or Dask array of shape (n_samples,), optional
            Weights of the samples; None weighs them equally.

        Returns
        -------
        float
            The (weighted) share of correct predictions.
        """
        accuracy = chunked_accuracy(self.predict, X, y, sample_weight)
        return super().score(X, y, sample_weight) if accuracy is None else accuracy

    # -- helpers for fit

    def _preprocess(self, X: Any, dtype: str, columns: np.ndarray | None = None) -> Any:
        """``(X - offset_) * scale_`` in the working dtype (no float64 copy), optionally of some columns."""
        offset, scale = self.offset_, self.scale_
        if columns is not None and len(columns) < X.shape[1]:
            X, offset, scale = X[:, columns], offset[columns], scale[columns]
        if sp.issparse(X):
            return sp.csr_array(X.multiply(scale[None, :]), dtype=dtype)
        return preprocessed_array(X, offset, scale, dtype)

    def _validate_fit_data(self, X: Any, y: Any, sample_weight: Any, reset: bool = True) -> tuple[Any, Any, np.ndarray]:
        X, y = validate_data(self, X, y, dtype=_ACCEPTED_DTYPES, reset=reset, y_numeric=False,
                             accept_sparse=_SPARSE_FORMATS)
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

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # scipy CSR / CSC, never densified
        return tags

    def _previous_fit(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """``(coef_, intercept_, classes_)`` of the last fit, or None (for ``warm_start``)."""
        if not all(hasattr(self, a) for a in ("coef_", "intercept_", "classes_")):
            return None
        return (np.asarray(self.coef_, dtype=np.float64), np.asarray(self.intercept_, dtype=np.float64),
                self.classes_)

    def _set_classes(self, y: Any) -> np.ndarray:
        classes, codes = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"the data has 1 class ({classes[0]!r}): needs samples of at least 2 classes"
            )
        self.classes_ = classes
        return codes


def check_class_weight(class_weight: object) -> None:
    """Raise ValueError naming the class whose weight in a ``class_weight`` dict is not a finite
    number >= 0 (NaN, inf and negative weights used to reach the solver: an eigenvalue error,
    or a silent fit that rewards the class's mistakes)."""
    if not isinstance(class_weight, dict):
        return
    for label, weight in class_weight.items():
        if isinstance(weight, bool | np.bool_) or not isinstance(weight, Real) or not math.isfinite(weight) \
                or weight < 0:
            raise ValueError(f"class_weight: the weight of class {label!r} must be a finite number >= 0, "
                             f"found {weight!r}")


def _convergence_advice(message: str, tol: float, max_iter: int, dtype: str) -> str:
    """What a user can do about a fit that stopped for ``message`` (a solver's stop message)."""
    if ROUNDING in message:
        return (f"tol={tol} is below what {dtype} resolves here: use "
                + ("dtype='float64' or " if dtype != "float64" else "") + "a larger tol")
    if message == "max_iter reached":
        return f"raise max_iter (now {max_iter}) or tol (now {tol})"
    if dtype != "float64":
        # measured: scikit-learn's check_class_weight_classifiers (class weights 1000 against
        # 1e-4) stalls in float32 at estimated gaps of 1e-2 to 3 and converges in float64
        return ("float32 may not resolve this problem (sample or class weights, or columns, of very "
                "different sizes): use dtype='float64'")
    return "the solver could not go on from here; please report it with the data if you can"


class LogisticRegression(_LinearClassifierMixin, BaseEstimator):
    """L2-penalised logistic regression with converged, preconditioned solvers.

    Minimises (scikit-learn's convention)::

        sum_i s_i * c_{y_i} * logloss(y_i, x_i @ W + b) + 0.5 / C * ||W||^2

    over the preprocessed features ``x_i``, with sample weights ``s_i`` and class weights
    ``c_k`` (1 by default); the intercept ``b`` is not penalised. Two classes
    give the binary (sigmoid) model; more give the softmax model (``multiclass="multinomial"``)
    or one binary model per class (``"ovr"``).

    Parameters
    ----------
    C : float
        Inverse regularisation strength (larger = weaker penalty), any real number > 0 (numpy
        scalars included); ``inf`` means no penalty.
    penalty : {"l2", "l1", "elasticnet", None}
        The penalty on ``W``, divided by ``C`` as in scikit-learn: ``0.5 ||W||^2``,
        ``||W||_1``, ``l1_ratio ||W||_1 + 0.5 (1 - l1_ratio) ||W||^2``; ``None`` fits without
        penalty (``C`` is ignored). L1 and elastic-net are fitted by orthant-wise L-BFGS
        (OWL-QN) with the same preconditioner and stopping rule, and give exact zeros.
    l1_ratio : float or None
        The elastic-net mixing, 0 (L2) to 1 (L1); used only with ``penalty="elasticnet"``.
    fit_intercept : bool
        Whether to fit an unpenalised intercept.
    multiclass : {"multinomial", "ovr"}
        Softmax over all classes, or one-vs-rest binary models.
    solver : {"lbfgs", "newton-cg"}
        Preconditioned L-BFGS (default, fastest on MNIST; OWL-QN for L1 and elastic-net) or
        Newton-CG (L2 or none only).
    tol : float
        Relative accuracy of the coefficients: the fit stops when the estimated distance to the
        optimum, in the curvature norm ``||v||_H = sqrt(v^T H v)``, is at most ``tol`` times the
        solution's size in that norm. Both a quadratic-model estimate (the Newton decrement) and
        a scaled-gradient estimate ``sqrt(g^T P^-1 g)`` must pass, so the gradient is small too,
        and the objective is within about ``tol**2 / 2`` (relative) of its optimum. Measured against exact Hessians for
        tol from 1e-5 to 1e-3 (at 1e-2 the estimates are rough, up to 1.2x). In other
        norms the coefficients' relative error can be larger by up to the square root of the
        Hessian's condition number. The default 6e-4 leaves the objective within 1e-5 (relative)
        of the optimum on full MNIST (``benchmarks/bench_fit.py``). float32 resolves ``tol``
        down to about 2e-4 on MNIST; smaller values need ``dtype="float64"`` (the fit says so).
    max_iter : int
        Iteration limit (a ``ConvergenceWarning`` says when it is reached).
    dtype : {"float32", "float64"}
        Working precision of the data and solver.
    device : str
        "cpu", or a torch device such as "cuda" (needs the ``gpu`` extra).
    backend : {"auto", "numpy", "torch"}
        "auto" uses numpy on "cpu" and torch elsewhere; "torch" on "cpu" runs the torch path.
    scaling : {"auto", "pixels", "standard", None}
        Preprocessing learnt in ``fit`` and applied in ``predict`` (see the module doc):
        "auto" divides uint8 images by 255 and leaves other input as it is.
    class_weight : dict, "balanced" or None
        Weight of each class in the loss, multiplied into ``sample_weight``; "balanced" uses
        ``n_samples / (n_classes * weighted count of the class)``, as scikit-learn does.
    warm_start : bool
        Start from the previous fit's coefficients when the classes and features match.
    random_state : int or None
        Unused by the deterministic solvers; kept for API symmetry with the SGD model.
    verbose : int
        Print one line per iteration when > 0.
    callback : callable or None
        Called with a dict (iter, objective, grad_norm, est_gap, time) after each iteration.

    Attributes
    ----------
    classes_, coef_, intercept_, n_iter_, n_features_in_
        As in scikit-learn; ``coef_`` is (1, d) for two classes, else (n_classes, d), in the
        working ``dtype``. Without penalty the softmax coefficients are centred
        (``coef_.sum(axis=0) == 0``), as scikit-learn's are.
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
        l1_ratio: float | None = None,
        fit_intercept: bool = True,
        multiclass: str = "multinomial",
        solver: str = "lbfgs",
        tol: float = 6e-4,
        max_iter: int = 1000,
        dtype: str = "float32",
        device: str = "cpu",
        backend: str = "auto",
        scaling: str | None = "auto",
        class_weight: dict[Any, float] | str | None = None,
        warm_start: bool = False,
        random_state: int | None = None,
        verbose: int = 0,
        callback: Callable[[dict[str, Any]], object] | None = None,
    ) -> None:
        self.C = C
        self.penalty = penalty
        self.l1_ratio = l1_ratio
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
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        self.callback = callback

    # every parameter's valid values, checked by scikit-learn's machinery in one place
    _parameter_constraints: dict[str, list[Any]] = {  # noqa: RUF012 (scikit-learn's convention)
        "C": [Interval(Real, 0, None, closed="right")],
        "penalty": [StrOptions({"l2", "l1", "elasticnet"}), None],
        "l1_ratio": [Interval(Real, 0, 1, closed="both"), None],
        "fit_intercept": ["boolean"],
        "multiclass": [StrOptions({"multinomial", "ovr"})],
        "solver": [StrOptions(set(SOLVERS))],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "dtype": [StrOptions(set(DTYPES))],
        "device": [str],
        "backend": [StrOptions(set(BACKENDS))],
        "scaling": [StrOptions({s for s in SCALINGS if s is not None}), None],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callback": [callable, None],
    }

    def _check_params(self) -> None:
        self._validate_params()
        if isinstance(self.C, bool | np.bool_):
            raise ValueError(f"C must be a real number > 0, not a bool ({self.C!r})")
        if self.penalty == "elasticnet" and self.l1_ratio is None:
            raise ValueError("penalty='elasticnet' needs l1_ratio, a number from 0 (L2) to 1 (L1)")
        if self.penalty in ("l1", "elasticnet") and self.solver != "lbfgs":
            raise ValueError(f"penalty={self.penalty!r} is fitted by solver='lbfgs' (OWL-QN), "
                             f"not {self.solver!r}")
        check_class_weight(self.class_weight)

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Self:
        """Fit the model to ``X`` (n, d; dense, scipy sparse or Dask) and labels ``y`` (n,).

        A Dask array ``X`` (chunked along rows; ``y`` and ``sample_weight`` numpy or Dask) is
        fitted where its chunks are: the loss is computed chunk by chunk on the Dask workers and
        only sums the size of the coefficients reach this process (see ``linear/_dask.py``).
        Same objective, stopping rule and fitted attributes as in memory.

        Parameters
        ----------
        X : array-like, scipy sparse matrix or Dask array of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights, multiplied by the class weights.

        Returns
        -------
        self
        """
        self._check_params()
        previous = self._previous_fit() if self.warm_start else None
        penalty = self._penalty()
        be = select_backend(X, y, self.backend, self.device, self.dtype)
        # a chunked backend builds the losses where the chunks are; in memory the estimator does
        problem = be.fit_problem(self, X, y, sample_weight, penalty) if be.chunked \
            else self._memory_problem(be, X, y, sample_weight)
        t0 = time.perf_counter()
        starts = self._warm_starts(be, problem, previous)
        results = self._solve(be, problem, starts, smooth=penalty.smooth)
        self.fit_time_ = time.perf_counter() - t0
        self._set_solution(be, problem, results, centred_coef=self.penalty is None or math.isinf(float(self.C))
                           or penalty.smooth)
        if not self.converged_:
            worst = max((r for r in results if not r.converged), key=lambda r: r.grad_norm)
            warnings.warn(
                f"{type(self).__name__} ({self.solver}) did not converge: stopped after "
                f"{worst.n_iter} iterations with gradient norm {worst.grad_norm:.3g} "
                f"({worst.message}); " + _convergence_advice(worst.message, self.tol, self.max_iter, self.dtype),
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _warm_starts(self, be: Backend, problem: FitProblem,
                     previous: tuple[np.ndarray, np.ndarray, np.ndarray] | None) -> list[Any] | None:
        """The solver's starting points from the previous fit (``warm_start``), or None (zeros)
        when there is none or its classes or features differ."""
        if previous is None or not np.array_equal(previous[2], self.classes_) \
                or previous[0].shape[1] != self.n_features_in_:
            return None
        W_prev = previous[0][:, problem.active]
        b_prev = previous[1] if problem.centre is None else previous[1] + W_prev @ problem.centre
        theta = np.vstack([W_prev.T, b_prev[None]]) if self.fit_intercept else W_prev.T
        cols = [theta] if len(problem.losses) == 1 else [theta[:, [k]] for k in range(len(problem.losses))]
        return [be.asarray(c) for c in cols]

    def _solve(self, be: Backend, problem: FitProblem, starts: list[Any] | None, *, smooth: bool) -> list[SolverResult]:
        """Run the solver on each loss (one, or one per class for one-vs-rest)."""
        losses = problem.losses
        solve = SOLVERS[self.solver] if smooth else owlqn
        cold = starts is None
        starts = [loss.initial() for loss in losses] if starts is None else starts
        results: list[SolverResult] = []
        with be.session():
            shared = None
            if len(losses) > 1 and cold:
                # one-vs-rest: every fit starts at 0, where each digit's curvature weight is 1/4 of
                # its sample weight whatever its class, so the first preconditioner is the same
                # for all (full MNIST: one Gram matrix and eigendecomposition instead of ten)
                shared = Preconditioner(losses[0], losses[0].value_grad(starts[0])[2], be.eigh)
            for k, (loss, start) in enumerate(zip(losses, starts, strict=True)):
                cb = self.callback
                if cb is not None and len(losses) > 1:
                    cb = _tag_callback(cb, k)
                results.append(solve(loss, start, eigh=be.eigh, tol=self.tol, max_iter=self.max_iter,
                                     verbose=self.verbose, callback=cb, start_preconditioner=shared))
        return results

    def _set_solution(self, be: Backend, problem: FitProblem, results: list[SolverResult], *,
                      centred_coef: bool) -> None:
        """The fitted attributes from the solver's results: coefficients over all the features
        (0 for those left out), intercepts of the uncentred columns, counts, objective, history."""
        active, losses, centre, unit = problem
        theta = np.concatenate([be.to_numpy(r.theta).astype(np.float64) for r in results], axis=1)
        n_active = len(active)
        coef = np.zeros((theta.shape[1], self.n_features_in_))
        coef[:, active] = theta[:n_active].T
        intercept = theta[n_active].copy() if self.fit_intercept else np.zeros(theta.shape[1])
        if centre is not None:  # the solver's intercept is that of the centred columns
            intercept -= coef[:, active] @ centre
        if len(losses) == 1 and len(self.classes_) > 2:
            # softmax is unchanged by adding one number to every class's intercept, or one
            # vector to every class's coefficients: the intercepts are taken centred (sum 0), as
            # scikit-learn's; so are the coefficients where that does not raise the penalty
            # (none or L2, whose optimum is centred: this removes the solver's rounding there)
            intercept -= intercept.mean()
            if centred_coef:
                coef -= coef.mean(axis=0, keepdims=True)
        self.coef_ = coef.astype(self.dtype)
        self.intercept_ = intercept.astype(self.dtype)
        self.n_iter_ = np.array([r.n_iter for r in results], dtype=np.int32)
        self.n_evals_ = int(sum(r.n_evals + r.n_hessp for r in results))
        self.objective_ = unit * float(sum(r.objective for r in results))
        self.converged_ = all(r.converged for r in results)
        if unit != 1.0:  # the history in the objective's own units too
            for r in results:
                for row in r.history:
                    row["objective"] *= unit
        self.history_ = results[0].history if len(results) == 1 else [r.history for r in results]

    def _penalty(self, unit: float = 1.0) -> Penalty:
        """The penalty object for ``C * unit`` (see :meth:`_memory_problem`)."""
        # a penalty below 1e-30 of the (unit-scaled) data term is below any dtype's rounding: none
        no_penalty = self.penalty is None or not float(self.C) * unit < 1e30
        return make_penalty(float(self.C) * unit, None if no_penalty else self.penalty, self.l1_ratio)

    def _memory_problem(self, be: Backend, X: Any, y: Any, sample_weight: Any) -> FitProblem:
        """The losses for in-memory ``X`` (numpy, scipy sparse) on backend ``be``.

        ``centre`` is None, or the active columns' means that the losses' data has taken away;
        ``unit`` is the power of 2 nearest the largest sample weight (class weights included): the
        losses see ``sample_weight / unit`` and ``C * unit``, the same optimum (the objective
        divided by ``unit``, exactly), so that weights near 1e300 or 2**62 neither overflow nor
        leave the penalty below rounding."""
        X, y, sample_weight = self._validate_fit_data(X, y, sample_weight)
        codes = self._set_classes(y)
        if self.class_weight is not None:
            weights = compute_class_weight(self.class_weight, classes=self.classes_, y=y,
                                           sample_weight=sample_weight)
            sample_weight = sample_weight * weights[codes]
            if not np.any(sample_weight > 0):
                raise ValueError("class_weight: with these class weights every sample weighs 0; at least one "
                                 "class present in y needs a weight > 0")
        unit = math.ldexp(1.0, min(round(math.log2(float(sample_weight.max()))), 1023))  # float64's largest: 2**1023
        sample_weight = sample_weight / unit
        smallest = float(sample_weight[sample_weight > 0].min())
        if smallest < 1e6 * float(np.finfo(self.dtype).tiny):
            raise ValueError(f"sample_weight (class weights included): the weights span {1 / smallest:.3g} (largest "
                             f"over smallest positive), more than {self.dtype} represents; use dtype='float64' or "
                             "bring the weights closer")
        penalty = self._penalty(unit)
        self.offset_, self.scale_ = fit_scaling(X, self.scaling)
        # features that preprocess to 0 in every training row (MNIST's corner pixels) get
        # coefficient 0 at the optimum: leave them out of the solve, which makes every pass over
        # X cheaper
        if sp.issparse(X):
            active = np.flatnonzero(np.diff(sp.csc_array(X).indptr) > 0)
            data = be.sparse_matrix(self._preprocess(X, be.dtype_name, active))  # refused where not accepts_sparse
        else:
            varies = np.any(X != self.offset_, axis=0) if np.any(self.offset_) else X.any(axis=0)
            active = np.flatnonzero(varies)
            data, order = be.dense_matrix(X, self.offset_, self.scale_, active, codes, self._preprocess)
            if order is not None:  # the backend put the rows in another order: the labels follow
                codes, sample_weight = codes[order], sample_weight[order]
        sw = be.asarray(sample_weight[:, None])
        centre = None
        if not penalty.smooth and self.fit_intercept:
            # L1: the solver sees the columns centred (CentredMatrix), the same model with another
            # intercept, so that OWL-QN's orthant steps do not fight the intercept
            centre = np.asarray(be.to_numpy(data.rmatmul(sw)), dtype=np.float64)[:, 0] / float(sample_weight.sum())
            data = CentredMatrix(data, be.asarray(centre.astype(be.dtype_name)))
        n_classes = len(self.classes_)
        if n_classes == 2 or self.multiclass == "ovr":
            targets = [codes] if n_classes == 2 else [(codes == k) for k in range(n_classes)]
            losses: list[Loss] = [BinaryLogLoss(data, be.asarray(t.astype(np.float64)), sw, penalty, self.fit_intercept)
                      for t in targets]
        else:
            losses = [SoftmaxLogLoss(data, be.class_codes(codes), sw, penalty, self.fit_intercept, n_classes)]
        return FitProblem(active, losses, centre, unit)


def _tag_callback(cb: Callable[[dict[str, Any]], object], k: int) -> Callable[[dict[str, Any]], object]:
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
    batch_size : int or "auto"
        Rows per update; "auto" is ``min(256, max(1, n // 20))`` for ``n`` rows, so small data
        still gets about 20 updates per epoch. Fewer than 10 updates per epoch are warned about.
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
        batch_size: int | str = "auto",
        max_iter: int = 5,
        eta0: float = 0.5,
        power_t: float = 0.5,
        scaling: str | None = "auto",
        dtype: str = "float32",
        device: str = "cpu",
        backend: str = "auto",
        random_state: int | None = None,
        verbose: int = 0,
        callback: Callable[[dict[str, Any]], object] | None = None,
    ) -> None:
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

    _parameter_constraints: dict[str, list[Any]] = {  # noqa: RUF012 (scikit-learn's convention)
        "alpha": [Interval(Real, 0, None, closed="left")],
        "fit_intercept": ["boolean"],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "eta0": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "scaling": [StrOptions({s for s in SCALINGS if s is not None}), None],
        "dtype": [StrOptions(set(DTYPES))],
        "device": [str],
        "backend": [StrOptions(set(BACKENDS))],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callback": [callable, None],
    }

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Self:
        """Fit from scratch with ``max_iter`` epochs of mini-batch SGD.

        Parameters
        ----------
        X : array-like, scipy sparse matrix or Dask array of shape (n_samples, n_features)
            The training samples (a Dask array is fitted chunk after chunk where its chunks are).
        y : array-like of shape (n_samples,)
            Their labels.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights; None weighs the samples equally.

        Returns
        -------
        self
        """
        for attr in ("classes_", "theta_"):
            self.__dict__.pop(attr, None)
        return self._fit(X, y, None, sample_weight, self.max_iter, reset=True)

    def partial_fit(self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None) -> Self:
        """One epoch over ``X, y``; the first call needs ``classes`` (all labels there will be).

        Parameters
        ----------
        X : array-like, scipy sparse matrix or Dask array of shape (n_samples, n_features)
            The samples of this epoch.
        y : array-like of shape (n_samples,)
            Their labels, all among ``classes``.
        classes : array-like or None, default None
            Every label there will be; needed on the first call, ignored later.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights; None weighs the samples equally.

        Returns
        -------
        self
        """
        first = not hasattr(self, "theta_")
        if first and classes is None:
            raise ValueError("the first call to partial_fit needs classes=[...] (every label)")
        return self._fit(X, y, classes, sample_weight, 1, reset=first)

    def _batch_size(self, n: int) -> int:
        batch_size = min(256, max(1, n // 20)) if self.batch_size == "auto" else int(self.batch_size)
        if math.ceil(n / batch_size) < 10:
            warnings.warn(f"{n} rows in batches of {batch_size} give only {math.ceil(n / batch_size)} updates "
                          f"per epoch: use a smaller batch_size (or 'auto') or more epochs (max_iter)",
                          UserWarning, stacklevel=4)
        return batch_size

    def _start(self, X: Any, y: Any, classes: Any, reset: bool) -> None:
        """On a first fit: classes (given, or those of ``y``), scaling, step count and generator."""
        if not reset:
            return
        if classes is not None:
            self.classes_ = np.unique(np.asarray(classes))
            if len(self.classes_) < 2:
                raise ValueError("classes: needs at least 2 classes")
        else:
            self._set_classes(y)
        self.offset_, self.scale_ = fit_scaling(X, self.scaling)
        self.t_ = 0
        self._rng = np.random.default_rng(self.random_state)

    def _check_labels(self, labels: Any) -> None:
        unknown = np.setdiff1d(labels, self.classes_)
        if unknown.size:
            raise ValueError(f"y has labels {unknown.tolist()} not in classes_ {self.classes_.tolist()}")

    def _set_fitted(self, avg: np.ndarray, last: np.ndarray, d: int, epochs: int, reset: bool) -> None:
        self.theta_ = np.asarray(last, dtype=np.float64)
        avg = np.asarray(avg, dtype=np.float64)
        self.coef_ = np.ascontiguousarray(avg[:d].T).astype(self.dtype)
        self.intercept_ = (avg[d] if self.fit_intercept else np.zeros(avg.shape[1])).astype(self.dtype)
        self.n_iter_ = epochs if reset else getattr(self, "n_iter_", 0) + epochs

    def _fit(self, X: Any, y: Any, classes: Any, sample_weight: Any, epochs: int, reset: bool) -> Self:
        self._validate_params()
        if epochs < 1:
            raise ValueError(f"max_iter must be >= 1, got {epochs}")
        be = select_backend(X, y, self.backend, self.device, self.dtype)
        if be.chunked:  # the epochs run where the chunks are
            be.fit_sgd(self, X, y, classes, sample_weight, epochs, reset)
            return self
        X, y, sample_weight = self._validate_fit_data(X, y, sample_weight, reset=reset)
        batch_size = self._batch_size(X.shape[0])
        self._start(X, y, classes, reset)
        self._check_labels(np.unique(y))
        codes = np.searchsorted(self.classes_, y)
        K = len(self.classes_)
        if sp.issparse(X):
            data = be.sparse_matrix(self._preprocess(X, be.dtype_name))  # refused where not accepts_sparse
        else:
            data = be.dense_rows(self._preprocess(X, be.dtype_name))
        sw = be.asarray(sample_weight[:, None])
        yb = be.asarray(codes.astype(np.float64)) if K == 2 else be.class_codes(codes)
        no_penalty = make_penalty(math.inf)

        def make_loss(rows: DesignMatrix, yb_: Any, sb: Any) -> Loss:
            if K == 2:
                return BinaryLogLoss(rows, yb_, sb, no_penalty, self.fit_intercept)
            return SoftmaxLogLoss(rows, yb_, sb, no_penalty, self.fit_intercept, K)

        p = X.shape[1] + int(self.fit_intercept)
        theta = be.asarray(np.zeros((p, 1 if K == 2 else K))) if reset else be.asarray(self.theta_)
        t0 = time.perf_counter()
        with be.session():  # BLAS single-threaded, as for the other solvers (issue 29: 4.48 against 1.46 s)
            avg, last, self.t_ = sgd(
                make_loss, data, yb, sw, theta, alpha=self.alpha, batch_size=batch_size,
                epochs=epochs, eta0=self.eta0, power_t=self.power_t, t_start=self.t_, rng=self._rng,
                verbose=self.verbose, callback=self.callback,
            )
        self.fit_time_ = time.perf_counter() - t0
        self._set_fitted(be.to_numpy(avg), be.to_numpy(last), X.shape[1], epochs, reset)
        return self
