"""Differential tests against scikit-learn, and an independent optimality (KKT) certificate.

What is compared
----------------
``mnist_logreg.LogisticRegression(dtype="float64", scaling=None, tol=1e-10, max_iter=1000)`` against
scikit-learn 1.9.1's ``LogisticRegression`` on small random problems drawn by hypothesis (20-80 rows,
2-8 features, 2-5 classes; dense or CSR; duplicated, collinear, all-zero or constant columns; columns
of unit or mixed scales; sample weights with zero rows; class weights as a dict or "balanced"; C over
8 decades; penalties l2, l1, elasticnet and None; with and without intercept; solvers lbfgs and
newton-cg, newton-cg with l2 and None only). Reference fits: scikit-learn's lbfgs / newton-cg at
``tol=1e-12`` (10,000 iterations at most) for l2 and None, saga at ``tol=1e-12`` (3,000 epochs at
most) for l1 and elasticnet. scikit-learn 1.9.1 spells the penalty with ``l1_ratio`` (0 = l2, 1 = l1,
between = elasticnet) and ``C=np.inf`` for none; its ``penalty`` parameter is deprecated (1.8) and not
used here, nor ``multi_class`` (removed: 3+ classes are always softmax). A reference that stops short
only makes the objective comparison easier for us; the KKT certificate does not depend on it.

Both fits are scored by ONE objective written here in numpy, float64, on the raw inputs
(``scaling=None``), scikit-learn's objective divided by C::

    f(W, b) = sum_i s_i c_{y_i} logloss_i + a ||W||_1 + 0.5 q ||W||_F^2

with sample weights ``s``, class weights ``c`` ("balanced": ``sum(s) / (K * weighted count of
the class)``), and ``(a, q) = (0, 1/C)`` for l2, ``(1/C, 0)`` for l1, ``(r/C, (1-r)/C)`` for
elasticnet, ``(0, 0)`` for none. The intercept is never penalised.

Tolerances and why
------------------
* Objective: ours <= scikit-learn's * (1 + 1e-8) + 1e-9 * sum(s c). Both solve the same convex
  problem, so a converged fit cannot be worse than the reference by more than rounding; the
  relative 1e-8 leaves room for float64 rounding in the loss sum and for the reference's own
  residual, the absolute slack for objectives near 0 (nearly separable data, weak penalty).
  An unpenalised problem whose infimum is not attained (separable; decided by a linear program,
  :func:`minimiser_exists`) has no optimum: it is only required to return finite coefficients.
* Predictions (L2, finite C: strictly convex, unique W; the softmax intercept's free shift does
  not change predictions) must agree with the reference's, when that converged, on every row whose
  reference score gap (top two classes, or |z| for two classes) exceeds 1e-6 * (1 + max |score|):
  rows closer to the boundary are ties.
* KKT certificate, independent of scikit-learn: see :func:`kkt_violation`. The bound is
  ``violation <= 1e-7 * sum_i s_i c_{y_i} max(||x_i||_inf, [fit_intercept])``, i.e. 1e-7 of the
  largest value any coordinate of the log-loss gradient can take on this data. Measured on 800
  problems: our fits that converged (or stopped at float64's rounding limit) reach at most 1.8e-8
  of that scale (median 2e-12); scikit-learn's lbfgs at tol=1e-12, which stops on its relative
  decrease of the objective, reaches up to 1.3e-7.
* Every fit must return (no exception) with finite coefficients.

The hypothesis tests are derandomised (fixed seeds, no example database) and do not shrink (each
shrinking step refits; the runtime stays bounded), so a failure is reproduced by rerunning;
hypothesis prints the falsifying ``Problem(...)``, and ``check_problem(Problem(...))`` reruns it
alone (see its docstring). ``PINNED`` holds small reproductions of the failures found so far. The
deterministic regression tests at the end pin failures reported in the issue tracker.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog
from scipy.special import expit, logsumexp, softmax
from sklearn.datasets import load_iris, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression as SkLR
from sklearn.preprocessing import scale

from mnist_logreg import LogisticRegression

OBJ_RTOL = 1e-8  # ours <= reference * (1 + OBJ_RTOL) + OBJ_ATOL * sum of weights
OBJ_ATOL = 1e-9
KKT_RTOL = 1e-7  # violation <= KKT_RTOL * gradient scale (see kkt_violation)
KKT_LOOSE = 1e-4  # the same for a fit that reports it did not converge
TIE_RTOL = 1e-6  # score gaps below TIE_RTOL * (1 + max |score|) are ties
OURS_TOL, OURS_MAX_ITER = 1e-10, 1000
SK_TOL, SK_MAX_ITER, SAGA_MAX_ITER = 1e-12, 10000, 3000


# -- the independent objective, gradient and certificate (numpy, float64) ----------------------


def _dense(X) -> np.ndarray:
    return np.asarray(X.toarray() if sp.issparse(X) else X, dtype=np.float64)


def effective_weights(y, sample_weight=None, class_weight=None):
    """``(classes, codes, w)``: the sorted labels, each row's class index and ``w_i = s_i c_{y_i}``."""
    classes, codes = np.unique(y, return_inverse=True)
    s = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if class_weight == "balanced":
        counts = np.bincount(codes, weights=s, minlength=len(classes))
        c = s.sum() / (len(classes) * counts)
    elif isinstance(class_weight, dict):
        c = np.array([float(class_weight.get(k.item(), 1.0)) for k in classes])
    else:
        c = np.ones(len(classes))
    return classes, codes, s * c[codes]


