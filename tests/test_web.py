"""The draw-a-digit server: JSON API (bad requests included) and the page driven in Chromium."""

import base64
import io
import socket
import threading
import time

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from mnist_logreg.web.app import MAX_BODY_BYTES, create_app


@pytest.fixture(scope="module")
def client(model_10k):
    return TestClient(create_app(model_10k[1]), base_url="http://localhost")


def png_of(digit: np.ndarray, size=140) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(digit.reshape(28, 28)).resize((size, size)).save(buf, format="PNG")
    return buf.getvalue()


def test_predict_png_body_and_data_url(client, mnist, model_10k):
    model, _ = model_10k
    digit = mnist.X_test[0]
    expected = int(model.predict(digit.reshape(1, -1))[0])
    r = client.post("/api/predict", content=png_of(digit), headers={"Content-Type": "image/png"})
    assert r.status_code == 200
    body = r.json()
    assert body["digit"] == expected == 7
    assert len(body["probabilities"]) == 10 and abs(sum(body["probabilities"]) - 1) < 1e-9
    assert np.array(body["input"]).shape == (28, 28)
    url = "data:image/png;base64," + base64.b64encode(png_of(digit)).decode()
    r = client.post("/api/predict", json={"image": url})
    assert r.status_code == 200 and r.json()["digit"] == 7


def test_page_and_openapi(client):
    r = client.get("/")
    assert r.status_code == 200 and "<canvas id=\"pad\"" in r.text
    spec = client.get("/openapi.json").json()
    assert "/api/predict" in spec["paths"]
    assert set(spec["paths"]["/api/predict"]["post"]["responses"]) >= {"200", "400", "413", "415", "422"}


@pytest.mark.parametrize(
    ("kwargs", "status", "words"),
    [
        ({"content": b"x" * (MAX_BODY_BYTES + 1), "headers": {"Content-Type": "image/png"}}, 413, "over the limit"),
        ({"content": b"not an image", "headers": {"Content-Type": "image/png"}}, 400, "not an image"),
        ({"content": b"hello", "headers": {"Content-Type": "text/plain"}}, 415, "content type 'text/plain'"),
        ({"json": {"picture": "x"}}, 400, "JSON body: expected"),
        ({"json": {"image": "data:image/png;base64,@@@"}}, 400, "not valid base64"),
        ({"content": b"", "headers": {"Content-Type": "image/png"}}, 400, "empty image"),
    ],
)
def test_bad_requests(client, kwargs, status, words):
    r = client.post("/api/predict", **kwargs)
    assert r.status_code == status
    assert words in r.json()["detail"]
    assert client.get("/").status_code == 200  # still serving


def test_blank_image_is_422(client):
    buf = io.BytesIO()
    Image.new("L", (280, 280), 0).save(buf, format="PNG")
    r = client.post("/api/predict", content=buf.getvalue(), headers={"Content-Type": "image/png"})
    assert r.status_code == 422 and "blank image" in r.json()["detail"]


# ------------------------------------------------------------------ the page in Chromium


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(app):
    """``app`` served in a thread with the options of ``mnist-logreg serve``: (server, thread, url)."""
    import uvicorn

    from mnist_logreg.web.protocol import SERVER_OPTIONS

    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **SERVER_OPTIONS))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "server did not start"
    return srv, thread, port


@pytest.fixture(scope="module")
def server(model_10k):
    srv, thread, port = _start(create_app(model_10k[1]))
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def _stroke(page, points):
    box = page.locator("#pad").bounding_box()
    x0, y0 = box["x"], box["y"]
    page.mouse.move(x0 + points[0][0], y0 + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x0 + x, y0 + y, steps=4)
    page.mouse.up()


