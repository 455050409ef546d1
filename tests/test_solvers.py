"""Solvers against scikit-learn run to tight tolerance, on the same objective.

Objective: sum of log losses + 0.5 / C * ||W||^2 (scikit-learn minimises C times this).
Reference: sklearn.linear_model.LogisticRegression(lbfgs, tol=1e-12) and, for one-vs-rest,
OneVsRestClassifier around it. Tolerances: relative objective difference 1e-8 in float64 and
2e-6 in float32; coefficients within 1e-3 (float64) / 2e-2 (float32) relative in norm.
"""

import itertools
from functools import cache

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression as SkLR
from sklearn.multiclass import OneVsRestClassifier

from mnist_logreg import LogisticRegression
from mnist_logreg.linear._data import DenseMatrix
from mnist_logreg.linear._loss import BinaryLogLoss, SoftmaxLogLoss
from mnist_logreg.linear._penalties import make_penalty

SOLVERS = ["lbfgs", "newton-cg"]


def objective(X, y, coef, intercept, C, kind):
    """Our objective in float64 at the given coefficients (per binary model summed for ovr)."""
    s = np.ones((len(y), 1))
    theta = np.vstack([coef.T, intercept[None]])
    classes = np.unique(y)
    if kind == "binary":
        loss = BinaryLogLoss(DenseMatrix(np, X), (y == classes[1]).astype(float), s, make_penalty(C), True)
        return loss.value_grad(theta)[0]
    if kind == "multinomial":
        return SoftmaxLogLoss(DenseMatrix(np, X), np.searchsorted(classes, y), s, make_penalty(C), True,
                              len(classes)).value_grad(theta)[0]
    return sum(
        BinaryLogLoss(DenseMatrix(np, X), (y == c).astype(float), s, make_penalty(C), True).value_grad(theta[:, [k]])[0]
        for k, c in enumerate(classes)
    )


def _data(tiny, kind):
    X, y = tiny
    if kind == "binary":
        return X, (y == 2).astype(np.int64)
    return X, y


@cache
def _reference(kind, C, fit_intercept, _key):
    X, y = _REF_DATA[_key]
    base = SkLR(C=C, tol=1e-12, max_iter=20000, fit_intercept=fit_intercept)
    model = OneVsRestClassifier(base).fit(X, y) if kind == "ovr" else base.fit(X, y)
    if kind == "ovr":
        coef = np.vstack([e.coef_ for e in model.estimators_])
        intercept = np.concatenate([e.intercept_ for e in model.estimators_])
    else:
        coef, intercept = model.coef_, model.intercept_
    return coef, intercept


_REF_DATA = {}


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("kind", ["binary", "multinomial", "ovr"])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize(("dtype", "C"), [("float64", 0.1), ("float64", 10.0), ("float32", 1.0)])
def test_matches_sklearn(tiny, solver, kind, fit_intercept, dtype, C):
    X, y = _data(tiny, kind)
    _REF_DATA[kind] = (X, y)
    ref_coef, ref_int = _reference(kind, C, fit_intercept, kind)
    model = LogisticRegression(C=C, solver=solver, fit_intercept=fit_intercept, dtype=dtype, scaling=None,
                               multiclass="ovr" if kind == "ovr" else "multinomial",
                               tol=1e-5 if dtype == "float64" else 3e-4)
    model.fit(X, y)
    assert model.converged_
    obj_kind = "binary" if kind == "binary" else kind
    ours = objective(X, y, model.coef_, model.intercept_, C, obj_kind)
    ref = objective(X, y, ref_coef, ref_int, C, obj_kind)
    rel = 1e-8 if dtype == "float64" else 2e-6
    assert ours <= ref * (1 + rel)
    assert ours >= ref * (1 - rel)
    # the softmax optimum is unique only up to adding a constant to every class: sklearn's and
    # ours both have zero-mean coefficients over classes (the penalty picks that one)
    coef_tol = 1e-3 if dtype == "float64" else 2e-2
    assert np.linalg.norm(model.coef_ - ref_coef) <= coef_tol * np.linalg.norm(ref_coef)
    if not fit_intercept:
        assert np.all(model.intercept_ == 0)


@pytest.mark.parametrize("kind", ["binary", "multinomial"])
def test_solvers_agree_with_each_other(small, kind):
    Xtr, ytr, _, _ = small
    y = (ytr == 5).astype(int) if kind == "binary" else ytr
    fits = [LogisticRegression(solver=s, dtype="float64", tol=1e-5).fit(Xtr, y) for s in SOLVERS]
    np.testing.assert_allclose(fits[0].objective_, fits[1].objective_, rtol=1e-9)
    np.testing.assert_allclose(fits[0].coef_, fits[1].coef_, atol=1e-4 * np.abs(fits[1].coef_).max())


def test_not_converged_warns_with_iterations_and_gradient(small):
    from sklearn.exceptions import ConvergenceWarning

    Xtr, ytr, _, _ = small
    with pytest.warns(ConvergenceWarning, match=r"stopped after 3 iterations with gradient norm [0-9.e+-]+"):
        model = LogisticRegression(max_iter=3).fit(Xtr, ytr)
    assert not model.converged_