def penalty_strengths(C, penalty, l1_ratio=None) -> tuple[float, float]:
    """``(a, q)`` with penalty ``a ||W||_1 + 0.5 q ||W||^2`` (scikit-learn's divided by C)."""
    C = float(C)
    if penalty is None or math.isinf(C):
        return 0.0, 0.0
    if penalty == "l2":
        return 0.0, 1.0 / C
    if penalty == "l1":
        return 1.0 / C, 0.0
    return l1_ratio / C, (1.0 - l1_ratio) / C


def objective(X, codes, w, coef, intercept, a, q) -> float:
    """``sum_i w_i logloss_i + a ||W||_1 + 0.5 q ||W||^2`` in float64; ``coef`` (1, d) is the sigmoid
    model of ``codes == 1``, (K, d) the softmax model."""
    X = _dense(X)
    coef, intercept = np.asarray(coef, np.float64), np.asarray(intercept, np.float64)
    Z = X @ coef.T + intercept
    if coef.shape[0] == 1:
        z = Z[:, 0]
        loss = np.logaddexp(0.0, z) - codes * z
    else:
        loss = logsumexp(Z, axis=1) - Z[np.arange(len(codes)), codes]
    return float(w @ loss) + a * float(np.abs(coef).sum()) + 0.5 * q * float(np.sum(coef**2))


def smooth_gradient(X, codes, w, coef, intercept, q, fit_intercept):
    """Gradient of the smooth part (log loss + 0.5 q ||W||^2) at ``(coef, intercept)``: ``(gW, gb)``."""
    X = _dense(X)
    coef, intercept = np.asarray(coef, np.float64), np.asarray(intercept, np.float64)
    Z = X @ coef.T + intercept
    if coef.shape[0] == 1:
        R = (w * (expit(Z[:, 0]) - codes))[:, None]
    else:
        Y = np.zeros_like(Z)
        Y[np.arange(len(codes)), codes] = 1.0
        R = w[:, None] * (softmax(Z, axis=1) - Y)
    gW = R.T @ X + q * coef
    gb = R.sum(axis=0) if fit_intercept else np.zeros(coef.shape[0])
    return gW, gb


def gradient_scale(X, w, fit_intercept) -> float:
    """``sum_i w_i max(||x_i||_inf, [fit_intercept])``: a bound on every coordinate of the log loss's
    gradient (each is ``sum_i w_i (p_ik - y_ik) x_ij`` with ``|p_ik - y_ik| <= 1``)."""
    X = _dense(X)
    row = np.abs(X).max(axis=1) if X.shape[1] else np.zeros(len(X))
    if fit_intercept:
        row = np.maximum(row, 1.0)
    return float(w @ row)


def kkt_violation(X, codes, w, coef, intercept, a, q, fit_intercept) -> float:
    """The largest violation of the first-order optimality conditions, as an absolute number.

    With ``g`` the gradient of the smooth part (log loss + L2 part) at the fitted ``coef_`` and
    ``intercept_`` (raw inputs: ``scaling=None``):

    * smooth penalty (l2, none): ``|g_kj|`` for every coefficient;
    * l1 / elastic-net (``a > 0``): ``|g_kj + a sign(W_kj)|`` where ``W_kj != 0``, and
      ``max(|g_kj| - a, 0)`` where ``W_kj == 0`` (the subgradient condition ``|g_kj| <= a``);
    * the unpenalised intercept: ``|g_b|``.

    The certificate passes when this is ``<= KKT_RTOL * gradient_scale(X, w, fit_intercept)``
    (``KKT_RTOL = 1e-7``). At the optimum every term is 0; float64 rounding of the gradient is
    about 1e-16 of the scale, and a fit at ``tol=1e-10`` (relative distance to the optimum in the
    curvature norm) leaves a gradient far below 1e-7 of it on these small, bounded problems. For
    the softmax model the loss is invariant to adding one vector to every class; that does not
    change the gradient condition, which holds at every optimum.
    """
    gW, gb = smooth_gradient(X, codes, w, coef, intercept, q, fit_intercept)
    coef = np.asarray(coef, np.float64)
    if a > 0:
        viol = np.where(coef != 0, np.abs(gW + a * np.sign(coef)), np.maximum(np.abs(gW) - a, 0.0))
    else:
        viol = np.abs(gW)
    worst = float(viol.max()) if viol.size else 0.0
    if fit_intercept:
        worst = max(worst, float(np.abs(gb).max()))
    return worst


