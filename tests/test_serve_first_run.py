"""Issue 27: ``serve`` without a model listens at once; the page says how far the model's first
training is and answers, without a reload, once it is ready."""

from __future__ import annotations

import io
import threading
import time
from contextlib import contextmanager

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient
from PIL import Image

from mnist_logreg.web.app import create_app


@contextmanager
def _preparing(model_path):
    """An app whose model is 'trained' by a prepare function that waits for ``go``."""
    go = threading.Event()

    def prepare(progress):
        progress.stage("loading the digits")
        progress.stage("making the features (accurate)")
        progress.stage("fitting")
        progress.iteration({"iter": 0, "objective": 100.0, "est_gap": 10.0})
        progress.iteration({"iter": 10, "objective": 50.0, "est_gap": 0.01})
        assert go.wait(30)
        return model_path

    yield create_app(None, prepare=prepare), go


def _png(image):
    buf = io.BytesIO()
    Image.fromarray(image.reshape(28, 28)).save(buf, format="PNG")
    return buf.getvalue()


def test_the_api_says_how_far_the_model_is_then_answers(model_10k, mnist):
    with _preparing(model_10k[1]) as (app, go):
        client = TestClient(app, base_url="http://localhost")
        deadline = time.monotonic() + 10
        while (status := client.get("/api/status").json()).get("stage", "").startswith(("starting", "loading",
                                                                                          "making")):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert status["ready"] is False and status["error"] is None
        assert status["stage"] == "fitting (iteration 10)" and 40 < status["percent"] < 95, status
        assert status["seconds_left"] is not None
        refused = client.post("/api/predict", content=_png(mnist.X_test[1]), headers={"Content-Type": "image/png"})
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "2"
        assert refused.json()["detail"].startswith("the model is being prepared: fitting (iteration 10), ")
        assert client.get("/").status_code == 200  # the page is served meanwhile
        go.set()
        while not client.get("/api/status").json()["ready"]:
            assert time.monotonic() < deadline + 20
            time.sleep(0.05)
        answer = client.post("/api/predict", content=_png(mnist.X_test[1]), headers={"Content-Type": "image/png"})
        assert answer.status_code == 200 and answer.json()["label"] == "2"


def test_a_failed_preparation_is_said_and_the_server_keeps_running():
    def prepare(progress):
        raise OSError("disk full")

    client = TestClient(create_app(None, prepare=prepare), base_url="http://localhost")
    deadline = time.monotonic() + 10
    while not (status := client.get("/api/status").json())["error"]:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert status["ready"] is False and status["error"] == "OSError: disk full", status
    refused = client.post("/api/predict", content=b"x", headers={"Content-Type": "image/png"})
    assert refused.status_code == 503 and "could not be prepared (OSError: disk full)" in refused.json()["detail"]


@pytest.mark.browser
def test_the_page_shows_the_progress_and_answers_without_a_reload(model_10k):
    from browser import ONE, launch, serve_app, stroke

    playwright = pytest.importorskip("playwright.sync_api")
    with _preparing(model_10k[1]) as (app, go), playwright.sync_playwright() as p:
        browser = launch(p)
        try:
            with serve_app(app) as url:
                page = browser.new_page(viewport={"width": 1366, "height": 768})
                page.goto(url)
                page.wait_for_function("document.getElementById('note').textContent.includes('Preparing')")
                note = page.locator("#note").text_content()
                assert "Preparing the model (once): fitting (iteration 10)" in note and "s left" in note, note
                stroke(page, ONE)  # drawn while the model is prepared: answered once it is ready
                go.set()
                page.wait_for_function("document.getElementById('answer').textContent === '1'", timeout=20000)
                assert "Preparing" not in (page.locator("#note").text_content() or "")
        finally:
            browser.close()
