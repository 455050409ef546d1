"""The ``best`` preset's parts: the pooling grid of ``patches:K:G``, distorted copies of the
training digits in the in-memory flow (``train --augment``), and their model files."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from mnist_logreg import LogisticRegression, load_model, save_model
from mnist_logreg._sources import MemorySource, augment_copies
from mnist_logreg.errors import OptionError
from mnist_logreg.features import PRESETS, FeatureSpecError, make_feature_map, parse_features, preset_augment
from mnist_logreg.features.spec import output_width, step_params
from mnist_logreg.modelio import feature_spec
from mnist_logreg.pipeline import TrainOptions, train
from mnist_logreg.tasks import parse_task


def test_a_pooling_grid_parses_and_builds():
    assert parse_features("deskew,patches:8:5") == [("deskew", None), ("patches", 8)]
    assert step_params("deskew,patches:8:5") == [{}, {"pool_grid": 5}]
    assert step_params("patches:8") == [{}]
    fmap = make_feature_map("deskew,patches:8:5")
    assert fmap is not None and fmap.named_steps["patches"].pool_grid == 5
    assert make_feature_map("patches:8").named_steps["patches"].pool_grid == 3
    assert output_width("patches:8:5") == [2 * 8 * 25] and output_width("patches:8:1") == [2 * 8]


@pytest.mark.parametrize(("spec", "words"), [
    ("patches:8:0", ["pooling grid", "from 1 to 12", "found 0"]),
    ("patches:8:13", ["from 1 to 12", "found 13"]),
    ("patches:8:x", ["patches:K:G", "'patches:8:x'"]),
    ("pca:8:2", ["pca:N", "'pca:8:2'"]),
])
def test_bad_pooling_grids_are_named(spec, words):
    with pytest.raises(FeatureSpecError) as info:
        parse_features(spec)
    for w in words:
        assert w in str(info.value)


def test_the_best_preset_parses_and_augments():
    best = PRESETS["best"]
    assert parse_features("best") == parse_features(best.spec)
    assert best.augment >= 1 and preset_augment(" best ") == best.augment
    assert preset_augment("accurate") == 0 and preset_augment(best.spec) == 0  # a spec: no copies
    assert augment_copies(TrainOptions(features="best")) == best.augment
    assert augment_copies(TrainOptions(features="best", augment=0)) == 0
    assert augment_copies(TrainOptions(features="deskew", augment=3)) == 3


def test_a_pooling_grid_is_saved_and_loaded(small, tmp_path):
    Xtr, ytr, Xte, _ = small
    fmap = make_feature_map("deskew,patches:6:4")
    model = Pipeline([*fmap.steps, ("logreg", LogisticRegression(scaling="standard", max_iter=300))])
    model.fit(Xtr[:300], ytr[:300])
    assert feature_spec(model) == "deskew,patches:6:4"
    save_model(model, tmp_path / "m.npz")
    loaded, _, _ = load_model(tmp_path / "m.npz")
    assert loaded.named_steps["patches"].pool_grid == 4 and feature_spec(loaded) == "deskew,patches:6:4"
    np.testing.assert_allclose(loaded.predict_proba(Xte[:100]), model.predict_proba(Xte[:100]), rtol=1e-6, atol=1e-9)


def _source(mnist, **kw):
    opts = TrainOptions(train_size=400, figures=False, **kw)
    return MemorySource(opts, mnist, parse_task(opts.task))


def test_augmented_features_are_seeded(mnist):
    a = _source(mnist, features="patches:4", augment=2).features()
    b = _source(mnist, features="patches:4", augment=2).features()
    c = _source(mnist, features="patches:4", augment=2, seed=1).features()
    source = _source(mnist, features="patches:4", augment=2)
    assert a.F.shape == (1200, 2 * 4 * 9)
    np.testing.assert_array_equal(a.y, np.tile(source.y, 3))
    np.testing.assert_array_equal(a.F, b.F)
    # the first rows are the digits themselves, the copies differ from them
    np.testing.assert_array_equal(a.F[:400], a.feature_map.transform(source.X))
    assert not np.allclose(a.F[400:800], a.F[:400])
    assert not np.array_equal(np.sort(c.F[400:], axis=None), np.sort(a.F[400:], axis=None))
    plain = _source(mnist, features="patches:4").features()
    assert plain.y is None and plain.F.shape == (400, 72)


def test_train_with_copies_saves_a_model_that_loads(mnist, tmp_path):
    m = train(TrainOptions(features="patches:4:2", augment=1, train_size=400, figures=False), out=tmp_path / "r",
              data=mnist)
    assert m["fit"]["augment"] == 1 and m["fit"]["features"] == "patches:4:2"
    assert m["fit"]["n_features"] == 2 * 4 * 4 and m["data"]["n_train"] == 400
    model, _, _ = load_model(tmp_path / "r" / "model.npz")
    assert model.named_steps["patches"].pool_grid == 2
    assert model.score(mnist.X_test, mnist.y_test) == pytest.approx(m["test"]["accuracy"], abs=1e-6)


@pytest.mark.parametrize(("kw", "words"), [
    ({"augment": -1}, ["augment", "from 0 to", "-1"]),
    ({"augment": 1.5}, ["augment", "1.5"]),
    ({"augment": 1, "workers": 2}, ["augment", "data augment", "train"]),
])
def test_bad_augment_options_are_named(mnist, tmp_path, kw, words):
    with pytest.raises(OptionError) as info:
        train(TrainOptions(train_size=100, figures=False, **kw), out=tmp_path / "r", data=mnist)
    for w in words:
        assert w in str(info.value)
    assert not (tmp_path / "r").exists()


def test_the_memory_check_counts_the_copies(monkeypatch):
    from mnist_logreg import pipeline

    asked: list[float] = []
    monkeypatch.setattr(pipeline, "check_memory", lambda needed, what: asked.append(needed))
    pipeline._check_feature_memory("accurate", 10_000, 0)
    pipeline._check_feature_memory("accurate", 10_000, 2)
    per_row = 8 * 1152
    assert asked[1] - asked[0] == pytest.approx(2 * 10_000 * per_row)
