"""The report's analyses: the learning curve and the examples of the top confusions."""

import numpy as np
import pytest


def test_learning_curve_warm_starts_and_scores(mnist):
    """Each size is fitted on the first n rows (warm-started); more digits, higher test accuracy."""
    from mnist_logreg import LogisticRegression
    from mnist_logreg.evaluation import learning_curve

    X, y = mnist.X_train[:4000], mnist.y_train[:4000]
    seen = []
    rows = learning_curve(LogisticRegression(C=0.1), X, y, mnist.X_test[:2000], mnist.y_test[:2000],
                          [4000, 5, 500, 99999], on_step=lambda i, row: seen.append(row["n"]))
    assert [r["n"] for r in rows] == seen == [500, 4000]  # 5 rows lack classes; 99,999 is too many
    cold = LogisticRegression(C=0.1).fit(X, y)
    assert rows[-1]["test_accuracy"] == pytest.approx(cold.score(mnist.X_test[:2000], mnist.y_test[:2000]), abs=0.003)
    assert rows[-1]["test_accuracy"] > rows[0]["test_accuracy"] + 0.03
    assert rows[0]["train_accuracy"] >= rows[-1]["train_accuracy"]  # fewer digits are fitted more closely


def test_confusion_examples_are_the_top_confusions(mnist):
    from sklearn.metrics import confusion_matrix

    from mnist_logreg.evaluation import confusion_examples, top_confusions

    rng = np.random.default_rng(0)
    y_true = mnist.y_test[:3000]
    y_pred = np.where(rng.random(3000) < 0.2, rng.integers(0, 10, 3000), y_true)
    proba = rng.dirichlet(np.ones(10), 3000)
    labels = np.arange(10)
    examples = confusion_examples(y_true, y_pred, proba, labels, k=4, per_confusion=5)
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    off = np.sort(cm[~np.eye(10, dtype=bool)])[::-1]
    assert [e["count"] for e in examples] == off[:4].tolist()
    assert [(e["true"], e["pred"]) for e in examples] == [(i, j) for i, j, _ in top_confusions(cm, 4)]
    for e in examples:
        idx = e["index"]
        assert len(idx) == min(5, e["count"])
        assert np.all(y_true[idx] == e["true"]) and np.all(y_pred[idx] == e["pred"])
        conf = proba.max(axis=1)
        wrong = np.flatnonzero((y_true == e["true"]) & (y_pred == e["pred"]))
        assert np.allclose(conf[idx], np.sort(conf[wrong])[::-1][: len(idx)])  # most confident first