def minimiser_exists(X, codes, w, n_classes, fit_intercept) -> bool:
    """Whether the unpenalised loss attains its infimum, by a linear program.

    The loss decreases without end along a direction ``V`` iff every margin it changes,
    ``m_ik = x_i (V_{y_i} - V_k)`` over rows of positive weight (``(2 y_i - 1) x_i v`` for two
    classes), is >= 0 and one is > 0. Maximising ``sum m`` subject to ``0 <= m <= 1`` gives 0 when
    no such direction exists (then the minimum is attained) and >= 1 otherwise.
    """
    X = _dense(X)[w > 0]
    codes = codes[w > 0]
    if fit_intercept:
        X = np.hstack([X, np.ones((len(X), 1))])
    n, p = X.shape
    if n_classes == 2:
        A = (2.0 * codes - 1.0)[:, None] * X
    else:
        A = np.zeros((n * (n_classes - 1), n_classes * p))
        r = 0
        for i in range(n):
            for k in range(n_classes):
                if k != codes[i]:
                    A[r, codes[i] * p : (codes[i] + 1) * p] += X[i]
                    A[r, k * p : (k + 1) * p] -= X[i]
                    r += 1
    res = linprog(-A.sum(axis=0), A_ub=np.vstack([A, -A]), b_ub=np.r_[np.ones(len(A)), np.zeros(len(A))],
                  bounds=(None, None), method="highs")
    assert res.status == 0, res.message
    return -res.fun < 0.5


# -- random problems -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Problem:
    """One random problem and the estimator settings; ``make_data`` builds its arrays from ``seed``."""

    seed: int
    n: int
    d: int
    n_classes: int
    spread: float  # distance of the class means (large: nearly separable)
    columns: str  # the last column: "plain", "duplicate" (of x_0), "collinear" (2 x_0 - 0.5 x_1; 1.5 x_0 for
    # d = 2), "zero" or "constant" (1.5, collinear with the intercept)
    mixed_scales: bool  # columns scaled by 10**U(-1, 1)
    density: float  # share of entries kept nonzero
    sparse: bool
    weights: str  # "none", "random", "zeros" (a quarter of rows weigh 0) or "random_zeros"
    class_weight: str | None  # None, "balanced" or "dict" (random weights for some classes)
    penalty: str | None
    l1_ratio: float | None
    C: float
    fit_intercept: bool
    solver: str


def make_data(p: Problem):
    """``(X, y, sample_weight, class_weight)``; labels are ``2 k - 1`` for class ``k`` (-1, 1, 3, ...)."""
    rng = np.random.default_rng(p.seed)
    K, n, d = p.n_classes, p.n, p.d
    codes = np.concatenate([np.arange(K), np.arange(K), rng.integers(K, size=n - 2 * K)])
    rng.shuffle(codes)
    centres = rng.normal(scale=p.spread, size=(K, d))
    X = centres[codes] + rng.normal(size=(n, d))
    if p.mixed_scales:
        X *= 10.0 ** rng.uniform(-1, 1, size=d)
    if p.density < 1:
        X *= rng.random((n, d)) < p.density
    if p.columns == "duplicate":
        X[:, -1] = X[:, 0]
    elif p.columns == "collinear":
        X[:, -1] = 2.0 * X[:, 0] - 0.5 * X[:, 1 % (d - 1)]
    elif p.columns == "zero":
        X[:, -1] = 0.0
    elif p.columns == "constant":
        X[:, -1] = 1.5
    y = 2 * codes - 1
    sw = None
    if p.weights in ("random", "random_zeros"):
        sw = rng.uniform(0.2, 3.0, size=n)
    if p.weights in ("zeros", "random_zeros"):
        sw = np.ones(n) if sw is None else sw
        sw[rng.random(n) < 0.25] = 0.0
        for k in range(K):  # every class keeps a row of positive weight
            first = np.flatnonzero(codes == k)[0]
            sw[first] = max(sw[first], 1.0)
    cw = p.class_weight
    if cw == "dict":
        labels = rng.permutation(K)[: rng.integers(1, K + 1)]
        cw = {int(2 * k - 1): float(rng.uniform(0.2, 5.0)) for k in sorted(labels)}
    return (sp.csr_array(X) if p.sparse else X), y, sw, cw


