"""Shared fixtures: the bundled MNIST (loaded once) and small stratified subsets of it."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from mnist_logreg.datasets import load_mnist
from mnist_logreg.tasks import stratified_subsample


@pytest.fixture(scope="session")
def mnist():
    """The full bundled MNIST (read-only use)."""
    return load_mnist()


@pytest.fixture(scope="session")
def small(mnist):
    """1,000 training and 500 test digits, class-stratified: (X_train, y_train, X_test, y_test)."""
    Xtr, ytr = stratified_subsample(mnist.X_train, mnist.y_train, 1000, random_state=0)
    Xte, yte = stratified_subsample(mnist.X_test, mnist.y_test, 500, random_state=0)
    return Xtr, ytr, Xte, yte


@pytest.fixture(scope="session")
def tiny(small):
    """200 training digits as float64 pixels / 255 (for tight solver comparisons)."""
    Xtr, ytr, _, _ = small
    return Xtr[:200].astype(np.float64) / 255.0, ytr[:200]


@pytest.fixture(scope="session")
def model_10k(mnist, tmp_path_factory):
    """A softmax model fitted on 10,000 training digits, and its saved file."""
    from mnist_logreg import LogisticRegression, save_model

    X, y = stratified_subsample(mnist.X_train, mnist.y_train, 10000, random_state=0)
    model = LogisticRegression().fit(X, y)
    path = tmp_path_factory.mktemp("model") / "model.npz"
    save_model(model, path)
    return model, path
