import zipfile

import numpy as np
import pytest
from npzfiles import rewrite_npz

from mnist_logreg import LogisticRegression, SGDLogisticRegression, load_model, save_model
from mnist_logreg.modelio import ModelFileError


@pytest.fixture(scope="module")
def fitted(small):
    Xtr, ytr, _, _ = small
    return LogisticRegression().fit(Xtr, ytr)


def test_round_trip(tmp_path, fitted, small):
    path = tmp_path / "model.npz"
    save_model(fitted, path, task="multiclass", extra={"note": "x"})
    model, task, extra = load_model(path)
    assert task == "multiclass" and extra == {"note": "x"}
    np.testing.assert_array_equal(model.predict_proba(small[2]), fitted.predict_proba(small[2]))
    assert model.get_params()["C"] == fitted.C
    with np.load(path, allow_pickle=False) as z:  # plain arrays only, no object arrays
        assert all(z[k].dtype != object for k in z.files)


def test_binary_and_sgd_round_trip(tmp_path, small):
    Xtr, ytr, Xte, _ = small
    for model in (LogisticRegression().fit(Xtr, ytr == 2), SGDLogisticRegression(random_state=0).fit(Xtr, ytr)):
        save_model(model, tmp_path / "m.npz")
        loaded, _, _ = load_model(tmp_path / "m.npz")
        assert type(loaded) is type(model)
        np.testing.assert_array_equal(loaded.predict(Xte), model.predict(Xte))


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"format_version": np.array(99)}, r"format_version: expected one of \(1, 2\), found"),
        ({"coef": None}, "missing fields"),
        ({"coef": np.zeros((10, 783))}, r"coef: expected shape \(10, 784\)"),
        ({"coef": np.zeros((10, 784), np.float32)}, "coef: expected float64"),
        ({"intercept": np.full(10, np.nan)}, "intercept: values must be finite"),
        ({"classes": np.array([1])}, "classes: expected at least 2"),
        ({"classes": np.array(["a"] * 10)}, "classes: expected at least 2 integer"),
        ({"kind": np.array("os.system")}, "kind: expected one of"),
        ({"params": np.array('{"params": {"bogus": 1}, "extra": {}}')}, "params: not valid options"),
        ({"params": np.array("not json")}, "params: not valid options"),
        ({"scale": np.ones(10)}, r"scale: expected shape \(784,\)"),
    ],
)
def test_tampered_files_are_refused(tmp_path, fitted, changes, words):
    good = tmp_path / "good.npz"
    save_model(fitted, good)
    bad = tmp_path / "bad.npz"
    rewrite_npz(good, bad, **changes)
    with pytest.raises(ModelFileError, match=words):
        load_model(bad)


def test_pickled_object_array_never_loads(tmp_path, fitted):
    good = tmp_path / "good.npz"
    save_model(fitted, good)
    bad = tmp_path / "bad.npz"
    rewrite_npz(good, bad, params=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(ModelFileError, match="not a readable model file"):
        load_model(bad)


@pytest.mark.parametrize("cut", [10, 1000, -100])
def test_truncated_file(tmp_path, fitted, cut):
    good = tmp_path / "good.npz"
    save_model(fitted, good)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(good.read_bytes()[:cut])
    with pytest.raises(ModelFileError, match=str(bad)):
        load_model(bad)


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file"):
        load_model(tmp_path / "nope.npz")


def test_not_a_zip(tmp_path):
    p = tmp_path / "x.npz"
    p.write_text("hello")
    with pytest.raises(ModelFileError):
        load_model(p)
    assert not zipfile.is_zipfile(p)
