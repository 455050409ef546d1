"""Issue 28: the default model and the digit detector ship inside the package, checksummed, and
every prediction says whether its input looks like one digit.

The detector is measured on images made otherwise than those it learnt from (``nondigits.py``:
letters in the machine's fonts, wandering and spiral scribbles, pairs of *test* digits, faint
marks) and on MNIST's test digits.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import nondigits
import numpy as np
import pytest
from PIL import Image

from mnist_logreg import shipped
from mnist_logreg.modelio import ModelFileError, load_model
from mnist_logreg.predict import NOT_A_DIGIT, read_and_predict


def test_shipped_files_match_their_manifest():
    manifest = json.loads((shipped.shipped_dir() / shipped.MANIFEST).read_text())
    path = shipped.default_model_file()
    assert path is not None
    for name in (shipped.MODEL_FILE, shipped.DETECTOR_FILE):
        entry = manifest["files"][name]
        assert (shipped.shipped_dir() / name).stat().st_size == entry["bytes"]
    model, task, _ = load_model(path)
    assert task == "multiclass" and list(model.classes_) == list(range(10))
    detector = shipped.digit_detector()
    assert detector is not None and np.isfinite(detector.threshold)
    assert manifest["default_model"]["test_accuracy"] >= 0.99


@pytest.fixture()
def tampered(tmp_path, monkeypatch):
    """A copy of the shipped folder whose model has one byte changed, put in the package's place."""
    folder = tmp_path / "_shipped"
    shutil.copytree(shipped.shipped_dir(), folder)
    data = bytearray((folder / shipped.MODEL_FILE).read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / shipped.MODEL_FILE).write_bytes(bytes(data))
    monkeypatch.setattr(shipped, "shipped_dir", lambda: folder)
    return folder


def test_a_changed_shipped_model_is_refused(tampered, tmp_path, mnist, capsys):
    with pytest.raises(ModelFileError, match="SHA-256") as err:
        shipped.default_model_file()
    assert shipped.MODEL_FILE in str(err.value) and "reinstall" in str(err.value)
    from mnist_logreg.cli import main

    image = tmp_path / "seven.png"
    Image.fromarray(255 - mnist.X_test[0].reshape(28, 28)).save(image)
    assert main(["predict", str(image)]) == 2
    assert "does not match its SHA-256" in capsys.readouterr().err


def test_predict_answers_at_once_without_a_model(tmp_path, mnist):
    """A fresh install: no cache, no --model; the shipped model answers, nothing is trained, and
    every JSON row says whether its image looks like a digit."""
    seven = tmp_path / "seven.png"
    Image.fromarray(255 - mnist.X_test[0].reshape(28, 28)).resize((140, 140)).save(seven)
    letter = tmp_path / "letter.png"
    Image.fromarray(nondigits.generate("letters", 1, 3, mnist.X_test)[0].astype(np.uint8)).save(letter)
    blank = tmp_path / "blank.png"
    Image.new("L", (100, 100), 255).save(blank)
    env = {"MNIST_LOGREG_CACHE": str(tmp_path / "empty-cache"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "mnist_logreg", "predict", str(seven), str(letter), str(blank),
                           "--json"], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 1, proc.stderr  # the blank one could not be read
    assert "blank image" in json.loads(proc.stdout)["predictions"][2]["error"]
    assert "training" not in proc.stderr
    rows = json.loads(proc.stdout)["predictions"]
    assert rows[0]["label"] == "7"
    assert all(isinstance(r["looks_like_a_digit"], bool) for r in rows)
    assert rows[0]["looks_like_a_digit"] is True
    assert not (tmp_path / "empty-cache").exists()  # nothing was trained or cached


def test_the_detector_shares_the_default_models_features(mnist):
    """The default model and its detector share their feature steps: one transform serves both,
    with the same answers as two."""
    from mnist_logreg.predict import predict_digits

    model, task, _ = load_model(shipped.default_model_file())
    detector = shipped.digit_detector()
    assert detector is not None and detector.shares_features_with(model)
    X = mnist.X_test[:200]
    shared = predict_digits(model, task, X)
    assert [p["looks_like_a_digit"] for p in shared] == detector.looks_like_a_digit(X).tolist()
    plain = predict_digits(model, task, X, detector=None)
    assert all(p["looks_like_a_digit"] is None for p in plain)
    np.testing.assert_allclose([p["probabilities"] for p in shared], [p["probabilities"] for p in plain], atol=1e-6)
    other, _, _ = load_model(shipped.default_model_file())
    other.steps[-2][1].filters_ = other.steps[-2][1].filters_ * 1.01
    assert not detector.shares_features_with(other)


def test_few_test_digits_are_flagged(mnist):
    detector = shipped.digit_detector()
    assert detector is not None
    flagged = 1 - detector.looks_like_a_digit(mnist.X_test[:3000]).mean()
    assert flagged <= 0.015


@pytest.mark.parametrize(("kind", "at_least"), [("letters", 0.8), ("scribbles", 0.3), ("two digits", 0.9),
                                                 ("marks", 0.8)])
def test_non_digits_are_flagged(kind, at_least, mnist):
    """Each kind of non-digit (made otherwise than the detector's negatives): most are flagged,
    or refused as blank; the text note says so. Scribbles are the weak spot (46% on 300 in
    benchmarks/bench_ood.py): a wandering pen or a small spiral often looks like a 0, 2, 6 or 9."""
    model, task, _ = load_model(shipped.default_model_file())
    images = nondigits.generate(kind, 60, 11, mnist.X_test)
    results = read_and_predict(model, task, images)
    flagged = [r.prediction is None or r.prediction["looks_like_a_digit"] is False for r in results]
    assert np.mean(flagged) >= at_least
    for r in results:
        if r.prediction is not None and r.prediction["looks_like_a_digit"] is False:
            assert r.notes[-1].kind == "not a digit" and r.notes[-1].endswith(NOT_A_DIGIT)


def test_two_digits_read_as_one_are_flagged_by_the_crop(mnist):
    """A pair whose second digit the crop leaves out is not 'one digit', whatever the detector says."""
    model, task, _ = load_model(shipped.default_model_file())
    never = shipped.DigitDetector(model=None, threshold=np.inf)
    never.looks_like_a_digit = lambda digits: np.ones(len(digits), dtype=bool)  # type: ignore[method-assign]
    pairs = nondigits.generate("two digits", 20, 5, mnist.X_test)
    results = read_and_predict(model, task, pairs, detector=never)
    many = [r for r in results if any(n.kind in ("others left out", "too wide") for n in r.notes)]
    assert len(many) >= 10
    assert all(r.prediction is not None and r.prediction["looks_like_a_digit"] is False for r in many)


def test_the_recipe_builds_both_files(tmp_path, mnist):
    """``build`` on a small subset: both files and a manifest whose checksums verify; the detector
    lets about 99% of its held-out digits through and flags its own negatives."""
    folder = shipped.build(tmp_path / "out", data=mnist, train_size=1500, negatives_per_kind=40)
    for name in (shipped.MODEL_FILE, shipped.DETECTOR_FILE):
        assert shipped._verified(name, folder) == folder / name
    detector = shipped.DigitDetector.load(folder / shipped.DETECTOR_FILE)
    kept = detector.looks_like_a_digit(mnist.X_train[:300]).mean()  # the held-out digits
    assert 0.97 <= kept <= 1.0
    assert not list(folder.glob(".*"))  # no temporary file left


# the shipped default model retrained with its recipe: tests/test_full_mnist.py (marked full)
