"""L1 and elastic-net (OWL-QN) against scikit-learn's saga run to a tight tolerance.

Same objective (scikit-learn's, divided by C): sum of log losses + (l1_ratio ||W||_1 +
0.5 (1 - l1_ratio) ||W||^2) / C. Tolerances: relative objective difference 1e-7, coefficients
within 1e-3 (absolute, max; 5e-3 on the correlated breast-cancer features), the same zero
pattern up to coefficients below 1e-6.
"""

import warnings

import numpy as np
import pytest
from scipy.special import logsumexp
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression as SkLR
from sklearn.preprocessing import StandardScaler

from mnist_logreg import LogisticRegression
from mnist_logreg.linear._penalties import ElasticNet, make_penalty


def _objective(X, y, coef, intercept, C, l1_ratio):
    Z = X @ coef.T + intercept
    if coef.shape[0] == 1:
        z = Z[:, 0]
        loss = np.sum(np.logaddexp(0, z) - y * z)
    else:
        loss = np.sum(logsumexp(Z, axis=1) - Z[np.arange(len(y)), y])
    return loss + (l1_ratio * np.abs(coef).sum() + 0.5 * (1 - l1_ratio) * np.sum(coef**2)) / C


def _saga(X, y, C, penalty, l1_ratio):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SkLR(C=C, penalty=penalty, l1_ratio=l1_ratio, solver="saga", tol=1e-10, max_iter=100000).fit(X, y)


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.mark.parametrize(("penalty", "l1_ratio", "C"), [("l1", None, 0.05), ("l1", None, 0.3),
                                                        ("elasticnet", 0.3, 0.1)])
def test_binary_matches_saga(cancer, penalty, l1_ratio, C):
    X, y = cancer
    ours = LogisticRegression(C=C, penalty=penalty, l1_ratio=l1_ratio, dtype="float64", tol=1e-6,
                              max_iter=20000).fit(X, y)
    sk = _saga(X, y, C, penalty, l1_ratio)
    r = 1.0 if penalty == "l1" else l1_ratio
    f_ours = _objective(X, y, ours.coef_, ours.intercept_, C, r)
    f_sk = _objective(X, y, sk.coef_, sk.intercept_, C, r)
    assert f_ours == pytest.approx(f_sk, rel=1e-7) and f_ours <= f_sk * (1 + 1e-9)
    # correlated features (radius, perimeter, area) leave flat directions: coefficients agree less
    # tightly than objectives
    np.testing.assert_allclose(ours.coef_, sk.coef_, atol=5e-3)
    big = np.abs(sk.coef_) > 1e-6
    assert np.array_equal(ours.coef_ != 0, big) or np.all(np.abs(ours.coef_[ours.coef_ != 0]) < 1e-4)
    assert np.mean(ours.coef_ == 0) > 0.2  # exact zeros: a sparse model


def test_softmax_elasticnet_matches_saga(tiny):
    X, y = tiny
    C, r = 0.2, 0.5
    ours = LogisticRegression(C=C, penalty="elasticnet", l1_ratio=r, scaling=None, dtype="float64",
                              tol=1e-5, max_iter=5000).fit(X, y)
    sk = _saga(X, y, C, "elasticnet", r)
    f_ours = _objective(X, y, ours.coef_, ours.intercept_, C, r)
    f_sk = _objective(X, y, sk.coef_, sk.intercept_, C, r)
    assert f_ours == pytest.approx(f_sk, rel=1e-7)
    np.testing.assert_allclose(ours.coef_, sk.coef_, atol=1e-3)
    assert np.mean(ours.coef_ == 0) == pytest.approx(np.mean(np.abs(sk.coef_) < 1e-8), abs=0.01)
    assert ours.converged_


def test_elasticnet_penalty_object():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(6, 3))
    pen = ElasticNet(2.0, 0.25)
    assert pen.value(np, W) == pytest.approx(0.5 * np.abs(W).sum() + 0.75 * np.sum(W**2))
    # the smooth part's gradient is the L2 part's only; the L1 part is OWL-QN's (l1_strength)
    np.testing.assert_allclose(pen.gradient(np, W), 0.75 * 2.0 * W)
    assert pen.l1_strength == 0.5 and pen.curvature == 1.5 and not pen.smooth
    assert make_penalty(1.0, "l1").l1_strength == 1.0 and not make_penalty(1.0, "l1").smooth


def test_bad_penalty_options(cancer):
    X, y = cancer
    with pytest.raises(ValueError, match="l1_ratio"):
        LogisticRegression(penalty="elasticnet").fit(X, y)
    with pytest.raises(ValueError, match="OWL-QN"):
        LogisticRegression(penalty="l1", solver="newton-cg").fit(X, y)