@st.composite
def problems(draw) -> Problem:
    """Problems of every shape the module doc lists; each class keeps a row of positive weight."""
    penalty = draw(st.sampled_from(["l2", "l1", "elasticnet", None]))
    solver = draw(st.sampled_from(["lbfgs", "newton-cg"])) if penalty in ("l2", None) else "lbfgs"
    d = draw(st.integers(2, 8))
    return Problem(
        seed=draw(st.integers(0, 2**16)),
        n=draw(st.integers(20, 80)),
        d=d,
        n_classes=draw(st.integers(2, 5)),
        spread=draw(st.sampled_from([0.5, 1.5, 4.0])),
        columns=draw(st.sampled_from(["plain", "duplicate", "collinear", "zero", "constant"])),
        mixed_scales=draw(st.booleans()),
        density=draw(st.sampled_from([1.0, 0.6, 0.3])),
        sparse=draw(st.booleans()),
        weights=draw(st.sampled_from(["none", "random", "zeros", "random_zeros"])),
        class_weight=draw(st.sampled_from([None, "balanced", "dict"])),
        penalty=penalty,
        l1_ratio=round(draw(st.floats(0.05, 0.95)), 3) if penalty == "elasticnet" else None,
        C=float(f"{10.0 ** (draw(st.integers(-40, 40)) / 10):.3g}"),
        fit_intercept=draw(st.booleans()),
        solver=solver,
    )


def _fit_ours(p: Problem, X, y, sw, cw, max_iter: int = OURS_MAX_ITER) -> LogisticRegression:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LogisticRegression(C=p.C, penalty=p.penalty, l1_ratio=p.l1_ratio, fit_intercept=p.fit_intercept,
                                   solver=p.solver, tol=OURS_TOL, max_iter=max_iter, dtype="float64",
                                   scaling=None, class_weight=cw).fit(X, y, sample_weight=sw)
    assert np.all(np.isfinite(model.coef_)) and np.all(np.isfinite(model.intercept_)), "non-finite coefficients"
    return model


def _sklearn_params(C, penalty, l1_ratio, solver) -> dict:
    """scikit-learn 1.9.1's spelling: ``l1_ratio`` picks the penalty, ``C=inf`` means none."""
    if penalty is None:
        return {"C": np.inf, "l1_ratio": 0.0, "solver": solver}
    if penalty == "l2":
        return {"C": C, "l1_ratio": 0.0, "solver": solver}
    return {"C": C, "l1_ratio": 1.0 if penalty == "l1" else l1_ratio, "solver": "saga"}


def _fit_sklearn(p: Problem, X, y, sw, cw) -> SkLR:
    params = _sklearn_params(p.C, p.penalty, p.l1_ratio, p.solver)
    max_iter = SAGA_MAX_ITER if params["solver"] == "saga" else SK_MAX_ITER
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the reference's own convergence and line-search warnings
        return SkLR(**params, tol=SK_TOL, max_iter=max_iter, fit_intercept=p.fit_intercept, class_weight=cw,
                    random_state=0).fit(X, y, sample_weight=sw)


