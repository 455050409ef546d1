"""Issue 28: why the model answered what it did (``mnist_logreg.explain``, ``predict --explain``,
``POST /api/predict?explain=1`` and the page's toggle).

On pixels the evidence is exactly the coefficient difference of the answer and the runner-up
times the input; on a feature map it must still point at the ink that matters: taking away the
ink it marks red lowers the answer's log-odds more than taking away as much ink at random, and
taking away the blue ink raises them.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from mnist_logreg.explain import explain_digit
from mnist_logreg.modelio import load_model
from mnist_logreg.shipped import default_model_file


def _log_odds(model, X, a, b):
    P = model.predict_proba(np.asarray(X, dtype=np.float64).reshape(len(X), -1))
    return np.log(P[:, a]) - np.log(P[:, b])


def test_on_pixels_the_evidence_is_coefficients_times_input(model_10k, mnist):
    model, _ = model_10k
    for x in mnist.X_test[:5]:
        e = explain_digit(model, "multiclass", x)
        a, b = (list(model.classes_).index(int(c)) for c in (e.answer, e.runner_up))
        x = x.astype(np.float64)
        # the decision function is linear in the pixels: its coefficients per pixel, measured
        D0 = model.decision_function(np.zeros((1, 784)))[0]
        D1 = model.decision_function(np.eye(784))
        per_pixel = (D1[:, a] - D0[a]) - (D1[:, b] - D0[b])
        assert e.method == "pixels"
        np.testing.assert_allclose(e.evidence.ravel(), per_pixel * x, rtol=1e-4, atol=1e-6)
        assert np.all(e.evidence.ravel()[x == 0] == 0)
        assert e.log_odds > 0


@pytest.fixture(scope="module")
def default_model():
    model, task, _ = load_model(default_model_file())
    return model, task


def test_on_features_the_evidence_marks_the_ink_that_matters(default_model, mnist):
    model, task = default_model
    rng = np.random.default_rng(0)
    red_drop, random_drop, blue_change = [], [], []
    for x in mnist.X_test[:25]:
        e = explain_digit(model, task, x)
        assert e.method == "occlusion"
        classes = [str(c) for c in model.classes_]
        a, b = classes.index(e.answer), classes.index(e.runner_up)
        ev, flat = e.evidence.ravel(), x.astype(np.float64).ravel()
        ink = np.flatnonzero(flat > 0)
        k = max(1, len(ink) // 5)
        base = _log_odds(model, flat[None], a, b)[0]

        def without(pixels, flat=flat, a=a, b=b):
            y = flat.copy()
            y[pixels] = 0
            return _log_odds(model, y[None], a, b)[0]

        red_drop.append(base - without(ink[np.argsort(-ev[ink])[:k]]))
        random_drop.append(base - without(rng.choice(ink, k, replace=False)))
        blue = ink[ev[ink] < 0]
        if len(blue):
            blue_change.append(without(blue[np.argsort(ev[blue])[: min(k, len(blue))]]) - base)
    assert np.mean(red_drop) > 2 * np.mean(random_drop) > 0
    assert np.mean(np.array(blue_change) > 0) >= 0.8


def test_the_explanation_document(default_model, mnist):
    model, task = default_model
    doc = explain_digit(model, task, mnist.X_test[0]).to_dict()
    assert np.asarray(doc["evidence"]).shape == (28, 28)
    assert doc["answer"] == "7" and doc["runner_up"] != "7"
    assert f"towards {doc['answer']}" in doc["sentence"] and f"towards {doc['runner_up']}" in doc["sentence"]
    with pytest.raises(ValueError, match="784"):
        explain_digit(model, task, np.zeros(10))


def test_predict_explain_writes_a_figure(tmp_path, mnist):
    paths = []
    for i in range(2):
        path = tmp_path / f"digit{i}.png"
        Image.fromarray(255 - mnist.X_test[i].reshape(28, 28)).resize((112, 112)).save(path)
        paths.append(str(path))
    out = tmp_path / "why.png"
    proc = subprocess.run([sys.executable, "-m", "mnist_logreg", "predict", *paths, "--explain", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with Image.open(out) as img:
        assert img.format == "PNG" and img.height > img.width  # one row per image
        rgb = np.asarray(img.convert("RGB"), dtype=int)
    red, blue = rgb[..., 0] - rgb[..., 2], rgb[..., 2] - rgb[..., 0]
    assert (red > 60).sum() > 500 and (blue > 60).sum() > 500  # the maps and their colour bars
    folder = tmp_path / "a-folder"
    folder.mkdir()
    proc = subprocess.run([sys.executable, "-m", "mnist_logreg", "predict", paths[0], "--explain", str(folder)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "a-folder" in proc.stderr and "Traceback" not in proc.stderr


def test_the_api_explains_on_request(mnist):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from mnist_logreg.web.app import create_app

    client = TestClient(create_app(default_model_file()), base_url="http://localhost")
    import io

    buf = io.BytesIO()
    Image.fromarray(255 - mnist.X_test[1].reshape(28, 28)).resize((140, 140)).save(buf, format="PNG")
    plain = client.post("/api/predict", content=buf.getvalue(), headers={"Content-Type": "image/png"})
    assert plain.status_code == 200 and plain.json()["explanation"] is None
    assert plain.json()["looks_like_a_digit"] is True
    got = client.post("/api/predict?explain=1", content=buf.getvalue(), headers={"Content-Type": "image/png"})
    assert got.status_code == 200
    doc = got.json()["explanation"]
    assert doc["answer"] == got.json()["label"] == "2"
    assert np.asarray(doc["evidence"]).shape == (28, 28)
    assert np.max(doc["evidence"]) > 0


@pytest.mark.browser
def test_the_page_explains_when_asked():
    """In Chromium: tick "Explain the answer", draw a 1; the evidence map and its sentence appear,
    with red ink on it; unticked, they go."""
    pytest.importorskip("fastapi")
    sync_api = pytest.importorskip("playwright.sync_api")
    from browser import ONE, launch, serve_app, stroke

    from mnist_logreg.web.app import create_app

    with serve_app(create_app(default_model_file())) as url, sync_api.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(url + "/")
        page.get_by_label("Explain the answer").check()
        stroke(page, ONE)
        sync_api.expect(page.get_by_test_id("answer")).to_have_text("1", timeout=20000)
        panel = page.locator("#why-panel")
        sync_api.expect(panel).to_be_visible(timeout=20000)
        sync_api.expect(page.locator("#why-text")).to_contain_text("towards 1", timeout=20000)
        # the map of the last answer: some of its ink deep red (towards the 1)
        page.wait_for_function("Array.from(document.getElementById('why').getContext('2d')"
                               ".getImageData(0, 0, 28, 28).data)"
                               ".filter((v, i, a) => i % 4 === 0 && v === 255 && a[i + 1] < 128).length > 5",
                               timeout=20000)
        page.get_by_label("Explain the answer").uncheck()
        sync_api.expect(panel).to_be_hidden()
        browser.close()
