"""The one predict path (issue 26): ``predict_digits`` and ``read_and_predict``, shared by the
command and the web page."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from mnist_logreg.errors import InputError, NoDigitError
from mnist_logreg.images import BlankImageError, ImageError, read_image
from mnist_logreg.modelio import load_model
from mnist_logreg.predict import predict_digits, read_and_predict
from mnist_logreg.tasks import parse_task


@pytest.fixture(scope="module")
def images(tmp_path_factory, mnist):
    """Five test digits as dark-on-white PNG files, and a blank one and a broken one."""
    folder = tmp_path_factory.mktemp("digits")
    paths = []
    for i in range(5):
        path = folder / f"d{i}.png"
        Image.fromarray(255 - mnist.X_test[i].reshape(28, 28)).resize((140, 140)).save(path)
        paths.append(path)
    Image.new("L", (140, 140), 255).save(folder / "blank.png")
    (folder / "broken.png").write_bytes(b"not a png at all")
    return paths, folder / "blank.png", folder / "broken.png"


def test_predict_digits_labels_each_row(model_10k, mnist):
    model, _ = model_10k
    X = mnist.X_test[:20]
    got = predict_digits(model, "multiclass", X)
    proba = model.predict_proba(X)
    assert [g["digit"] for g in got] == model.predict(X).tolist()
    assert [g["label"] for g in got] == [str(d) for d in model.predict(X)]
    for g, p in zip(got, proba, strict=True):
        assert g["probabilities"] == pytest.approx(p.tolist())
        assert [label for label, _ in g["top3"]] == [str(c) for c in model.classes_[np.argsort(-p)[:3]]]
        assert g["top3"][0][1] >= g["top3"][1][1] >= g["top3"][2][1]
    assert predict_digits(model, parse_task("multiclass"), X.reshape(-1, 28, 28)) == got  # Task or text, 2-D or 3-D
    assert predict_digits(model, "multiclass", []) == []


def test_predict_digits_names_binary_answers(mnist):
    from mnist_logreg import LogisticRegression
    from mnist_logreg.tasks import binary_target

    X, y = mnist.X_train[:2000], mnist.y_train[:2000]
    model = LogisticRegression().fit(X, binary_target(y, 2))
    got = predict_digits(model, "digit:2", mnist.X_test[:2])  # a 7 and a 2
    assert [(g["label"], g["digit"]) for g in got] == [("not 2", None), ("2", 2)]
    assert len(got[0]["top3"]) == 2  # a binary model has two classes


def test_read_and_predict_reads_each_source_and_keeps_going(model_10k, images):
    model, _ = model_10k
    paths, blank, broken = images
    results = read_and_predict(model, "multiclass", [paths[0], broken, blank, paths[1]])
    assert [r.ok for r in results] == [True, False, False, True]
    assert [r.name for r in results] == [str(paths[0]), str(broken), str(blank), str(paths[1])]
    assert isinstance(results[1].error, ImageError) and not isinstance(results[1].error, NoDigitError)
    assert isinstance(results[2].error, BlankImageError) and isinstance(results[2].error, NoDigitError)
    assert all(isinstance(r.error, InputError) and r.prediction is None and r.input is None for r in results[1:3])
    for r, path in ((results[0], paths[0]), (results[3], paths[1])):
        digit, notes = read_image(path)
        np.testing.assert_array_equal(r.input, digit)
        assert r.notes == notes and r.error is None
        alone = predict_digits(model, "multiclass", [digit])[0]  # (a batch of one may round otherwise)
        assert (r.prediction["label"], r.prediction["digit"]) == (alone["label"], alone["digit"])
        assert r.prediction["probabilities"] == pytest.approx(alone["probabilities"], rel=1e-9, abs=1e-15)
    named = read_and_predict(model, "multiclass", [paths[0].read_bytes()], names=["my drawing"])
    assert named[0].name == "my drawing" and named[0].prediction["label"] == results[0].prediction["label"]
    with pytest.raises(ImageError, match="over the limit of 100"):
        raise read_and_predict(model, "multiclass", [paths[0]], max_pixels=100)[0].error


def test_the_command_s_answers_are_predict_digits_s(model_10k, images):
    """``mnist-logreg predict --json`` (a subprocess) gives what predict_digits gives for the same images."""
    _, model_path = model_10k
    paths, _, _ = images
    proc = subprocess.run([sys.executable, "-m", "mnist_logreg", "predict", "--model", str(model_path), "--json",
                           *map(str, paths)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)["predictions"]
    model, task, _ = load_model(model_path)
    expected = predict_digits(model, task, [read_image(p)[0] for p in paths])
    assert [p["file"] for p in shown] == list(map(str, paths))
    assert [(p["label"], p["digit"]) for p in shown] == [(e["label"], e["digit"]) for e in expected]
    for p, e in zip(shown, expected, strict=True):
        assert [label for label, _ in p["top3"]] == [label for label, _ in e["top3"]]
        assert [q for _, q in p["top3"]] == pytest.approx([q for _, q in e["top3"]], rel=1e-9, abs=1e-15)