@pytest.mark.browser
def test_draw_digits_in_chromium(server):
    from browser import ARTIFACTS, launch

    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1000, "height": 700})
        page.goto(server + "/")
        answer = page.get_by_test_id("answer")
        # a one: a slightly slanted vertical stroke
        _stroke(page, [(150, 40), (145, 120), (140, 200), (137, 245)])
        sync_api.expect(answer).to_have_text("1", timeout=10000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "web-one.png"))
        # a zero: an ellipse
        page.click("#clear")
        sync_api.expect(answer).to_have_text("")
        t = np.linspace(0, 2 * np.pi, 40)
        _stroke(page, list(zip(140 + 60 * np.sin(t), 140 - 95 * np.cos(t), strict=True)))
        sync_api.expect(answer).to_have_text("0", timeout=10000)
        page.screenshot(path=str(ARTIFACTS / "web-zero.png"))
        top = page.locator(".bar.top .k").inner_text()
        assert top == "0"
        warnings_box = page.locator("#warnings")
        assert warnings_box.inner_text() == ""
        # a stroke from the pad's top edge to its bottom edge: read, and the user told it may be cut off
        page.click("#clear")
        _stroke(page, [(140, 2), (140, 140), (140, 278)])
        sync_api.expect(warnings_box).to_contain_text("the ink reaches the image's edge", timeout=10000)
        page.screenshot(path=str(ARTIFACTS / "web-edge.png"))
        page.click("#clear")
        sync_api.expect(warnings_box).to_have_text("")
        browser.close()


def test_binary_model_answers_with_labels(tmp_path, mnist):
    """A digit:2 model's page and API say "2" / "not 2", not the class index."""
    from mnist_logreg import LogisticRegression, save_model
    from mnist_logreg.tasks import parse_task

    X, y = parse_task("digit:2").apply(mnist.X_train[:3000], mnist.y_train[:3000])
    path = tmp_path / "two.npz"
    save_model(LogisticRegression().fit(X, y), path, task="digit:2")
    client = TestClient(create_app(path), base_url="http://localhost")
    two = mnist.X_test[int(np.flatnonzero(mnist.y_test == 2)[0])]
    body = client.post("/api/predict", content=png_of(two), headers={"Content-Type": "image/png"}).json()
    assert body["label"] == "2" and body["digit"] == 2 and body["labels"] == ["not 2", "2"]
    assert body["note"] == "a digit:2 model answers only '2' or 'not 2'"
    seven = mnist.X_test[0]
    body = client.post("/api/predict", content=png_of(seven), headers={"Content-Type": "image/png"}).json()
    assert body["label"] == "not 2" and body["digit"] is None


def test_a_crop_that_looks_wrong_is_reported(client, mnist):
    """The API says when the crop looks wrong ("warnings"); the page shows it (warnings box)."""
    digit = mnist.X_test[0].reshape(28, 28)
    whole = client.post("/api/predict", content=png_of(digit), headers={"Content-Type": "image/png"}).json()
    assert whole["warnings"] == []
    buf = io.BytesIO()
    Image.fromarray(255 - digit).resize((140, 140)).crop((0, 0, 140, 60)).save(buf, format="PNG")
    cut = client.post("/api/predict", content=buf.getvalue(), headers={"Content-Type": "image/png"}).json()
    assert cut["warnings"] and cut["warnings"][0].startswith("uploaded image: the ink reaches the image's edge")
    assert 'id="warnings"' in client.get("/").text


def test_other_host_names_are_refused(model_10k):
    """DNS rebinding: a page served under another name that resolves to 127.0.0.1 gets 400."""
    evil = TestClient(create_app(model_10k[1]), base_url="http://evil.example")
    assert evil.get("/").status_code == 400
    allowed = TestClient(create_app(model_10k[1], allowed_hosts=["digits.lan"]), base_url="http://digits.lan")
    assert allowed.get("/").status_code == 200