def check_problem(p: Problem, *, against_sklearn: bool = True, certificate: bool = True) -> None:
    """Fit ``p`` with ours (must return finite coefficients), then the checks asked for; raises an
    AssertionError listing every failed check. Rerun a printed example with, from the repository root,
    ``.venv/bin/python -c "import sys; sys.path.insert(0, 'tests'); from test_differential import *;
    check_problem(Problem(...))"``."""
    X, y, sw, cw = make_data(p)
    classes, codes, w = effective_weights(y, sw, cw)
    a, q = penalty_strengths(p.C, p.penalty, p.l1_ratio)
    attained = p.penalty is not None or minimiser_exists(X, codes, w, len(classes), p.fit_intercept)
    # separable without penalty: nothing to converge to, so nothing to check but that the fit returns
    ours = _fit_ours(p, X, y, sw, cw, OURS_MAX_ITER if attained else 100)
    if not attained:
        return
    f_ours = objective(X, codes, w, ours.coef_, ours.intercept_, a, q)
    status = (f"ours: objective {f_ours!r}, n_iter {ours.n_iter_}, converged {ours.converged_}, "
              f"max |coef| {np.abs(ours.coef_).max():.3g}")
    failures = []
    if certificate:
        viol = kkt_violation(X, codes, w, ours.coef_, ours.intercept_, a, q, p.fit_intercept)
        # a fit that says it converged is held to the tight bound; one that reports it did not
        # (converged_ False, a ConvergenceWarning) to the loose one: nearly separable problems
        # with a weak penalty (L1, C = 7940) stay 1e-6 short after 1,000 iterations, as
        # scipy's L-BFGS-B on the same problem does after 3,700
        bound = (KKT_RTOL if ours.converged_ else KKT_LOOSE) * gradient_scale(X, w, p.fit_intercept)
        if not viol <= bound:
            failures.append(f"KKT violation {viol:.3g} > bound {bound:.3g} ({viol / bound:.3g} times)")
    if against_sklearn:
        ref = _fit_sklearn(p, X, y, sw, cw)
        f_ref = objective(X, codes, w, ref.coef_, ref.intercept_, a, q)
        status += f"; scikit-learn: objective {f_ref!r}, n_iter {ref.n_iter_}"
        if not f_ours <= f_ref * (1 + OBJ_RTOL) + OBJ_ATOL * w.sum():
            failures.append(f"objective worse than scikit-learn's by {(f_ours - f_ref) / max(f_ref, 1e-300):.3g} "
                            "(relative)")
        if p.penalty == "l2" and np.all(np.asarray(ref.n_iter_) < SK_MAX_ITER):
            S = np.asarray(ref.decision_function(X), dtype=np.float64)
            if S.ndim == 1:
                gap = np.abs(S)
            else:
                top2 = np.sort(S, axis=1)[:, -2:]
                gap = top2[:, 1] - top2[:, 0]
            clear = gap > TIE_RTOL * (1 + np.abs(S).max())
            differ = (ours.predict(X) != ref.predict(X)) & clear
            if np.any(differ):
                failures.append(f"predictions differ from scikit-learn's on rows {np.flatnonzero(differ)}")
    assert not failures, "; ".join(failures) + f" ({status})"


def test_certificate_helpers():
    """The test's own objective, gradient and linear program: the gradient matches central differences
    of the objective, scikit-learn's tightly converged L2 optimum passes the certificate, and the linear
    program tells separable data from overlapping."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = rng.integers(3, size=30)
    y[:3] = [0, 1, 2]
    _, codes, w = effective_weights(y, rng.uniform(0.5, 2, 30), "balanced")
    for K in (2, 3):
        c = np.minimum(codes, K - 1)
        coef, b = rng.normal(size=(1 if K == 2 else K, 3)), rng.normal(size=1 if K == 2 else K)
        gW, gb = smooth_gradient(X, c, w, coef, b, 0.3, True)
        for idx in np.ndindex(coef.shape):
            E = np.zeros_like(coef)
            E[idx] = 1e-6
            fd = (objective(X, c, w, coef + E, b, 0, 0.3) - objective(X, c, w, coef - E, b, 0, 0.3)) / 2e-6
            assert fd == pytest.approx(gW[idx], rel=1e-6, abs=1e-7)
        e = np.zeros_like(b)
        e[0] = 1e-6
        fd = (objective(X, c, w, coef, b + e, 0, 0.3) - objective(X, c, w, coef, b - e, 0, 0.3)) / 2e-6
        assert fd == pytest.approx(gb[0], rel=1e-6, abs=1e-7)
    ref = SkLR(C=2.0, l1_ratio=0.0, tol=1e-14, max_iter=10000).fit(X, y)
    _, codes, w = effective_weights(y)
    viol = kkt_violation(X, codes, w, ref.coef_, ref.intercept_, 0.0, 0.5, True)
    assert viol <= KKT_RTOL * gradient_scale(X, w, True)
    x = np.array([[-2.0], [-1.0], [1.0], [2.0]])
    assert not minimiser_exists(x, np.array([0, 0, 1, 1]), np.ones(4), 2, True)
    assert minimiser_exists(x, np.array([0, 1, 0, 1]), np.ones(4), 2, True)
    assert not minimiser_exists(x, np.array([0, 1, 2, 2]), np.ones(4), 3, True)
    # class 0 at both ends, class 2 in the middle: no linear score separates them
    x6 = np.array([[-2.0], [-1.0], [0.0], [1.0], [2.0], [3.0]])
    assert minimiser_exists(x6, np.array([0, 1, 2, 2, 1, 0]), np.ones(6), 3, True)


# -- the property tests --------------------------------------------------------------------------

# derandomised and without the example database: the same examples on every run; no shrinking, which
# would refit hundreds of times after a failure (the falsifying Problem printed is the first found)
PROPERTY = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                    phases=(Phase.explicit, Phase.generate))


@PROPERTY
@given(problems())
def test_no_worse_than_sklearn(problem):
    """Ours reaches scikit-learn's tight-tolerance objective; L2 predictions agree."""
    check_problem(problem, certificate=False)


