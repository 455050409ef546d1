import numpy as np
import pytest

from mnist_logreg.tasks import (
    Task,
    binary_target,
    pair_subset,
    parse_task,
    random_split,
    shuffle,
    stratified_subsample,
)


def test_shuffle_seeded_and_paired():
    X = np.arange(20).reshape(10, 2)
    y = np.arange(10)
    a = shuffle(X, y, 3)
    b = shuffle(X, y, 3)
    c = shuffle(X, y, 4)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[1], c[1])
    np.testing.assert_array_equal(a[0][:, 0] // 2, a[1])  # rows stay with their labels
    assert sorted(a[1]) == list(range(10))


def test_random_split_sizes():
    X, y = np.zeros((100, 3)), np.arange(100)
    _Xtr, ytr, _Xte, yte = random_split(X, y, test_size=20, random_state=1)
    assert len(ytr) == 80 and len(yte) == 20
    assert set(ytr) | set(yte) == set(range(100))
    with pytest.raises(ValueError, match="test_size"):
        random_split(X, y, test_size=100)


def test_binary_target_and_pair(mnist):
    t = binary_target(mnist.y_test, 2)
    assert t.dtype == np.int64 and t.sum() == 1032
    X, y = pair_subset(mnist.X_test, mnist.y_test, 0, 1)
    assert set(np.unique(y)) == {0, 1} and len(y) == 980 + 1135 and len(X) == len(y)
    with pytest.raises(ValueError, match="digit must be an integer 0-9"):
        binary_target(mnist.y_test, 10)


def test_stratified_subsample_keeps_proportions(mnist):
    _X, y = stratified_subsample(mnist.X_train, mnist.y_train, 6000, random_state=0)
    assert len(y) == 6000
    expected = np.bincount(mnist.y_train) / 10
    assert np.all(np.abs(np.bincount(y) - expected) <= 1)
    _X2, y2 = stratified_subsample(mnist.X_train, mnist.y_train, 6000, random_state=0)
    np.testing.assert_array_equal(y, y2)


@pytest.mark.parametrize(
    ("text", "task"),
    [("multiclass", Task()), ("digit:2", Task("digit", (2,))), ("pair:0,1", Task("pair", (0, 1))),
     (" pair: 3 , 8 ", Task("pair", (3, 8)))],
)
def test_parse_task(text, task):
    assert parse_task(text) == task
    assert parse_task(str(task)) == task


@pytest.mark.parametrize(
    ("text", "words"),
    [("digits:2", "bad task"), ("digit:12", "unknown digit 12"), ("pair:1,1", "two different digits"),
     ("pair:1", "two different digits"), ("digit:x", "bad task"), ("digit:1,2", "takes one digit"), ("", "bad task")],
)
def test_parse_task_errors(text, words):
    with pytest.raises(ValueError, match=words):
        parse_task(text)