def test_deep_json_and_docs(client):
    deep = "[" * 3000 + "]" * 3000
    r = client.post("/api/predict", content=deep.encode(), headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "JSON body" in r.json()["detail"]
    assert client.get("/docs").status_code == 404  # no CDN scripts
    assert client.get("/openapi.json").status_code == 200


def test_huge_images_are_refused_from_the_header(client):
    buf = io.BytesIO()
    Image.new("L", (5000, 5000), 0).save(buf, format="PNG")  # 25 MP, a few KB compressed
    assert len(buf.getvalue()) < MAX_BODY_BYTES
    r = client.post("/api/predict", content=buf.getvalue(), headers={"Content-Type": "image/png"})
    assert r.status_code == 400 and "over the limit" in r.json()["detail"]


def _closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """Whether the server closes ``sock`` within ``seconds``, and what it sent before."""
    sock.settimeout(seconds)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except TimeoutError:
        return False, received
    return True, received


def test_slow_and_silent_connections_are_closed(model_10k, monkeypatch):
    """Half a request line, a request whose body drips, and a connection that sends nothing:
    each is answered 408 (or closed) once the request deadline passes, while a normal request
    on another connection is served meanwhile (uvicorn alone held them open for ever)."""
    from mnist_logreg.web.protocol import DeadlineH11Protocol

    monkeypatch.setattr(DeadlineH11Protocol, "deadline_s", 1.0)
    srv, thread, port = _start(create_app(model_10k[1]))
    try:
        half_line = socket.create_connection(("127.0.0.1", port))
        half_line.sendall(b"GET / HT")
        dripping = socket.create_connection(("127.0.0.1", port))
        dripping.sendall(b"POST /api/predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\n"
                         b"Content-Length: 1000\r\n\r\n" + b"x" * 10)
        silent = socket.create_connection(("127.0.0.1", port))
        normal = socket.create_connection(("127.0.0.1", port))
        normal.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        normal.settimeout(5)
        assert normal.recv(64).startswith(b"HTTP/1.1 200")
        for sock in (half_line, dripping, silent):
            closed, received = _closed_within(sock, 5)
            assert closed, "the server kept a slow connection open past its deadline"
            assert received.startswith(b"HTTP/1.1 408 Request Timeout")
            assert received.endswith(b"the request did not arrive in time\n")
            sock.close()
        # a request that arrives whole in time is not cut, however long the connection lived
        late = socket.create_connection(("127.0.0.1", port))
        time.sleep(0.5)
        late.sendall(b"GET / HT")
        time.sleep(0.3)
        late.sendall(b"TP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        closed, received = _closed_within(late, 5)
        assert closed and received.startswith(b"HTTP/1.1 200")
        late.close()
        normal.close()
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.mark.browser
def test_page_keyboard_live_answer_and_errors(server):
    """Issue 29: the answer is announced (aria-live), Escape clears, Upload is a button reachable by
    keyboard (Enter clicks the file input, which opens the chooser; the file is then set directly,
    since headless Chromium's chooser event is not reliable under load), and an error never stands
    beside an old answer."""
    from browser import launch

    sync_api = pytest.importorskip("playwright.sync_api")
    blank = io.BytesIO()
    Image.new("L", (100, 100), 255).save(blank, format="PNG")
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1000, "height": 700})
        page.goto(server + "/")
        answer = page.get_by_test_id("answer")
        assert answer.get_attribute("aria-live") == "polite"
        _stroke(page, [(150, 40), (145, 120), (140, 200), (137, 245)])
        sync_api.expect(answer).to_have_text("1", timeout=10000)
        page.keyboard.press("Escape")
        sync_api.expect(answer).to_have_text("")
        _stroke(page, [(150, 40), (145, 120), (140, 200), (137, 245)])
        sync_api.expect(answer).to_have_text("1", timeout=10000)
        # Upload is a button: focusable, and Enter activates it (which opens the file chooser)
        assert page.eval_on_selector("#upload-button", "e => e.tagName === 'BUTTON' && e.tabIndex >= 0")
        page.evaluate("window.uploadClicks = 0; document.getElementById('upload')"
                      ".addEventListener('click', () => { window.uploadClicks += 1; })")
        page.focus("#upload-button")
        page.keyboard.press("Enter")
        page.wait_for_function("window.uploadClicks === 1")
        page.set_input_files("#upload", files=[{"name": "blank.png", "mimeType": "image/png",
                                                "buffer": blank.getvalue()}])
        sync_api.expect(page.locator("#error")).to_contain_text("uploaded image: blank image", timeout=10000)
        sync_api.expect(answer).to_have_text("")
        browser.close()


def test_statuses_follow_the_error_s_type(model_10k, monkeypatch):
    """The answer's status comes from the error's class (errors.py), never from its message."""
    from mnist_logreg import predict
    from mnist_logreg._resources import ResourceError
    from mnist_logreg.images import BlankImageError, ImageError
    from mnist_logreg.web.app import http_status

    assert http_status(BlankImageError("x")) == 422 and http_status(ImageError("x")) == 400
    assert http_status(ResourceError("x")) == 503 and http_status(OSError("x")) == 400
    client = TestClient(create_app(model_10k[1]), base_url="http://localhost")
    for error, status in [(BlankImageError("nothing to read here"), 422), (ImageError("blank image"), 400),
                          (ResourceError("decoding it needs 9 GiB of memory"), 503)]:
        def fail(*args, error=error, **kwargs):
            raise error

        monkeypatch.setattr(predict, "read_image", fail)
        r = client.post("/api/predict", content=b"\x89PNG", headers={"Content-Type": "image/png"})
        assert (r.status_code, r.json()["detail"]) == (status, str(error))