@PROPERTY
@given(problems())
def test_kkt_certificate(problem):
    """The fitted coefficients satisfy the optimality conditions (see kkt_violation)."""
    check_problem(problem, against_sklearn=False)


# Small reproductions of the failures the property tests have found, pinned so that each runs on every
# test run whatever hypothesis draws; each runs both checks on one fit.
PINNED = {
    # newton-cg without penalty, a column collinear with the intercept (constant) or with another column:
    # the coefficients run off to 1e14-1e15 along the loss's flat direction while converged_ is True
    "newton-cg-none-constant-column": Problem(
        seed=0, n=20, d=2, n_classes=2, spread=1.5, columns="constant", mixed_scales=False, density=1.0,
        sparse=False, weights="none", class_weight=None, penalty=None, l1_ratio=None, C=1.0, fit_intercept=True,
        solver="newton-cg"),
    "newton-cg-none-collinear-no-intercept": Problem(
        seed=14, n=20, d=2, n_classes=2, spread=0.5, columns="collinear", mixed_scales=False, density=1.0,
        sparse=False, weights="none", class_weight=None, penalty=None, l1_ratio=None, C=1.0, fit_intercept=False,
        solver="newton-cg"),
    "newton-cg-none-softmax-worse-objective": Problem(
        seed=33587, n=22, d=4, n_classes=3, spread=0.5, columns="collinear", mixed_scales=False, density=1.0,
        sparse=False, weights="random_zeros", class_weight="balanced", penalty=None, l1_ratio=None, C=0.00501,
        fit_intercept=True, solver="newton-cg"),
    # OWL-QN (l1, elastic-net) on columns of mixed scales (10**U(-1, 1)): max_iter=1000 reached, far from the
    # optimum (the same problems with unit-scale columns pass)
    "owlqn-l1-binary-mixed-scales": Problem(
        seed=29380, n=20, d=8, n_classes=2, spread=1.5, columns="plain", mixed_scales=True, density=0.3,
        sparse=False, weights="random_zeros", class_weight="dict", penalty="l1", l1_ratio=None, C=251.0,
        fit_intercept=True, solver="lbfgs"),
    "owlqn-l1-softmax-mixed-scales": Problem(
        seed=34050, n=75, d=5, n_classes=4, spread=4.0, columns="plain", mixed_scales=True, density=0.6,
        sparse=True, weights="none", class_weight="balanced", penalty="l1", l1_ratio=None, C=2.51,
        fit_intercept=True, solver="lbfgs"),
    "owlqn-elasticnet-worse-objective": Problem(
        seed=31226, n=52, d=8, n_classes=3, spread=0.5, columns="zero", mixed_scales=True, density=1.0,
        sparse=False, weights="none", class_weight=None, penalty="elasticnet", l1_ratio=0.889, C=50.1,
        fit_intercept=True, solver="lbfgs"),
}


@pytest.mark.parametrize("problem", list(PINNED.values()), ids=list(PINNED))
def test_pinned_problem(problem):
    check_problem(problem)


# -- deterministic regression tests (issue tracker) ---------------------------------------------


def _iris():
    return load_iris(return_X_y=True)


