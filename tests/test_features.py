"""Feature maps: each transformer against a reference, specs, the pipeline end to end, model files.

References: deskewing is checked on synthetic sheared strokes whose slant is known; the patch
features against a direct loop-by-loop computation of their definition; PCA and polynomial steps
against scikit-learn's own transformers on the same input.
"""

import numpy as np
import pytest
from npzfiles import rewrite_npz
from sklearn.decomposition import PCA
from sklearn.preprocessing import PolynomialFeatures
from sklearn.utils.estimator_checks import parametrize_with_checks

from mnist_logreg import LogisticRegression, load_model, save_model
from mnist_logreg.features import (
    Deskew,
    FeatureSpecError,
    PatchFeatures,
    deskew_images,
    make_feature_map,
    parse_features,
)
from mnist_logreg.features.deskew import _shear_params
from mnist_logreg.modelio import ModelFileError
from mnist_logreg.pipeline import TrainOptions, train


def _stroke(slant: float, shift=(0.0, 0.0)) -> np.ndarray:
    """A 28x28 vertical bar, 3 px wide and 16 px tall, sheared by ``slant`` (columns per row)."""
    img = np.zeros((28, 28), dtype=np.float32)
    for r in range(6, 22):
        c = 13.5 + shift[1] + slant * (r - 13.5)
        for dc in (-1, 0, 1):
            cc = c + dc
            lo = int(np.floor(cc))
            f = cc - lo
            img[r, lo] += 255 * (1 - f)
            img[r, lo + 1] += 255 * f
    return np.roll(img, int(shift[0]), axis=0)


@pytest.mark.parametrize("slant", [-0.4, -0.15, 0.2, 0.45])
def test_deskew_straightens_a_sheared_stroke(slant):
    img = _stroke(slant, shift=(3, -4))
    _, _, before = _shear_params(img[None])
    assert before[0] == pytest.approx(slant, abs=0.02)  # the moments see the slant we drew
    out = deskew_images(img[None])
    cy, cx, after = _shear_params(out)
    assert abs(after[0]) < 0.02  # straightened
    assert cy[0] == pytest.approx(13.5, abs=0.3) and cx[0] == pytest.approx(13.5, abs=0.3)  # centred
    assert out.sum() == pytest.approx(img.sum(), rel=0.02)  # ink is kept


def test_deskew_leaves_blank_and_upright_images_alone():
    blank = np.zeros((2, 28, 28), dtype=np.uint8)
    np.testing.assert_array_equal(deskew_images(blank), 0)
    upright = _stroke(0.0)
    np.testing.assert_allclose(deskew_images(upright[None])[0], upright, atol=1e-3)


def _patch_reference(pf: PatchFeatures, img: np.ndarray) -> np.ndarray:
    """The patch features of one image, straight from their definition (slow loops)."""
    p = pf.patch_size
    x = img.astype(np.float64) * pf.scale_
    out = 28 - p + 1
    K = pf.filters_.shape[1]
    edges = np.linspace(0, out, pf.pool_grid + 1).round().astype(int)
    resp = np.zeros((out, out, 2 * K))
    for r in range(out):
        for c in range(out):
            v = x[r : r + p, c : c + p].ravel()
            v = v - v.mean()
            v = v / np.sqrt(v @ v / v.size + pf.contrast)
            z = v @ pf.filters_ + pf.offsets_
            resp[r, c] = np.maximum(np.concatenate([z, -z]) - pf.threshold, 0)
    cells = [resp[edges[i] : edges[i + 1], edges[j] : edges[j + 1]].sum((0, 1))
             for i in range(pf.pool_grid) for j in range(pf.pool_grid)]
    return np.concatenate(cells) ** pf.power


def test_patch_features_match_their_definition(small):
    Xtr, _, Xte, _ = small
    pf = PatchFeatures(8, n_patches=3000, random_state=0).fit(Xtr[:300])
    F = pf.transform(Xte[:3])
    assert F.shape == (3, 2 * 8 * 9) and F.dtype == np.float32
    assert len(pf.get_feature_names_out()) == F.shape[1]
    for i in range(3):
        np.testing.assert_allclose(F[i], _patch_reference(pf, Xte[i].reshape(28, 28)), rtol=2e-4, atol=2e-4)
    # threads and one thread give the same numbers; the seed fixes the filters
    np.testing.assert_array_equal(pf.set_params(n_jobs=1).transform(Xte[:40]),
                                  pf.set_params(n_jobs=2).transform(Xte[:40]))
    again = PatchFeatures(8, n_patches=3000, random_state=0).fit(Xtr[:300])
    np.testing.assert_array_equal(again.filters_, pf.filters_)


def test_pca_and_poly_steps_are_scikit_learns(small):
    Xtr, _, Xte, _ = small
    fmap = make_feature_map("deskew,pca:12,poly:2", random_state=0).fit(Xtr)
    D = Deskew().fit_transform(Xtr)
    pca = PCA(12, svd_solver="randomized", random_state=0).fit(D)
    expected = PolynomialFeatures(2, include_bias=False).fit_transform(pca.transform(Deskew().fit_transform(Xte)))
    np.testing.assert_allclose(fmap.transform(Xte), expected, rtol=1e-4, atol=1e-3)
    assert fmap.transform(Xte).shape == (len(Xte), 12 + 12 * 13 // 2)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("bogus", ["unknown step 'bogus'", "accurate", "patches:N"]),
        ("deskew,pca:0", ["pca", "from 1 to 784", "found 0"]),
        ("pca:x", ["pca:N", "'pca:x'"]),
        ("poly:2", ["needs 'pca:N' before it"]),
        ("pca:20,patches:8", ["'patches' needs images"]),
        ("deskew:2", ["takes no argument"]),
    ],
)
def test_bad_specs_name_the_bad_part(spec, words):
    with pytest.raises(FeatureSpecError) as info:
        parse_features(spec)
    for w in words:
        assert w in str(info.value)


