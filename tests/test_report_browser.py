"""report.html rendered in headless Chromium: the accuracy and every figure are visible."""

import json

import pytest
from browser import ARTIFACTS, launch

from mnist_logreg.pipeline import TrainOptions, train
from mnist_logreg.report import BINARY_ONLY, FIGURES

pytestmark = pytest.mark.browser


def test_report_renders_every_figure(tmp_path, mnist):
    sync_api = pytest.importorskip("playwright.sync_api")
    # a path over C, so that every figure (the regularisation path's too) is in the report
    metrics = train(TrainOptions(train_size=3000, C=[0.01, 1.0]), out=tmp_path / "run", data=mnist)
    page_file = tmp_path / "run" / "report.html"
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(page_file.as_uri())
        shown = page.locator("#accuracy").inner_text()
        assert shown == f"{metrics['test']['accuracy']:.2%}"
        images = page.evaluate(
            "() => Array.from(document.images).map(i => ({alt: i.alt, ok: i.complete && i.naturalWidth > 0,"
            " w: i.getBoundingClientRect().width, h: i.getBoundingClientRect().height}))"
        )
        # the example digits of the top confusions first (beside their list), then every figure
        assert [i["alt"] for i in images] == ["Example digits of each top confusion"] + [
            c for name, c in FIGURES.items() if name not in BINARY_ONLY and name != "coefficients_readable.png"]
        assert page.locator("#appendix img").count() == 3  # a grid of digits, mean images, pixel correlations
        assert page.locator("#confusions img").count() == 1
        # the learning curve: sizes below the 3,000 training digits, then the run itself
        assert [r["n"] for r in metrics["learning_curve"]] == [500, 1000, 2000, 3000]
        text = page.locator("#train-test").inner_text()
        assert "from 2,000 to 3,000 training digits, test accuracy went from" in text
        for img in images:
            assert img["ok"] and img["w"] > 50 and img["h"] > 50, json.dumps(img)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        browser.close()
