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
def best_run(mnist, tmp_path_factory):
    """The best preset trained through the normal train flow, in memory (about 3 minutes): the
    recipe of the default model shipped in the package (``shipped.DEFAULT_FEATURES``)."""
    from mnist_logreg.shipped import train_default_model

    return train_default_model(tmp_path_factory.mktemp("best") / "run", mnist)


def test_best_features_beat_accurate(best_run):
    """The best preset trains on its distorted copies and keeps its measured accuracy (within
    0.1 point: the documented figure comes from this flow at seed 0)."""
    from mnist_logreg.features import PRESETS

    best = PRESETS["best"]
    assert best_run["fit"]["augment"] == best.augment and best_run["fit"]["features"] == best.spec
    assert best_run["fit"]["converged"]
    assert best_run["test"]["accuracy"] >= best.accuracy - 0.001
    assert best_run["test"]["accuracy"] > PRESETS["accurate"].accuracy


@pytest.mark.xfail(strict=True, reason="the target of the best preset, not reached: 99.31% measured "
                   "(docs/user-guide/features.md); strict, so that reaching it is noticed")
def test_best_features_reach_99_5_percent(best_run):
    """The target: 99.5% on the test set."""
    assert best_run["test"]["accuracy"] >= 0.995


def test_the_shipped_model_is_what_its_recipe_trains(best_run, mnist):
    """Issue 28: the default model shipped in the package is the best preset's train run (its
    recipe, ``python -m mnist_logreg.shipped build``, trains exactly ``best_run``'s): retrained, it
    matches the shipped one, test accuracy within 0.05 points, predictions on the test digits
    agreeing on at least 99.9%."""
    from mnist_logreg.modelio import load_model
    from mnist_logreg.shipped import DEFAULT_FEATURES, default_model_file

    assert DEFAULT_FEATURES == "best"
    data = mnist
    retrained, _, _ = load_model(Path(best_run["out"]) / "model.npz")
    ours, _, _ = load_model(default_model_file())
    assert abs(retrained.score(data.X_test, data.y_test) - ours.score(data.X_test, data.y_test)) <= 0.0005
    assert np.mean(retrained.predict(data.X_test) == ours.predict(data.X_test)) >= 0.999
