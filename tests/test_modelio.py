import io
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


def test_member_sizes_are_checked_from_headers_before_reading(tmp_path, model_10k):
    """A member declaring a huge shape, or inflating far, is refused before anything is read."""
    from mnist_logreg import modelio

    # a header that declares 8 TB of float64 in a file of a few hundred bytes
    huge = tmp_path / "huge.npz"
    header = {"descr": "<f8", "fortran_order": False, "shape": (1 << 20, 1 << 20)}
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    with zipfile.ZipFile(huge, "w") as zf:
        zf.writestr("coef.npy", buf.getvalue())  # the magic string and header, no data
    with pytest.raises(ModelFileError, match="declares shape"):
        load_model(huge)
    # a member that inflates beyond the cap (zeros compress ~1000:1)
    bomb = tmp_path / "bomb.npz"
    with np.load(model_10k[1]) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["extra_member"] = np.zeros(modelio.MAX_MEMBER_BYTES // 8 + 1)
    np.savez_compressed(bomb, **arrays)
    assert bomb.stat().st_size < 2 << 20
    with pytest.raises(ModelFileError, match="inflates to"):
        load_model(bomb)
