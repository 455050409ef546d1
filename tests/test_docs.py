"""The documentation site builds, its links and images resolve, and its pages work in a browser.

One test (one build, about 30 s on 2 cores): ``sphinx-build -W`` on a copy of ``docs/`` (the
tutorial is executed, the API reference generated; warnings are errors), then every internal
link and image of the built HTML is checked, then headless Chromium opens the front page and the
tutorial (rendered, no console errors) and the search page (it finds ``LogisticRegression``).
Marked ``docs``: ``pytest -m "not docs"`` skips it locally; CI always runs it.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
import threading
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.docs


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        for name in ("href", "src"):
            value = attrs.get(name)
            if value and (tag in ("a", "img", "script", "link")):
                self.links.append(value)


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser


def _broken_links(html_dir: Path) -> list[str]:
    """Internal links (files and #anchors) and images that do not resolve in the built site."""
    pages = {p: _parse(p) for p in html_dir.rglob("*.html") if "_static" not in p.relative_to(html_dir).parts}
    broken = []
    for page, parsed in pages.items():
        for link in parsed.links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith("//") or link.startswith("mailto:"):
                continue  # external: not fetched (the build is offline)
            target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(html_dir)}: {link}")
                continue
            if parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{page.relative_to(html_dir)}: {link} (no such anchor)")
    return broken


@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    source = tmp_path_factory.mktemp("docs") / "docs"
    shutil.copytree(ROOT / "docs", source, ignore=shutil.ignore_patterns("_build", "tutorial", "generated"))
    out = source / "_build" / "html"
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(source),
                           str(out)], capture_output=True, text=True, timeout=900, cwd=source,
                          env={**__import__("os").environ, "MPLBACKEND": "Agg"})
    assert proc.returncode == 0, f"sphinx-build failed:\n{proc.stderr[-5000:]}"
    return out


@pytest.mark.browser
def test_docs_build_links_and_pages(built_site):
    out = built_site
    for page in ("index.html", "getting-started.html", "tutorial/plot_journey.html", "api.html",
                 "generated/mnist_logreg.LogisticRegression.html", "user-guide/cli.html", "solver.html",
                 "scikit-learn.html", "architecture.html", "search.html"):
        assert (out / page).is_file(), page
    tutorial = (out / "tutorial" / "plot_journey.html").read_text()
    figures = set(re.findall(r'src="[^"]*(sphx_glr_plot_journey_\d+\.png)"', tutorial))
    assert len(figures) >= 7, f"the tutorial's figures are missing: {sorted(figures)}"
    assert "test accuracy" in tutorial  # its printed output is there: it was executed
    assert not _broken_links(out), "\n".join(_broken_links(out)[:30])

    from browser import launch
    from playwright.sync_api import sync_playwright

    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(out))
    handler.log_message = lambda *args: None
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        with sync_playwright() as pw:
            browser = launch(pw)
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            for path, heading in (("/index.html", "mnist-logreg"),
                                  ("/tutorial/plot_journey.html", "From pixels to a confusion matrix")):
                page.goto(base + path)
                page.wait_for_load_state("networkidle")
                assert heading in page.locator("h1").first.inner_text()
                assert page.locator("img").count() >= 1
            page.goto(base + "/search.html?q=LogisticRegression")
            page.wait_for_selector("#search-results li, ul.search li", timeout=15000)
            found = page.locator("#search-results").inner_text()
            assert "LogisticRegression" in found, found[:500]
            assert not errors, errors
            browser.close()
    finally:
        httpd.shutdown()
