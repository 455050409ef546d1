"""A drop-in for scikit-learn's LogisticRegression: same meaning on non-MNIST data.

Each test fits scikit-learn's LogisticRegression (lbfgs, tol 1e-10) and ours (float64, tight
tol) on the same data and objective and compares coefficients (relative, in norm) and
predictions. Tolerances: 1e-4 relative on coefficients, predictions equal.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_breast_cancer, load_iris, make_classification
from sklearn.linear_model import LogisticRegression as SkLR
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mnist_logreg import LogisticRegression, SGDLogisticRegression

TIGHT = {"dtype": "float64", "tol": 1e-6, "max_iter": 5000}


def _close(a, b, rtol=1e-4):
    assert np.linalg.norm(np.asarray(a, float) - b) <= rtol * max(np.linalg.norm(b), 1e-12)


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def test_float_input_is_not_rescaled(iris):
    X, y = iris
    sk = SkLR(tol=1e-10, max_iter=10000).fit(X, y)
    ours = LogisticRegression(**TIGHT).fit(X, y)
    assert ours.scale_.tolist() == [1.0] * 4  # "auto": floats are left as they are
    _close(ours.coef_, sk.coef_)
    np.testing.assert_array_equal(ours.predict(X), sk.predict(X))
    assert ours.score(X, y) == sk.score(X, y) > 0.95
    # uint8 images still get x / 255
    assert LogisticRegression().fit((X * 10).astype(np.uint8), y).scale_[0] == pytest.approx(1 / 255)


def test_numpy_scalar_C_in_a_grid_search(cancer):
    X, y = cancer
    grid = GridSearchCV(LogisticRegression(dtype="float64"), {"C": np.logspace(-2, 1, 4)}, cv=3).fit(X, y)
    sk = GridSearchCV(SkLR(max_iter=5000), {"C": np.logspace(-2, 1, 4)}, cv=3).fit(X, y)
    assert grid.best_params_["C"] == sk.best_params_["C"]
    for C in (np.int64(10), np.float32(0.5)):
        _close(LogisticRegression(C=C, **TIGHT).fit(X, y).coef_, SkLR(C=float(C), tol=1e-10, max_iter=10000)
               .fit(X, y).coef_, rtol=1e-3)


@pytest.mark.parametrize("C", [True, np.nan, 0, -1.0, "1"])
def test_bad_C_is_refused(iris, C):
    with pytest.raises(ValueError, match="C"):
        LogisticRegression(C=C).fit(*iris)


def test_standard_scaling_ignores_constant_columns(iris):
    X, y = iris
    X = np.column_stack([X, np.full(len(X), 0.1) + np.array([0, 1e-17] * 75)])  # constant up to rounding
    model = LogisticRegression(scaling="standard").fit(X, y)
    assert model.scale_[-1] == 1.0
    X_test = X.copy()
    X_test[:, -1] = 0.2
    np.testing.assert_array_equal(model.predict(X_test), model.predict(X))


def test_sgd_defaults_work_on_small_data(iris):
    X, y = iris
    assert SGDLogisticRegression(random_state=0).fit(X, y).score(X, y) > 0.9
    with pytest.warns(UserWarning, match="updates per epoch"):
        SGDLogisticRegression(batch_size=256, random_state=0).fit(X, y)


def test_no_penalty_softmax_is_centred(iris):
    X, y = iris
    ours = LogisticRegression(penalty=None, **TIGHT).fit(X, y)
    np.testing.assert_allclose(ours.coef_.sum(axis=0), 0, atol=1e-10)
    assert abs(ours.intercept_.sum()) < 1e-10
    inf = LogisticRegression(C=np.inf, **TIGHT).fit(X, y)
    np.testing.assert_allclose(inf.coef_, ours.coef_)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_coef_keeps_the_fitting_dtype(iris, dtype):
    X, y = iris
    for model in (LogisticRegression(dtype=dtype), SGDLogisticRegression(dtype=dtype, random_state=0)):
        model.fit(X, y)
        assert model.coef_.dtype == model.intercept_.dtype == np.dtype(dtype)


@pytest.mark.parametrize("class_weight", ["balanced", {0: 1.0, 1: 3.0, 2: 0.5}])
def test_class_weight_with_sample_weight(iris, class_weight):
    X, y = iris
    X, y = X[20:], y[20:]  # unbalanced: 30 of class 0
    sw = np.random.default_rng(0).uniform(0.5, 2, len(y))
    sk = SkLR(class_weight=class_weight, tol=1e-10, max_iter=10000).fit(X, y, sample_weight=sw)
    ours = LogisticRegression(class_weight=class_weight, **TIGHT).fit(X, y, sample_weight=sw)
    _close(ours.coef_, sk.coef_)
    _close(ours.intercept_, sk.intercept_)
    np.testing.assert_array_equal(ours.predict(X), sk.predict(X))


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_input_fits_and_predicts_like_dense(fmt):
    rng = np.random.default_rng(0)
    dense = rng.random((300, 50)) * (rng.random((300, 50)) < 0.1)
    y = (dense[:, :5].sum(axis=1) > 0.2).astype(int) + (dense[:, 5:10].sum(axis=1) > 0.3)
    X = sp.csr_array(dense) if fmt == "csr" else sp.csc_array(dense)
    ours = LogisticRegression(**TIGHT).fit(X, y)
    dense_fit = LogisticRegression(**TIGHT).fit(dense, y)
    sk = SkLR(tol=1e-10, max_iter=10000).fit(X, y)
    _close(ours.coef_, dense_fit.coef_, rtol=1e-6)
    _close(ours.coef_, sk.coef_)
    np.testing.assert_array_equal(ours.predict(X), sk.predict(X))
    np.testing.assert_allclose(ours.predict_proba(X), dense_fit.predict_proba(dense), atol=1e-8)
    with pytest.raises(ValueError, match="densify"):
        LogisticRegression(scaling="standard").fit(X, y)


def test_warm_start_starts_from_the_previous_fit(cancer):
    X, y = cancer
    cold = LogisticRegression(C=1.0, dtype="float64").fit(X, y)
    warm = LogisticRegression(C=1.0, dtype="float64", warm_start=True).fit(X, y)
    again = warm.fit(X, y)  # from the optimum: converges at once
    assert again.n_iter_[0] <= 1 < cold.n_iter_[0]
    _close(again.coef_, cold.coef_, rtol=1e-3)


@pytest.mark.parametrize("labels", ["binary", "multiclass", "strings"])
def test_public_attributes_match_sklearn(iris, labels):
    X, y = iris
    if labels == "binary":
        y = (y == 1).astype(int)
    elif labels == "strings":
        y = np.array(["setosa", "versicolor", "virginica"])[y]
    sk = SkLR(max_iter=10000).fit(X, y)
    ours = LogisticRegression(dtype="float64").fit(X, y)
    for attr in ("classes_", "coef_", "intercept_", "n_features_in_"):
        a, b = np.asarray(getattr(ours, attr)), np.asarray(getattr(sk, attr))
        assert a.shape == b.shape and a.dtype.kind == b.dtype.kind, attr
    assert np.asarray(ours.n_iter_).shape == np.asarray(sk.n_iter_).shape
    for method in ("decision_function", "predict_proba", "predict_log_proba", "predict"):
        assert getattr(ours, method)(X).shape == getattr(sk, method)(X).shape, method
    np.testing.assert_array_equal(ours.predict(X), sk.predict(X))


def test_in_a_pipeline(cancer):
    X, y = make_classification(400, 20, random_state=0)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(dtype="float64")).fit(X, y)
    sk = make_pipeline(StandardScaler(), SkLR()).fit(X, y)
    np.testing.assert_array_equal(pipe.predict(X), sk.predict(X))


def _hessian(X, y, coef, intercept, C):
    """The exact Hessian of sum_i logloss + 0.5 / C ||W||^2 in (W, b), ordered class-major, in numpy."""
    Xt = np.column_stack([X, np.ones(len(X))])
    Z = Xt @ np.vstack([coef.T, intercept[None]])
    if Z.shape[1] == 1:
        p = 1 / (1 + np.exp(-Z[:, 0]))
        H = Xt.T @ (Xt * (p * (1 - p))[:, None])
    else:
        P = np.exp(Z - Z.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        K, p1 = P.shape[1], Xt.shape[1]
        H = np.zeros((K * p1, K * p1))
        for k in range(K):
            for j in range(K):
                w = P[:, k] * ((k == j) - P[:, j])
                H[k * p1:(k + 1) * p1, j * p1:(j + 1) * p1] = Xt.T @ (Xt * w[:, None])
    reg = np.tile(np.r_[np.ones(X.shape[1]), 0.0], H.shape[0] // Xt.shape[1]) / C
    return H + np.diag(reg)


@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg"])
@pytest.mark.parametrize("problem", ["cancer", "iris"])
def test_tol_bounds_the_coefficients_error(problem, solver, request):
    """``tol`` is the relative accuracy of the coefficients in the curvature norm (docstring).

    Reference: scikit-learn's newton-cg run to 1e-12 (float64). For each tol the error
    ``||theta - theta*||_H`` must be at most ``tol * ||theta*||_H`` (H, the exact Hessian at the
    optimum, computed here); the error shrinks with tol. (At tol = 1e-2 the quadratic estimates
    are rough: iris with lbfgs ends at 1.2e-2.)
    """
    X, y = request.getfixturevalue(problem)
    if problem == "iris":
        X = StandardScaler().fit_transform(X)
    C = 10.0
    ref = SkLR(C=C, solver="newton-cg", tol=1e-12, max_iter=10000).fit(X, y)
    H = _hessian(X, y, ref.coef_, ref.intercept_, C)

    def flat(model):  # parameters in the Hessian's order: per class, its coefficients then intercept
        return np.column_stack([model.coef_, model.intercept_]).astype(np.float64).ravel()

    def hnorm(v):
        return float(np.sqrt(v @ H @ v))

    size = hnorm(flat(ref))
    errors = []
    for tol in (1e-3, 1e-4, 1e-5):
        ours = LogisticRegression(C=C, solver=solver, dtype="float64", tol=tol, max_iter=5000).fit(X, y)
        error = hnorm(flat(ours) - flat(ref))
        assert error <= tol * size, (tol, error / size)
        errors.append(error)
        rel_coef = np.linalg.norm(ours.coef_ - ref.coef_) / np.linalg.norm(ref.coef_)
        assert rel_coef <= tol * np.sqrt(np.linalg.cond(H)), (tol, rel_coef)
    assert errors[-1] < errors[0]
