"""Full-data checks (marked ``full``): the default fit reaches the reference optimum.

F* = 13927.0617126 is the float64 optimum of softmax with intercept, C = 1, pixels / 255, on
the 60,000 training digits. The objective of our coefficients is recomputed here in float64
with scipy, independently of the library's loss code.
"""

from pathlib import Path

import numpy as np
import pytest
from scipy.special import logsumexp

from mnist_logreg import LogisticRegression

F_STAR = 13927.0617126
pytestmark = pytest.mark.full


def test_default_fit_reaches_optimum(mnist):
    model = LogisticRegression().fit(mnist.X_train, mnist.y_train)
    assert model.converged_
    X = mnist.X_train / 255.0
    Z = X @ model.coef_.T + model.intercept_
    F = np.sum(logsumexp(Z, axis=1) - Z[np.arange(len(Z)), mnist.y_train]) + 0.5 * np.sum(model.coef_**2)
    gap = (F - F_STAR) / F_STAR
    assert -1e-9 < gap <= 1e-5
    assert model.score(mnist.X_test, mnist.y_test) == pytest.approx(0.9256, abs=0.002)


def test_accurate_features_reach_99_percent(mnist, tmp_path):
    """The accurate preset (deskew + patch features + softmax) passes 99% on the test set."""
    from mnist_logreg.pipeline import TrainOptions, train

    m = train(TrainOptions(features="accurate", figures=False), out=tmp_path / "run", data=mnist)
    assert m["fit"]["converged"]
    assert m["test"]["accuracy"] >= 0.99


@pytest.fixture(scope="module")
def shipped(mnist):
    """The default model shipped in the package (the best preset's train run at seed 0; see
    ``shipped.DEFAULT_FEATURES``), its metadata and its accuracy on the 10,000 test digits."""
    from mnist_logreg.modelio import load_model
    from mnist_logreg.shipped import default_model_file

    model, task, extra = load_model(default_model_file())
    assert task == "multiclass"
    return model, extra, model.score(mnist.X_test, mnist.y_test)


def test_best_features_beat_accurate(shipped):
    """The shipped model is the best preset's recipe (its features, C, its distorted copies, all
    60,000 training digits, converged) and keeps the preset's measured accuracy (within 0.1 point)
    on the test digits, above the accurate preset's."""
    from mnist_logreg.features import PRESETS

    _, extra, accuracy = shipped
    best, fit = PRESETS["best"], extra["fit"]
    assert (fit["features"], fit["augment"], fit["n_train"]) == (best.spec, best.augment, 60000)
    assert fit["C"] == best.C and fit["converged"]
    assert accuracy >= best.accuracy - 0.001
    assert accuracy > PRESETS["accurate"].accuracy


@pytest.mark.xfail(strict=True, reason="the target of the best preset, not reached: 99.31% measured "
                   "(docs/user-guide/features.md); strict, so that reaching it is noticed")
def test_best_features_reach_99_5_percent(shipped):
    """The target: 99.5% on the test set."""
    assert shipped[2] >= 0.995


@pytest.mark.retrain
def test_the_shipped_model_is_what_its_recipe_trains(shipped, mnist, tmp_path):
    """Issue 28: the default model shipped in the package is what its recipe (``python -m
    mnist_logreg.shipped build``) trains: retrained (about 3 minutes and 5 GB, so only with
    ``pytest -m retrain``), it matches the shipped one, test accuracy within 0.05 points,
    predictions on the test digits agreeing on at least 99.9%."""
    from mnist_logreg.modelio import load_model
    from mnist_logreg.shipped import DEFAULT_FEATURES, train_default_model

    assert DEFAULT_FEATURES == "best"
    run = train_default_model(tmp_path / "run", mnist)
    retrained, _, _ = load_model(Path(run["out"]) / "model.npz")
    ours, _, accuracy = shipped
    assert abs(retrained.score(mnist.X_test, mnist.y_test) - accuracy) <= 0.0005
    assert np.mean(retrained.predict(mnist.X_test) == ours.predict(mnist.X_test)) >= 0.999