def test_history_decreases(small):
    Xtr, ytr, _, _ = small
    model = LogisticRegression().fit(Xtr, ytr)
    objectives = [h["objective"] for h in model.history_]
    assert len(objectives) == model.n_iter_[0] + 1
    assert all(b <= a for a, b in itertools.pairwise(objectives))


@pytest.mark.parametrize("solver", SOLVERS)
def test_no_penalty_matches_sklearn(small, solver):
    """penalty=None on a problem with a finite, well-conditioned optimum: 10 pixels, digits 0-3."""
    Xtr, ytr, _, _ = small
    cols = np.arange(350, 450, 10)
    keep = ytr < 4
    X, y = Xtr[keep][:, cols].astype(np.float64) / 255.0, ytr[keep]
    ref = SkLR(C=np.inf, tol=1e-12, max_iter=20000).fit(X, y)
    ours = LogisticRegression(penalty=None, solver=solver, dtype="float64", scaling=None, tol=1e-6).fit(X, y)
    f_ref = objective(X, y, ref.coef_, ref.intercept_, np.inf, "multinomial")
    f_ours = objective(X, y, ours.coef_, ours.intercept_, np.inf, "multinomial")
    assert f_ours == pytest.approx(f_ref, rel=1e-7)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))


def test_uint8_pixels_fit_as_their_floats(small):
    """uint8 pixels (their rows sorted by class inside the fit, each block of rows without its
    all-zero columns) reach the optimum of the same pixels given as floats / 255, whatever the
    order of the rows and with sample weights."""
    Xtr, ytr, _, _ = small
    X = Xtr.reshape(len(ytr), -1)
    rng = np.random.default_rng(0)
    perm, sw = rng.permutation(len(ytr)), rng.uniform(0.5, 2.0, len(ytr))
    pixels = LogisticRegression(dtype="float64", tol=1e-6).fit(X[perm], ytr[perm], sample_weight=sw[perm])
    floats = LogisticRegression(dtype="float64", tol=1e-6, scaling=None).fit(X / 255.0, ytr, sample_weight=sw)
    assert pixels.scale_[0] == pytest.approx(1 / 255)
    np.testing.assert_allclose(pixels.objective_, floats.objective_, rtol=1e-10)
    np.testing.assert_allclose(pixels.coef_, floats.coef_, atol=1e-4 * np.abs(floats.coef_).max())
    np.testing.assert_allclose(pixels.intercept_, floats.intercept_, atol=1e-4 * np.abs(floats.intercept_).max())


def test_one_vs_rest_fits_share_their_first_preconditioner(small, monkeypatch):
    """The K one-vs-rest fits all start at 0, where every digit's curvature is the same: one
    preconditioner is built there for all of them, and each fit ends where the same binary fit
    on its own (which builds its own) ends."""
    from mnist_logreg.linear import _solvers

    Xtr, ytr = small[0][:600], small[1][:600]
    built = []
    original = _solvers.Preconditioner.__init__

    def counting(self, loss, state, eigh, seed=0, **kw):
        built.append(seed)
        original(self, loss, state, eigh, seed=seed, **kw)

    monkeypatch.setattr(_solvers.Preconditioner, "__init__", counting)
    kw = {"dtype": "float64", "tol": 1e-8}
    ovr = LogisticRegression(multiclass="ovr", **kw).fit(Xtr, ytr)
    assert built.count(0) == 1 and len(built) > 1
    for k in (0, 4, 9):
        built.clear()
        alone = LogisticRegression(**kw).fit(Xtr, ytr == k)
        assert built.count(0) == 1
        np.testing.assert_allclose(ovr.coef_[k], alone.coef_[0], atol=1e-6 * np.abs(alone.coef_).max())
        np.testing.assert_allclose(ovr.intercept_[k], alone.intercept_[0], atol=1e-6)
    built.clear()
    warm = LogisticRegression(multiclass="ovr", warm_start=True, **kw).fit(Xtr, ytr)
    built.clear()
    warm.fit(Xtr, ytr)  # from the previous coefficients: nothing in common to share
    assert built.count(0) == 10


def test_two_loop_survives_a_cancelled_preconditioned_pair():
    """float32: P^-1 y taken as P^-1 g - P^-1 g_prev can cancel to 0 when y is tiny (seen in
    scikit-learn's check_class_weight_classifiers on LogisticRegressionCV): the recursion must
    then apply P^-1 to y itself, or leave P^-1 unscaled, never divide by zero."""
    from mnist_logreg.linear._solvers import _two_loop

    rng = np.random.default_rng(0)
    S = [rng.normal(size=(3, 3)).astype(np.float32) * 1e-2]
    Y = [S[0] * np.float32(1e-3)]  # a positive pair
    g = rng.normal(size=(3, 3)).astype(np.float32)

    def identity(v):
        return v

    q = _two_loop(np, -g, S, Y, identity, np.zeros_like(Y[0]))
    expected = _two_loop(np, -g, S, Y, identity, None)  # P^-1 y computed directly
    assert np.all(np.isfinite(q))
    np.testing.assert_allclose(q, expected, rtol=1e-5)
    # a pair whose y vanishes altogether in P^-1: P^-1 is used unscaled
    q0 = _two_loop(np, -g, S, Y, lambda v: v * np.float32(0), np.zeros_like(Y[0]))
    assert np.all(np.isfinite(q0))
