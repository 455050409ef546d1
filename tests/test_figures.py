"""Every figure of a run, for binary, pair and multiclass tasks: no two texts overlap.

The figures are those ``train`` writes (caught on their way to ``save_figure``), drawn with
Agg; every visible, non-empty text's window extent is compared with every other's.
"""

import itertools

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.text import Text

from mnist_logreg import pipeline, plots
from mnist_logreg.pipeline import TrainOptions, train


def _overlaps(fig, tolerance_px: float = 1.0) -> list[tuple[str, str]]:
    FigureCanvasAgg(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    hidden = set()  # texts matplotlib keeps but never draws
    for ax in fig.axes:
        if not ax.axison:  # the tick labels of axes that are switched off
            hidden.update(id(t) for t in ax.findobj(Text) if t is not ax.title)
        for axis in (ax.xaxis, ax.yaxis):  # ticks outside the view limits
            lo, hi = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not lo - 1e-9 * abs(hi - lo) <= tick.get_loc() <= hi + 1e-9 * abs(hi - lo):
                    hidden.update((id(tick.label1), id(tick.label2)))
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip() and id(t) not in hidden]
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    found = []
    for (a, ba), (b, bb) in itertools.combinations(boxes, 2):
        w = min(ba.x1, bb.x1) - max(ba.x0, bb.x0)
        h = min(ba.y1, bb.y1) - max(ba.y0, bb.y0)
        if w > tolerance_px and h > tolerance_px:
            found.append((a, b))
    return found


@pytest.mark.parametrize("task", ["multiclass", "digit:2", "pair:3,5"])
def test_no_text_overlaps_in_any_figure(task, mnist, tmp_path, monkeypatch):
    figures = {}
    save = plots.save_figure

    def keep(fig, path, *args, **kwargs):
        figures[str(path).rsplit("/", 1)[-1]] = fig
        return save(fig, path, *args, **kwargs)

    monkeypatch.setattr(plots, "save_figure", keep)
    monkeypatch.setattr(pipeline.plots, "save_figure", keep)
    train(TrainOptions(task=task, train_size=1500, C=[0.1, 1.0]), out=tmp_path / "run", data=mnist)
    assert {"coefficients.png", "misclassified.png", "regularisation_path.png"} <= set(figures)
    assert ("pr_roc.png" in figures) == (task != "multiclass")  # the curves of a binary decision
    path_run = dict(figures)
    figures.clear()
    train(TrainOptions(task=task, train_size=1500), out=tmp_path / "plain", data=mnist)  # no path: C = 1
    assert {"coefficients_readable.png", "learning_curve.png", "confusion_examples.png"} <= set(figures)
    assert "coefficients_readable.png" not in path_run  # a path shows its own coefficient images
    # the appendix shows the task's digits only
    shown = [ax for ax in figures["mean_images.png"].axes if ax.images]
    assert len(shown) == (2 if task == "pair:3,5" else 10)
    figures.update({f"path/{name}": fig for name, fig in path_run.items()})
    problems = {name: _overlaps(fig) for name, fig in figures.items()}
    problems = {name: found for name, found in problems.items() if found}
    assert not problems, problems


def test_predict_show_input_grid_has_no_overlaps(mnist):
    """The figure of ``predict --show-input``: long file names under a title."""
    labels = [f"a_rather_long_photo_name_{i}.jpeg\n→ not 2" for i in range(8)]
    fig = plots.digit_grid(mnist.X_test[:8], labels, cols=8, title="What the model saw (28x28)")
    assert not _overlaps(fig)


def _overlaps_data(fig, legend) -> list[str]:
    """The axes whose plotting area the legend covers (after a draw, in display pixels)."""
    fig.canvas.draw() if fig.canvas is not None else None
    box = legend.get_window_extent()
    return [a.get_title() or "axes" for a in fig.axes if a.get_window_extent().overlaps(box)]


def test_legends_never_cover_the_data():
    """Issue 29: feature_ladder's "this run" legend sat on the accurate bar (reading as 98%) and the
    path's legend covered the points of the smallest C; both legends sit outside every axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from mnist_logreg import plots

    ladder = plots.feature_ladder(["pixels", "deskew", "accurate"], [0.9255, 0.9558, 0.9916], current="pixels",
                                  current_accuracy=0.9255)
    FigureCanvasAgg(ladder)
    assert ladder.legends and not _overlaps_data(ladder, ladder.legends[0])
    rows = [{"C": C, "train_accuracy": 0.9 + 0.01 * i, "validation_accuracy": 0.88 + 0.005 * i,
             "test_accuracy": 0.89 + 0.005 * i, "zero_fraction": 0.5 - 0.1 * i, "penalty": "l1"}
            for i, C in enumerate([0.001, 0.01, 0.1, 1.0])]
    coefs = [np.random.default_rng(i).normal(size=(10, 784)) for i in range(4)]
    path = plots.regularisation_path(rows, coefs, [str(d) for d in range(10)], chosen_C=0.1)
    FigureCanvasAgg(path)
    legends = [leg for sub in path.subfigs for leg in sub.legends]
    assert len(legends) == 1
    labels = [t.get_text() for t in legends[0].get_texts()]
    assert {"train", "validation", "test", "chosen C = 0.1", "zero coefficients"} <= set(labels)
    assert not _overlaps_data(path, legends[0])


def test_grid_labels_never_break_a_word():
    """Issue 29: --show-input wrapped file names mid-word ('handwritten_s' / 'even_photo_3.png');
    labels wrap between words, and a word wider than its column is shortened in the middle with
    its end (the extension) kept."""
    images = np.zeros((3, 784), dtype=np.uint8)
    labels = ["handwritten_seven_photo_3.png\n→ 7", "my digit from the notebook page.jpg\n→ 1", "7.png\n→ 7"]
    fig = plots.digit_grid(images, labels, cols=3)
    titles = [ax.get_title() for ax in fig.axes[:3]]
    first = titles[0].split("\n")
    assert first[0].endswith("3.png") and "…" in first[0] and first[0].startswith("handwrit") and first[1] == "→ 7"
    lines = titles[1].split("\n")
    assert " ".join(lines[:-1]).split() == "my digit from the notebook page.jpg".split() and lines[-1] == "→ 1"
    assert all(len(line) <= 15 for t in titles for line in t.split("\n")), titles
    assert titles[2] == "7.png\n→ 7"
