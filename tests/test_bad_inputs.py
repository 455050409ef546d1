"""The library's inputs at their edges (issue 30, item 12): class weights that are not finite
numbers >= 0 are refused with a message naming the class; weights of any size fit the same model
(they are relative); SGD stays finite whatever alpha and eta0 are."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris

from mnist_logreg import LogisticRegression, LogisticRegressionCV, SGDLogisticRegression
from mnist_logreg.cli import main


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


@pytest.mark.parametrize("weight", [np.nan, np.inf, -np.inf, -1.0, "heavy", True])
@pytest.mark.parametrize("estimator", [LogisticRegression, LogisticRegressionCV])
def test_bad_class_weight_is_refused_by_name(iris, estimator, weight):
    X, y = iris
    with pytest.raises(ValueError, match=r"class_weight: the weight of class 1 must be a finite number >= 0"):
        estimator(class_weight={1: weight}).fit(X, y)


def test_class_weights_that_zero_every_row_are_refused(iris):
    X, y = iris
    with pytest.raises(ValueError, match="every sample weighs 0"):
        LogisticRegression(class_weight={0: 0, 1: 0, 2: 0}).fit(X, y)


@pytest.mark.parametrize("factor", [1e-300, 2.0**-40, 3.0, 2.0**62, 1e300])
def test_weights_are_relative(iris, factor):
    """Every weight times ``factor`` and C divided by it is the same objective up to that factor:
    the same coefficients, whatever the size (1e300 used to overflow into an eigenvalue error)."""
    X, y = iris
    params = {"dtype": "float64", "tol": 1e-8, "scaling": None}
    reference = LogisticRegression(C=0.5, **params).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow, no convergence warning
        scaled = LogisticRegression(C=0.5 / factor, **params).fit(X, y, sample_weight=np.full(len(y), factor))
    np.testing.assert_allclose(scaled.coef_, reference.coef_, rtol=1e-6, atol=1e-8)
    assert scaled.objective_ == pytest.approx(factor * reference.objective_, rel=1e-9)


def test_int64_class_weights_near_2_to_62(iris):
    X, y = iris
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model = LogisticRegression(class_weight={0: 2**62, 1: 2**62, 2: 2**62}, dtype="float64").fit(X, y)
    assert np.all(np.isfinite(model.coef_)) and model.score(X, y) > 0.9


def test_weights_beyond_float32_are_refused_in_float32(iris):
    X, y = iris
    with pytest.raises(ValueError, match=r"the weights span .* more than float32 represents; use dtype='float64'"):
        LogisticRegression(class_weight={0: 1e300}).fit(X, y)
    assert np.all(np.isfinite(LogisticRegression(class_weight={0: 1e300}, dtype="float64").fit(X, y).coef_))


def test_sgd_stays_finite_for_any_alpha_and_step(iris):
    """alpha=1e300 (C=1e-300 on the command line) shrinks the coefficients to 0 instead of NaN; a
    huge step either stays finite or stops with a message that names eta0."""
    X, y = iris
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        strong = SGDLogisticRegression(alpha=1e300, random_state=0).fit(X, y)
    assert np.all(strong.coef_ == 0)
    for eta0 in (1e10, 1e30):
        try:
            model = SGDLogisticRegression(eta0=eta0, alpha=0.0, random_state=0).fit(X, y)
        except ValueError as error:
            assert "eta0" in str(error)
        else:
            assert np.all(np.isfinite(model.coef_))


def test_cli_sgd_with_a_tiny_C(tmp_path, capsys):
    code = main(["train", "--model", "sgd", "--C", "1e-300", "--train-size", "1000", "--no-figures", "--quiet",
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "Traceback" not in err
