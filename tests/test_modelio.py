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
    arrays["features.9.junk"] = np.zeros(modelio.MAX_MEMBER_BYTES // 8 + 1)
    np.savez_compressed(bomb, **arrays)
    assert bomb.stat().st_size < 2 << 20
    with pytest.raises(ModelFileError, match="inflates to"):
        load_model(bomb)


def test_unused_members_are_refused_unread(tmp_path, model_10k):
    """Members no model file has (ten unused 200 MB arrays of zeros made loading take 2.1 GB) are
    refused from the archive's directory, before any is read; so are members adding up past
    MAX_MODEL_BYTES."""
    from mnist_logreg import modelio

    padded = tmp_path / "padded.npz"
    with np.load(model_10k[1]) as z:
        arrays = {k: z[k] for k in z.files}
    np.savez_compressed(padded, **arrays, **{f"unused{i}": np.zeros(1 << 20) for i in range(3)})
    with pytest.raises(ModelFileError, match="unexpected member 'unused0'"):
        load_model(padded)
    many = tmp_path / "many.npz"
    big = np.zeros(modelio.MAX_MEMBER_BYTES // 8 // 2)
    np.savez_compressed(many, **arrays, **{f"features.{i}.x": big for i in range(5)})
    with pytest.raises(ModelFileError, match="bytes allowed in all"):
        load_model(many)


@pytest.fixture(scope="module")
def feature_models(small, tmp_path_factory):
    """A PCA and a patch-feature model (small), saved: {spec: path}."""
    from sklearn.pipeline import Pipeline

    from mnist_logreg.features import make_feature_map

    Xtr, ytr, _, _ = small
    out = {}
    for spec in ("pca:20", "patches:4"):
        fmap = make_feature_map(spec)
        model = Pipeline([*fmap.steps, ("logreg", LogisticRegression(scaling="standard", max_iter=50))])
        model.fit(Xtr[:300], ytr[:300])
        path = tmp_path_factory.mktemp("features") / f"{spec.replace(':', '_')}.npz"
        save_model(model, path)
        out[spec] = path
    return out


@pytest.mark.parametrize(("spec", "member", "change", "words"), [
    ("pca:20", "features.0.components", lambda a: a * 1e300, "values up to"),
    ("pca:20", "features.0.mean", lambda a: a + 1e300, "values up to"),
    ("patches:4", "features.0.scale", lambda a: np.array(1e300), "expected 1 / the largest pixel value"),
    ("patches:4", "features.0.scale", lambda a: np.array(1e-300), "expected 1 / the largest pixel value"),
    ("patches:4", "features.0.filters", lambda a: np.full_like(a, 3e38), "values up to"),
    ("patches:4", "features.0.offsets", lambda a: np.full_like(a, 1e30), "values up to"),
])
def test_implausible_feature_arrays_are_refused(tmp_path, feature_models, spec, member, change, words):
    """Finite but absurd feature arrays loaded and then made every prediction NaN (a 500 from serve
    on every request) or read every image as "1"; they are refused when the file is read."""
    with np.load(feature_models[spec]) as z:
        original = z[member]
    bad = rewrite_npz(feature_models[spec], tmp_path / "bad.npz", **{member: change(original).astype(original.dtype)})
    with pytest.raises(ModelFileError, match=words):
        load_model(bad)
    load_model(feature_models[spec])  # the untouched file loads


def test_a_vanishing_contrast_is_refused(tmp_path, feature_models):
    import json

    with np.load(feature_models["patches:4"]) as z:
        params = json.loads(str(z["features_params"]))
    params[0]["contrast"] = 1e-50
    bad = rewrite_npz(feature_models["patches:4"], tmp_path / "bad.npz", features_params=np.array(json.dumps(params)))
    with pytest.raises(ModelFileError, match="contrast must be from 1e-06"):
        load_model(bad)


def test_save_model_refuses_what_load_model_would(tmp_path, small):
    """NaN coefficients, another width, string labels, a scikit-learn step the file cannot hold:
    refused with a message, and nothing written."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    Xtr, ytr, _, _ = small
    path = tmp_path / "m.npz"
    nan_model = LogisticRegression(max_iter=5).fit(Xtr, ytr)
    nan_model.coef_ = nan_model.coef_.copy()
    nan_model.coef_[0, 0] = np.nan
    narrow = LogisticRegression(max_iter=5).fit(Xtr[:, :64], ytr)
    words = LogisticRegression(max_iter=5).fit(Xtr, np.array(["even", "odd"])[ytr % 2])
    scaled = make_pipeline(MinMaxScaler(), LogisticRegression(max_iter=5)).fit(Xtr, ytr)
    for model, message in [(nan_model, "values must be finite"), (narrow, "expected shape"),
                           (words, "class labels must be integers"), (scaled, "pipeline step 'minmaxscaler'")]:
        with pytest.raises(ModelFileError, match=message):
            save_model(model, path)
        assert not path.exists()


@pytest.mark.parametrize("steps", [
    "scaler", "scaler,pca", "pca-whiten", "poly-bias",
])
def test_scikit_learn_preprocessing_in_a_pipeline_is_saved_and_loaded(tmp_path, small, steps):
    """Issue 27: make_pipeline(StandardScaler(), LogisticRegression()) failed with a bare KeyError,
    and saving its classifier alone dropped the scaler (test accuracy 0.912 -> 0.797). scikit-learn's
    StandardScaler, PCA (whitened or not) and PolynomialFeatures (with its bias column) are saved
    as feature steps: the loaded model gives the same probabilities as the fitted one."""
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    Xtr, ytr, Xte, _ = small
    Xtr, ytr = Xtr[:600], ytr[:600]
    made = {
        "scaler": [StandardScaler()],
        "scaler,pca": [StandardScaler(), PCA(20, random_state=0)],
        "pca-whiten": [PCA(15, whiten=True, random_state=0)],
        "poly-bias": [PCA(8, random_state=0), PolynomialFeatures(2)],
    }[steps]
    model = make_pipeline(*made, LogisticRegression(C=0.1, scaling="standard")).fit(Xtr, ytr)
    path = tmp_path / "m.npz"
    save_model(model, path, task="multiclass")
    loaded, task, _ = load_model(path)
    assert task == "multiclass" and len(loaded.steps) == len(model.steps)
    np.testing.assert_allclose(loaded.predict_proba(Xte), model.predict_proba(Xte), rtol=1e-5, atol=1e-6)
    assert (loaded.predict(Xte) == model.predict(Xte)).all()


def test_an_unfitted_or_fractional_pca_is_named(tmp_path, small):
    from sklearn.decomposition import PCA
    from sklearn.pipeline import Pipeline

    Xtr, ytr, _, _ = small
    fitted = LogisticRegression(max_iter=5).fit(Xtr, ytr)
    with pytest.raises(ModelFileError, match=r"pipeline step 'pca' \(PCA\) is not fitted"):
        save_model(Pipeline([("pca", PCA(10)), ("logreg", fitted)]), tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()


def test_a_classifier_saved_out_of_its_pipeline_says_its_preprocessing_is_not_in_the_file(tmp_path, small):
    """Issue 27: saving the classifier of make_pipeline(StandardScaler(), LogisticRegression())
    alone silently dropped the scaler (test accuracy 0.912 -> 0.797 after loading)."""
    import warnings

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    Xtr, ytr, _, _ = small
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=50)).fit(Xtr[:300], ytr[:300])
    with pytest.warns(UserWarning, match="uses its inputs as given .* save the whole pipeline instead"):
        save_model(pipe[-1], tmp_path / "alone.npz")
    pixels = LogisticRegression(max_iter=50).fit(Xtr[:300], ytr[:300])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the whole pipeline, or a classifier that scales its own pixels: silent
        save_model(pipe, tmp_path / "whole.npz")
        save_model(pixels, tmp_path / "pixels.npz")