def test_presets_parse():
    assert parse_features("accurate") == [("deskew", None), ("patches", 64)]
    assert parse_features("pixels") == [] and make_feature_map("pixels") is None
    assert parse_features(" deskew , pca:30 ") == [("deskew", None), ("pca", 30)]


@parametrize_with_checks([Deskew(), PatchFeatures(), PatchFeatures(8, pool_grid=4)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def feature_run(mnist, tmp_path_factory):
    """A train run with the accurate preset on 3,000 digits."""
    out = tmp_path_factory.mktemp("run") / "acc"
    opts = TrainOptions(features="accurate", train_size=3000, figures=False)
    return train(opts, out=out, data=mnist), out


def test_features_beat_pixels_on_a_subset(feature_run, mnist):
    m, out = feature_run
    pixels = train(TrainOptions(train_size=3000, figures=False), out=out.parent / "px", data=mnist)
    assert m["fit"]["features"] == "deskew,patches:64" and m["fit"]["n_features"] == 1152
    assert m["fit"]["C"] == 0.1 and m["fit"]["converged"]
    assert m["test"]["accuracy"] > pixels["test"]["accuracy"] + 0.04  # ~97% against ~89%


def test_feature_model_file_round_trip(feature_run, mnist, tmp_path):
    m, out = feature_run
    model, task, _ = load_model(out / "model.npz")
    assert [name for name, _ in model.steps] == ["deskew", "patches", "logreg"]
    X = mnist.X_test[:300]
    again_path = tmp_path / "again.npz"
    save_model(model, again_path, task=task)
    again, _, _ = load_model(again_path)
    np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))
    # the loaded model scores what the run measured before saving
    assert model.score(mnist.X_test, mnist.y_test) == pytest.approx(m["test"]["accuracy"], abs=1e-12)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"features.1.filters": np.zeros((25, 63), np.float32)}, ["features.1.filters", "(25, 64)", "(25, 63)"]),
        ({"features.1.offsets": np.full(64, np.nan, np.float32)}, ["features.1.offsets", "finite"]),
        ({"features.1.scale": None}, ["features.1.scale", "missing"]),
        ({"features.0.image_shape": np.array([27, 28])}, ["features.0.image_shape", "784"]),
        ({"features": np.array("deskew,patches:64,nope")}, ["unknown step 'nope'"]),
        ({"features_params": np.array('[{}, {"power": "x"}]')}, ["features.1", "power"]),
        ({"features.7.extra": np.zeros(3)}, ["unexpected arrays", "features.7.extra"]),
        ({"coef": np.zeros((10, 784))}, ["coef", "(10, 1152)"]),
    ],
)
def test_tampered_feature_model_files_are_refused(feature_run, tmp_path, changes, words):
    _, out = feature_run
    bad = rewrite_npz(out / "model.npz", tmp_path / "bad.npz", **changes)
    with pytest.raises(ModelFileError) as info:
        load_model(bad)
    for w in words:
        assert w in str(info.value)


def test_linear_model_on_features_is_plain_logistic_regression(small):
    """The model on top is the package's estimator: standardised features, converged."""
    Xtr, ytr, _, _ = small
    F = make_feature_map("deskew,pca:20").fit_transform(Xtr)
    model = LogisticRegression(C=0.1, scaling="standard").fit(F, ytr)
    assert model.converged_ and model.coef_.shape == (10, 20)


def test_cli_bad_features_is_one_line(capsys):
    from mnist_logreg.cli import main

    assert main(["train", "--features", "deskew,pca:40,wavelets", "--no-figures", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown step 'wavelets'" in err[0] and "accurate" in err[0]


def test_cli_train_with_features(capsys, tmp_path):
    from mnist_logreg.cli import main

    out = tmp_path / "run"
    assert main(["train", "--features", "deskew,pca:30,poly:2", "--train-size", "600", "--quiet",
                 "--out", str(out)]) == 0
    line = capsys.readouterr().out
    assert "features deskew,pca:30,poly:2 (495 columns" in line
    assert (out / "report.html").is_file() and not (out / "coefficients.png").exists()
    report = (out / "report.html").read_text()
    assert "Features: deskew,pca:30,poly:2, 495 columns" in report
    assert (out / "feature_ladder.png").stat().st_size > 1000 and "from raw pixels to feature maps" in report
    assert main(["evaluate", "--model", str(out / "model.npz"), "--out", str(tmp_path / "ev"), "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("test accuracy")


def test_web_page_serves_a_feature_model(feature_run, mnist):
    pytest.importorskip("fastapi")
    import io

    from fastapi.testclient import TestClient
    from PIL import Image

    from mnist_logreg.web.app import create_app

    _, out = feature_run
    model, _, _ = load_model(out / "model.npz")
    client = TestClient(create_app(out / "model.npz"), base_url="http://localhost")
    buf = io.BytesIO()
    Image.fromarray(mnist.X_test[0].reshape(28, 28)).resize((140, 140)).save(buf, format="PNG")
    r = client.post("/api/predict", content=buf.getvalue(), headers={"Content-Type": "image/png"})
    assert r.status_code == 200
    body = r.json()
    assert body["digit"] == int(model.predict(np.array(body["input"]).reshape(1, -1))[0]) == 7
    assert len(body["probabilities"]) == 10