def _saga(X, y, C, penalty, l1_ratio=None, tol=1e-10, class_weight=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return SkLR(**_sklearn_params(C, penalty, l1_ratio, "saga"), tol=tol, max_iter=20000,
                    class_weight=class_weight, random_state=0).fit(X, y)


def _fit_and_compare(X, y, C, penalty, *, class_weight=None, rel=OBJ_RTOL):
    """Our float64 fit at tol 1e-10 (no exception) against saga at tol 1e-10 (20,000 epochs at most): the
    objective, then the KKT certificate (the stronger check where saga stops short)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = LogisticRegression(C=C, penalty=penalty, dtype="float64", scaling=None, tol=1e-10, max_iter=2000,
                                  class_weight=class_weight).fit(X, y)
    ref = _saga(X, y, C, penalty, class_weight=class_weight)
    _, codes, w = effective_weights(y, None, class_weight)
    a, q = penalty_strengths(C, penalty)
    f_ours = objective(X, codes, w, ours.coef_, ours.intercept_, a, q)
    f_ref = objective(X, codes, w, ref.coef_, ref.intercept_, a, q)
    assert f_ours <= f_ref * (1 + rel), (
        f"objective {f_ours:.6g} against saga's {f_ref:.6g} after {ours.n_iter_} iterations")
    viol = kkt_violation(X, codes, w, ours.coef_, ours.intercept_, a, q, True)
    bound = KKT_RTOL * gradient_scale(X, w, True)
    assert viol <= bound, f"KKT violation {viol:.3g} > bound {bound:.3g} after {ours.n_iter_} iterations"


def test_l1_scaled_iris_reaches_saga():
    """Scaled iris, L1, C=1: saga reaches 28.70 (C=1: scikit-learn's objective equals ours); we
    stopped at 66.53 after 2 iterations (issue tracker), 36.08 after 9 later."""
    X, y = _iris()
    X = scale(X)
    _fit_and_compare(X, y, 1.0, "l1")


def test_l1_make_classification_reaches_saga():
    """make_classification(100, 20 features), L1, C=1: ours 32.30 against saga's 25.50."""
    X, y = make_classification(n_samples=100, n_features=20, random_state=0)
    _fit_and_compare(X, y, 1.0, "l1")


def test_l1_balanced_raw_iris():
    """Raw iris, L1, C=2, class_weight="balanced": ZeroDivisionError (issue tracker)."""
    X, y = _iris()
    _fit_and_compare(X, y, 2.0, "l1", class_weight="balanced")


def test_l1_csr_iris_float32():
    """L1 on iris as CSR, C=0.5, default float32 and tol: returns, objective within 1e-5 of saga's."""
    X, y = _iris()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model = LogisticRegression(penalty="l1", C=0.5).fit(sp.csr_array(X), y)
    ref = _saga(X, y, 0.5, "l1")
    _, codes, w = effective_weights(y)
    f_ours = objective(X, codes, w, model.coef_, model.intercept_, 2.0, 0.0)
    f_ref = objective(X, codes, w, ref.coef_, ref.intercept_, 2.0, 0.0)
    assert f_ours <= f_ref * (1 + 1e-5)


@pytest.mark.parametrize(("dtype", "rel"), [("float64", OBJ_RTOL), ("float32", 1e-5)])
def test_newton_cg_small_C_raw_iris(dtype, rel):
    """newton-cg, raw iris, C=logspace(-4, 4, 10)[1], tol=1e-6: division by zero in CG (issue
    tracker). No exception and no RuntimeWarning; objective that of scikit-learn's newton-cg."""
    X, y = _iris()
    C = float(np.logspace(-4, 4, 10)[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        ours = LogisticRegression(C=C, solver="newton-cg", tol=1e-6, dtype=dtype).fit(X, y)
    ref = SkLR(C=C, l1_ratio=0.0, solver="newton-cg", tol=1e-12, max_iter=10000).fit(X, y)
    _, codes, w = effective_weights(y)
    f_ours = objective(X, codes, w, ours.coef_, ours.intercept_, 0.0, 1.0 / C)
    f_ref = objective(X, codes, w, ref.coef_, ref.intercept_, 0.0, 1.0 / C)
    assert f_ours <= f_ref * (1 + rel)


@pytest.mark.parametrize("solver", ["newton-cg", "lbfgs"])
def test_softmax_identifiability(solver):
    """20 rows, 20 features, 3 classes, L2, tol 1e-8: the intercepts sum to 0 and the coefficients
    sum to 0 over classes (scikit-learn's, and the L2 optimum's, centring), below 1e-10."""
    X, y = make_classification(n_samples=20, n_features=20, n_informative=10, n_classes=3, random_state=0)
    model = LogisticRegression(solver=solver, tol=1e-8, dtype="float64", scaling=None).fit(X, y)
    assert abs(model.intercept_.sum()) < 1e-10, model.intercept_
    assert np.abs(model.coef_.sum(axis=0)).max() < 1e-10


@pytest.mark.parametrize(("C", "scaled"), [(0.5, False), (2.0, False), (1.0, True)])
def test_l1_sparse_matches_dense(C, scaled):
    """The same L1 problem given dense and as CSR: coefficients and intercepts agree to 1e-8 at tol 1e-10,
    and so do the objectives (to 1e-13, relative).

    On raw iris (C = 2) both fits stop at float64's rounding limit of the objective (estimated
    gap 5e-17 on 18.54), where they used to differ by up to 4.5e-8 in the intercepts: OWL-QN
    then polishes with Newton steps judged by the pseudo-gradient (``_solvers._polish``)."""
    X, y = _iris()
    if scaled:
        X = scale(X)
    fits = []
    for data in (X, sp.csr_array(X)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits.append(LogisticRegression(C=C, penalty="l1", dtype="float64", scaling=None, tol=1e-10,
                                           max_iter=2000).fit(data, y))
    dense, sparse = fits
    _, codes, w = effective_weights(y)
    a, q = penalty_strengths(C, "l1")
    f_dense = objective(X, codes, w, dense.coef_, dense.intercept_, a, q)
    f_sparse = objective(X, codes, w, sparse.coef_, sparse.intercept_, a, q)
    assert f_sparse == pytest.approx(f_dense, rel=1e-13, abs=0)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=0, atol=1e-8)
    np.testing.assert_allclose(sparse.intercept_, dense.intercept_, rtol=0, atol=1e-8)


@pytest.mark.parametrize(("solver", "penalty"), [("lbfgs", "l2"), ("newton-cg", "l2"), ("lbfgs", "l1")])
def test_max_iter_zero_returns_initial_state(solver, penalty):
    """max_iter=0 is accepted (as scikit-learn accepts it): the initial state (all zeros), no
    iterations, a ConvergenceWarning."""
    X, y = _iris()
    with pytest.warns(ConvergenceWarning):
        model = LogisticRegression(max_iter=0, solver=solver, penalty=penalty, dtype="float64",
                                   scaling=None).fit(X, y)
    assert np.all(model.coef_ == 0) and np.all(model.intercept_ == 0)
    assert np.all(model.n_iter_ == 0)
    assert not model.converged_
    assert model.predict(X).shape == y.shape


def _small_datasets():
    from sklearn.datasets import load_breast_cancer, load_digits

    X_mc, y_mc = make_classification(n_samples=120, n_features=12, n_informative=4, n_redundant=6, n_classes=3,
                                     random_state=0)
    return {"iris": _iris(), "breast_cancer": load_breast_cancer(return_X_y=True),
            "digits_500": tuple(a[:500] for a in load_digits(return_X_y=True)),
            "make_classification_redundant": (X_mc, y_mc)}


@pytest.mark.parametrize("name", ["iris", "breast_cancer", "digits_500", "make_classification_redundant"])
def test_no_crash_over_C(name):
    """Every solver and penalty over C in [1e-4, 1e4] on raw (unscaled) small datasets, in both
    dtypes: the fit returns finite coefficients, raises nothing and emits no RuntimeWarning (a
    division by zero or an overflow); a fit that stops short says so with a ConvergenceWarning."""
    X, y = _small_datasets()[name]
    combos = [("lbfgs", "l2", None), ("newton-cg", "l2", None), ("lbfgs", "l1", None),
              ("lbfgs", "elasticnet", 0.5), ("newton-cg", None, None)]
    for C in np.logspace(-4, 4, 5):
        for solver, penalty, l1_ratio in combos:
            for dtype in ("float32", "float64"):
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    model = LogisticRegression(C=C, solver=solver, penalty=penalty, l1_ratio=l1_ratio, dtype=dtype,
                                               max_iter=100).fit(X, y)
                what = f"{name}, C={C:g}, {solver}, {penalty}, {dtype}"
                assert np.all(np.isfinite(model.coef_)) and np.all(np.isfinite(model.intercept_)), what
                assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], what
                if not model.converged_:
                    assert [w for w in caught if issubclass(w.category, ConvergenceWarning)], what


def test_float32_stall_advice_names_float64():
    """scikit-learn's check_class_weight_classifiers data (class weights 1000 against 1e-4): float32
    stalls on some C, and its warning says to use float64 (never "please report it"); float64
    fits the same problems without a warning."""
    from sklearn.datasets import make_blobs

    X, y = make_blobs(centers=3, random_state=0, cluster_std=20)
    weights = {0: 1000, 1: 0.0001, 2: 0.0001}
    float32_messages = []
    for C in np.logspace(-4, 4, 10):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            LogisticRegression(C=C, class_weight=weights).fit(X, y)
        float32_messages += [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            LogisticRegression(C=C, class_weight=weights, dtype="float64").fit(X, y)
    assert float32_messages, "the float32 fits were expected to stall somewhere on this data"
    for message in float32_messages:
        assert "please report" not in message and "float64" in message, message
