"""Issue 29, report.html in Chromium: it fits a phone, every figure opens at full size, and a two-class
run gets its own view (a 2x2 confusion table with counts and rates, the ROC / PR figure beside it).

Before: at 390 px the per-class table held its grid column at 398 px wide, so the page scrolled 40 px
sideways; the figures could only be seen at the column's width; a digit:2 report showed a 2x2 heatmap
and the ROC / PR curves among the other figures, with no counts or rates in words.
"""

from __future__ import annotations

import json

import pytest
from browser import launch, overflow_px

from mnist_logreg.pipeline import TrainOptions, train
from mnist_logreg.report import FIGURES

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def runs(mnist, tmp_path_factory):
    """A ten-class and a digit:2 run of 500 training digits: {name: run folder}."""
    root = tmp_path_factory.mktemp("runs")
    train(TrainOptions(train_size=500), out=root / "multiclass", data=mnist)
    train(TrainOptions(train_size=500, task="digit:2"), out=root / "digit2", data=mnist)
    return {"multiclass": root / "multiclass", "digit2": root / "digit2"}


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.mark.parametrize("run", ["multiclass", "digit2"])
def test_no_horizontal_overflow_on_a_phone(runs, browser, run):
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto((runs[run] / "report.html").as_uri())
    assert overflow_px(page) <= 0
    # wide tables scroll inside their own box, which keyboard users can reach
    for box in page.locator("main .scroll").all():
        assert box.get_attribute("tabindex") == "0" and box.get_attribute("role") == "region"
    page.close()


@pytest.mark.parametrize("run", ["multiclass", "digit2"])
def test_every_figure_opens_at_full_size(runs, browser, run):
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    page.goto((runs[run] / "report.html").as_uri())
    figures = page.locator("main img")
    assert figures.count() == page.locator("main a.zoom > img").count() >= 10  # every figure is a link
    dialog, big = page.locator("dialog#full"), page.locator("#full-image")
    for i in range(figures.count()):
        img = figures.nth(i)
        img.scroll_into_view_if_needed()
        img.click()
        sync_api.expect(dialog).to_be_visible()
        assert big.get_attribute("src") == img.get_attribute("src")
        assert big.get_attribute("alt") == img.get_attribute("alt")
        natural, shown = big.evaluate("i => [i.naturalWidth, i.getBoundingClientRect().width]")
        assert natural > 0 and shown == natural, "the dialog shows the figure scaled, not at full size"
        page.keyboard.press("Escape")
        sync_api.expect(dialog).to_be_hidden()
    # by keyboard: Enter on a focused figure opens it, the Close button closes it
    page.locator("main a.zoom").first.focus()
    page.keyboard.press("Enter")
    sync_api.expect(dialog).to_be_visible()
    page.click("#full-close")
    sync_api.expect(dialog).to_be_hidden()
    page.close()


def test_binary_layout(runs, browser):
    m = json.loads((runs["digit2"] / "metrics.json").read_text())
    negative, positive = m["test"]["class_names"]
    assert (negative, positive) == ("not 2", "2")
    (tn, fp), (fn, tp) = m["test"]["confusion_matrix"]
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    page.goto((runs["digit2"] / "report.html").as_uri())
    section = page.locator("#binary")
    assert section.locator("h2").inner_text() == "2 against not 2"
    table = page.locator("#confusion-2x2")
    assert [h.inner_text() for h in table.locator("th").all()] == [
        "answered 2", "answered not 2", "total", "true 2", "true not 2"]

    def count_and_share(cell):
        text = page.locator(cell).inner_text()
        count, _, words = text.partition("\n")
        return int(count), words

    for cell, count, name, row in [("#tp", tp, "true positives", tp + fn), ("#fn", fn, "false negatives", tp + fn),
                                   ("#fp", fp, "false positives", tn + fp), ("#tn", tn, "true negatives", tn + fp)]:
        shown, words = count_and_share(cell)
        assert shown == count
        assert words.startswith(f"{name}: {100 * count / row:.2f}% of true ")
    rates = {r.get_attribute("id"): r.locator("td.value").inner_text() for r in page.locator("#rates tr[id]").all()}
    expected = {"rate-tpr": tp / (tp + fn), "rate-fnr": fn / (tp + fn), "rate-fpr": fp / (fp + tn),
                "rate-tnr": tn / (fp + tn), "rate-precision": tp / (tp + fp), "rate-npv": tn / (tn + fn),
                "rate-f1": 2 * tp / (2 * tp + fp + fn), "rate-balanced": (tp / (tp + fn) + tn / (tn + fp)) / 2,
                "rate-accuracy": (tp + tn) / (tp + tn + fp + fn)}
    assert rates == {k: f"{100 * v:.2f}%" for k, v in expected.items()}
    assert rates["rate-accuracy"] == page.locator("#accuracy").inner_text()
    # the majority baseline stays beside the accuracy
    assert "always answering the most common class, not 2, would score" in page.locator("#baseline").inner_text()
    # the ROC / PR figure is in the two-class section, in view on a laptop's first screen, beside the table
    roc = section.locator("#pr-roc img")
    assert roc.get_attribute("alt") == FIGURES["pr_roc.png"]
    box, table_box = roc.bounding_box(), table.bounding_box()
    assert box["y"] < 768 and box["width"] > 600 and box["x"] > table_box["x"] + table_box["width"]
    assert page.locator("#figures img[alt^='Binary tasks']").count() == 0  # not shown twice
    assert page.locator("nav a[href='#binary']").inner_text() == "2 against not 2"
    page.close()


def test_multiclass_has_no_binary_section(runs, browser):
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    page.goto((runs["multiclass"] / "report.html").as_uri())
    assert page.locator("#binary").count() == 0 and page.locator("nav a[href='#binary']").count() == 0
    page.close()
