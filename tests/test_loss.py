"""The loss module against finite differences and scikit-learn's log loss."""

import numpy as np
import pytest
from sklearn.metrics import log_loss

from mnist_logreg.linear._data import DenseMatrix
from mnist_logreg.linear._loss import BinaryLogLoss, SoftmaxLogLoss
from mnist_logreg.linear._penalties import make_penalty


def _losses(tiny, C, fit_intercept):
    X, y = tiny
    X, y = X[:60], y[:60]
    s = np.ones((len(y), 1))
    return X, y, [
        BinaryLogLoss(DenseMatrix(np, X), (y == 3).astype(float), s, make_penalty(C), fit_intercept),
        SoftmaxLogLoss(DenseMatrix(np, X), y, s, make_penalty(C), fit_intercept, 10),
    ]


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("C", [0.1, 1.0, np.inf])
def test_gradient_and_hessp_match_finite_differences(tiny, C, fit_intercept):
    _, _, losses = _losses(tiny, C, fit_intercept)
    rng = np.random.default_rng(0)
    for loss in losses:
        theta = rng.normal(scale=0.1, size=loss.initial().shape)
        _f, g, state = loss.value_grad(theta)
        V = rng.normal(size=theta.shape)
        eps = 1e-6
        fp, gp, _ = loss.value_grad(theta + eps * V)
        fm, gm, _ = loss.value_grad(theta - eps * V)
        assert (fp - fm) / (2 * eps) == pytest.approx(np.sum(g * V), rel=1e-6)
        np.testing.assert_allclose((gp - gm) / (2 * eps), loss.hessp(state, V), rtol=1e-5, atol=1e-6)


def test_objective_matches_sklearn_log_loss(tiny):
    X, y, (binary, softmax) = _losses(tiny, 2.0, True)
    rng = np.random.default_rng(1)
    theta = rng.normal(scale=0.1, size=softmax.initial().shape)
    Z = X @ theta[:-1] + theta[-1]
    P = np.exp(Z - Z.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    expected = log_loss(y, P, normalize=False, labels=range(10)) + 0.25 * np.sum(theta[:-1] ** 2)
    assert softmax.value_grad(theta)[0] == pytest.approx(expected, rel=1e-10)
    tb = rng.normal(scale=0.1, size=binary.initial().shape)
    z = X @ tb[:-1, 0] + tb[-1, 0]
    p = 1 / (1 + np.exp(-z))
    expected = log_loss(y == 3, p, normalize=False) + 0.25 * np.sum(tb[:-1] ** 2)
    assert binary.value_grad(tb)[0] == pytest.approx(expected, rel=1e-10)


def test_softmax_stable_for_huge_scores(tiny):
    _, _, (_, softmax) = _losses(tiny, 1.0, True)
    theta = np.full(softmax.initial().shape, 1e4)
    theta[:, 0] = -1e4
    f, g, _ = softmax.value_grad(theta)
    assert np.isfinite(f) and np.all(np.isfinite(g))
