"""Screenshots of the draw-a-digit page and of a report, for the documentation (``make gallery``).

Usage: ``python examples/screenshots.py RUN_DIR OUT_DIR``

Starts ``mnist-logreg serve`` on a free port with ``RUN_DIR/model.npz``, draws a seven in headless
Chromium (Debian's ``chromium`` when installed, else Playwright's own browser) and saves:

- ``web-page.png``: the page answered, on a laptop (1366x768);
- ``web-page-phone.png``: the same on a phone (390x844);
- ``report.png``: the first screen of ``RUN_DIR/report.html`` on a laptop (1366x768).

PNG at device scale 1, so each is tens to a few hundred KB. Needs the ``web`` and ``test`` extras
(fastapi, uvicorn, playwright).
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

#: a seven: the bar, then the stem (pixels from the pad's top-left corner; the pad is 280x280)
SEVEN = [[(70, 60), (210, 60)], [(210, 60), (160, 150), (125, 240)]]
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, server: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"mnist-logreg serve stopped (exit {server.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"{url} did not answer in {seconds:.0f} s")


def _draw(page, strokes) -> None:
    box = page.locator("#pad").bounding_box()
    for points in strokes:
        page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=8)
        page.mouse.up()


def _page_shot(browser, url: str, viewport: tuple[int, int], path: Path) -> str:
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]}, device_scale_factor=1)
    page.goto(url)
    _draw(page, SEVEN)
    page.wait_for_function("document.getElementById('answer').textContent !== ''", timeout=20000)
    page.wait_for_timeout(300)  # the bars' transition
    answer = page.get_by_test_id("answer").inner_text()
    page.screenshot(path=str(path))
    page.close()
    return answer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a run folder (model.npz, report.html)")
    parser.add_argument("out_dir", type=Path, help="where the PNGs go (docs/images)")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    model, report = args.run_dir / "model.npz", args.run_dir / "report.html"
    for f in (model, report):
        if not f.is_file():
            sys.exit(f"{f}: not found (run mnist-logreg train --out {args.run_dir} first)")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "mnist_logreg", "serve", "--model", str(model),
                               "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_for(url, server)
        with sync_playwright() as p:
            chromium = shutil.which("chromium")
            browser = p.chromium.launch(executable_path=chromium, headless=True, args=FLAGS)
            for name, viewport in [("web-page.png", (1366, 768)), ("web-page-phone.png", (390, 844))]:
                answer = _page_shot(browser, url, viewport, args.out_dir / name)
                print(f"{args.out_dir / name}: the page at {viewport[0]}x{viewport[1]}, answered {answer!r}")
            page = browser.new_page(viewport={"width": 1366, "height": 768}, device_scale_factor=1)
            page.goto(report.resolve().as_uri())
            page.screenshot(path=str(args.out_dir / "report.png"))
            print(f"{args.out_dir / 'report.png'}: the report's first screen at 1366x768")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
