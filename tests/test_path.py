"""The regularisation path: warm-started fits equal cold ones; L1 gets sparser as C shrinks."""

import numpy as np
import pytest

from mnist_logreg import LogisticRegression
from mnist_logreg.evaluation import regularisation_path
from mnist_logreg.plots import regularisation_path as path_figure


@pytest.fixture(scope="module")
def digits(mnist):
    return mnist.X_train[:1500], mnist.y_train[:1500], mnist.X_test[:1000], mnist.y_test[:1000]


def test_warm_started_path_equals_cold_fits(digits):
    X, y, Xt, yt = digits
    Cs = [1.0, 0.01, 0.1]  # fitted in increasing order whatever the order given
    model = LogisticRegression(dtype="float64", tol=1e-5)
    rows, coefs = regularisation_path(model, X, y, Cs, {"test": (Xt, yt)})
    assert [r["C"] for r in rows] == [0.01, 0.1, 1.0]
    for row, coef in zip(rows, coefs, strict=True):
        cold = LogisticRegression(C=row["C"], dtype="float64", tol=1e-5).fit(X, y)
        assert np.linalg.norm(coef - cold.coef_) <= 1e-4 * np.linalg.norm(cold.coef_)
        assert row["test_accuracy"] == cold.score(Xt, yt) and row["train_accuracy"] == cold.score(X, y)
        assert row["converged"] and row["penalty"] == "l2"
    # a weaker penalty fits the training digits better
    assert rows[0]["train_accuracy"] < rows[-1]["train_accuracy"]


def test_l1_path_gets_sparser_with_a_stronger_penalty(digits):
    X, y = digits[:2]
    rows, coefs = regularisation_path(LogisticRegression(penalty="l1", dtype="float64", tol=1e-4, max_iter=3000),
                                      X[:600], y[:600], [0.05, 0.5])
    zeros = [r["zero_fraction"] for r in rows]
    assert zeros[0] > zeros[1] > 0.09  # more than the never-inked pixels
    fig = path_figure(rows, coefs, [str(d) for d in range(10)], chosen_C=0.5)
    assert any(ax.get_ylabel() == "share of coefficients = 0" for ax in fig.axes)
    assert sum(1 for ax in fig.axes if ax.images) == 2 * 10  # coefficient images: 2 C x 10 classes
