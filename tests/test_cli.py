"""The command line, run in-process through ``main`` (and once as a real subprocess)."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from mnist_logreg.cli import build_parser, main
from mnist_logreg.report import BINARY_ONLY, FIGURES


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_data_info(capsys):
    code, out, _ = run(capsys, "data", "info")
    assert code == 0
    assert "train: images (60000, 28, 28)" in out and "test: images (10000, 28, 28)" in out
    assert "0:5923" in out and "6bbc9ace898e44ae57da46a324031adb" in out
    code, out, _ = run(capsys, "data", "info", "--json")
    info = json.loads(out)
    assert info["test"]["class_counts"]["1"] == 1135


def test_data_show_digit_and_grid(capsys, tmp_path):
    code, _out, _ = run(capsys, "data", "show", "--index", "36001", "--out", str(tmp_path / "d.png"))
    assert code == 0 and Image.open(tmp_path / "d.png").size[0] > 100
    code, _, _ = run(capsys, "data", "show", "--grid", "3x4", "--split", "test", "--out", str(tmp_path / "g.png"))
    assert code == 0 and (tmp_path / "g.png").stat().st_size > 1000


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["data", "show", "--index", "60000"], "--index 60000: expected 0..59999"),
        (["data", "show", "--grid", "ten"], "--grid: expected ROWSxCOLS"),
        (["train", "--task", "digit:12"], "unknown digit 12"),
        (["train", "--task", "trinary"], "bad task 'trinary'"),
        (["train", "--source", "openml", "--name", "mnist_784", "--data-id", "554"],
         "one of --name (with an optional --version) or --data-id"),
        (["evaluate", "--model", "missing.npz"], "no such model file"),
        (["report", "nowhere"], "nowhere: no such folder"),
        (["train", "--C", "0.1,-1"], "every C must be a finite number > 0"),
        (["train", "--C", "0.1,x"], "numbers separated by commas"),
        (["train", "--C", "0.1,1", "--model", "sgd"], "needs --model softmax or ovr"),
        (["predict", "--model", "missing.npz", "x.png"], "no such model file"),
        (["train", "--features", "deskew,deskew"], "'deskew' is repeated"),
    ],
)
def test_user_errors_are_one_line(capsys, tmp_path, monkeypatch, argv, words):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith("mnist-logreg: error:") and words in err
    assert "Traceback" not in err


def test_corrupt_model_file_error(capsys, tmp_path):
    bad = tmp_path / "model.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    code, _, err = run(capsys, "evaluate", "--model", str(bad))
    assert code == 2 and "not a readable model file" in err


@pytest.mark.parametrize(
    ("task", "model", "n_classes"),
    [("multiclass", "softmax", 10), ("digit:2", "softmax", 2), ("pair:0,1", "ovr", 2), ("multiclass", "sgd", 10),
     ("multiclass", "ovr", 10)],
)
def test_train_tasks_and_models(capsys, tmp_path, task, model, n_classes):
    out_dir = tmp_path / "run"
    code, out, _ = run(capsys, "train", "--task", task, "--model", model, "--train-size", "1500",
                       "--out", str(out_dir), "--json", "--no-figures")
    assert code == 0
    m = json.loads(out)
    assert m["options"]["task"] == task and m["options"]["model"] == model
    assert len(m["test"]["confusion_matrix"]) == n_classes
    assert m["fit"]["n_train"] == 1500 or task == "pair:0,1"
    assert 0.5 < m["test"]["accuracy"] <= 1.0
    saved = json.loads((out_dir / "metrics.json").read_text())
    assert saved["test"]["accuracy"] == m["test"]["accuracy"]
    assert (out_dir / "model.npz").is_file() and (out_dir / "classification_report.txt").is_file()


def test_train_full_outputs_and_schema(capsys, tmp_path):
    out_dir = tmp_path / "run"
    code, out, err = run(capsys, "train", "--train-size", "2000", "--cv", "3", "--C", "1,0.01",
                         "--out", str(out_dir))
    assert code == 0
    assert "test accuracy" in out and "converged" in out and "3-fold CV" in out
    assert "path: C = 0.01: validation accuracy" in err
    assert err.index("evaluating on the test set...") < err.index("writing figures...") \
        < err.index("writing report.html...")  # progress after the fit
    folds = [line for line in err.splitlines() if line.startswith("cross-validation: fold")]
    assert [line.split()[2] for line in folds] == ["1", "2", "3"] and all(line.endswith("%") for line in folds)
    m = json.loads((out_dir / "metrics.json").read_text())
    assert set(m) >= {"options", "fit", "data", "versions", "test", "cross_validation"}
    assert set(m["test"]) >= {"accuracy", "per_class", "confusion_matrix", "report_text"}
    assert set(m["test"]["per_class"]["7"]) == {"precision", "recall", "f1-score", "support"}
    assert np.array(m["test"]["confusion_matrix"]).sum() == 10000
    assert len(m["cross_validation"]["scores"]) == 3
    path = m["path"]
    assert [r["C"] for r in path["rows"]] == [0.01, 1.0] and path["n_validation"] == 200
    best = max(path["rows"], key=lambda r: r["validation_accuracy"])
    assert path["chosen_C"] == m["fit"]["C"] == best["C"]
    assert m["data"]["checksums"]["train-images"] == "6bbc9ace898e44ae57da46a324031adb"
    assert m["versions"]["numpy"]
    # a ten-digit run with a path over C (which shows its own coefficient images at a few C)
    shown = [name for name in FIGURES if name not in BINARY_ONLY and name != "coefficients_readable.png"]
    for name in shown:
        assert (out_dir / name).stat().st_size > 1000, name
    assert not (out_dir / "pr_roc.png").exists()
    html = (out_dir / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(shown) + 1  # and the top confusions' examples
    assert "precision" in html and f"{m['test']['accuracy']:.2%}" in html

    # evaluate the saved model: same test accuracy
    code, out, _ = run(capsys, "evaluate", "--model", str(out_dir / "model.npz"), "--out", str(tmp_path / "ev"),
                       "--json")
    evaluated = json.loads(out)
    assert code == 0 and evaluated["test"]["accuracy"] == m["test"]["accuracy"]
    assert evaluated["options"]["model"] == "softmax"  # the name train uses, not the class name
    code, out, _ = run(capsys, "evaluate", "--model", str(out_dir / "model.npz"), "--out", str(tmp_path / "ev2"))
    assert "iterations" not in out and f"model softmax from {out_dir / 'model.npz'}" in out
    # rebuild the report
    (out_dir / "report.html").unlink()
    code, out, _ = run(capsys, "report", str(out_dir))
    assert code == 0 and (out_dir / "report.html").is_file()


def test_every_command_has_help(capsys):
    parser = build_parser()
    for argv in (["--help"], ["data", "--help"], ["data", "info", "--help"], ["data", "show", "--help"],
                 ["data", "fetch", "--help"], ["data", "augment", "--help"],
                 ["train", "--help"], ["evaluate", "--help"], ["report", "--help"],
                 ["predict", "--help"], ["serve", "--help"]):
        with pytest.raises(SystemExit) as exc:
            parser.parse_args(argv)
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert "usage: mnist-logreg" in out
        if len(argv) > 1 and argv[-2] != "data":  # each command ends with its examples
            examples = out.split("examples:\n")[1].strip().splitlines()
            assert 1 <= len(examples) <= 4 and all(e.strip().startswith("mnist-logreg ") for e in examples)


def test_python_dash_m_entry_point(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mnist_logreg", "data", "show", "--grid", "2x2",
                           "--out", str(tmp_path / "g.png")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "g.png").is_file()


def test_predict_images_and_folder(capsys, tmp_path, mnist, model_10k):
    _, model_path = model_10k
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        digit = 255 - mnist.X_test[i].reshape(28, 28)  # dark ink on white, as on paper
        Image.fromarray(digit).resize((200, 200)).save(folder / f"d{i}.png")
    code, out, _ = run(capsys, "predict", "--model", str(model_path), str(folder / "d0.png"))
    assert code == 0
    assert out.startswith(f"{folder / 'd0.png'}: 7 ") and "7: " in out
    code, out, _ = run(capsys, "predict", "--model", str(model_path), str(folder), "--json",
                       "--show-input", str(tmp_path / "seen.png"))
    preds = json.loads(out)["predictions"]
    assert [p["digit"] for p in preds] == mnist.y_test[:3].tolist()
    assert all(len(p["top3"]) == 3 and p["top3"][0][1] >= p["top3"][1][1] for p in preds)
    assert (tmp_path / "seen.png").stat().st_size > 500


def test_predict_notes_a_crop_that_looks_wrong(capsys, tmp_path, mnist, model_10k):
    """A photo that cuts the digit off: the answer, then a note saying so (JSON: "notes")."""
    _, model_path = model_10k
    paper = Image.new("L", (300, 240), 255)
    paper.paste(Image.fromarray(255 - mnist.X_test[0].reshape(28, 28)).resize((140, 140)), (80, 50))
    paper.crop((0, 0, 300, 120)).save(tmp_path / "cut.png")
    paper.save(tmp_path / "whole.png")
    code, out, err = run(capsys, "predict", "--model", str(model_path), str(tmp_path / "cut.png"),
                         str(tmp_path / "whole.png"))
    assert code == 0 and out.count("\n") == 2
    assert err.startswith(f"note: {tmp_path / 'cut.png'}: the ink reaches the image's edge: the digit may be cut off")
    assert "whole.png" not in err
    code, out, _ = run(capsys, "predict", "--model", str(model_path), str(tmp_path / "cut.png"),
                       str(tmp_path / "whole.png"), "--json")
    cut, whole = json.loads(out)["predictions"]
    assert any("reaches the image's edge" in n for n in cut["notes"]) and whole["notes"] == []


def test_predict_uses_cached_accurate_model(capsys, tmp_path, monkeypatch, mnist, model_10k):
    """A package without its shipped default model falls back on the cached accurate model."""
    import shutil

    from mnist_logreg import shipped
    from mnist_logreg.pipeline import default_model_path

    monkeypatch.setenv("MNIST_LOGREG_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(shipped, "shipped_dir", lambda: tmp_path / "no-shipped-model")  # a package without it
    cached = default_model_path()
    assert cached.parent.parent == tmp_path / "cache" and "accurate" in cached.name
    cached.parent.mkdir(parents=True)
    shutil.copy(model_10k[1], cached)
    Image.fromarray(mnist.X_test[1].reshape(28, 28)).save(tmp_path / "two.png")
    code, out, err = run(capsys, "predict", str(tmp_path / "two.png"))
    assert code == 0 and "using the accurate model cached at" in err and out.startswith(f"{tmp_path}/two.png: 2 ")


def test_default_model_is_trained_once(tmp_path, mnist):
    from mnist_logreg import load_model
    from mnist_logreg.pipeline import ensure_default_model

    path, trained = ensure_default_model(tmp_path, data=mnist, train_size=1500)
    assert trained and path.is_file()
    model, _, _ = load_model(path)
    assert [name for name, _ in model.steps] == ["deskew", "patches", "logreg"]
    assert not any(p.name.startswith(".training-") for p in path.parent.iterdir())  # no leftovers
    mtime = path.stat().st_mtime_ns
    assert ensure_default_model(tmp_path) == (path, False) and path.stat().st_mtime_ns == mtime


def test_predict_bad_image(capsys, tmp_path, model_10k):
    (tmp_path / "x.png").write_text("not an image")
    code, _, err = run(capsys, "predict", "--model", str(model_10k[1]), str(tmp_path / "x.png"))
    assert code == 2 and "not an image in a format read here" in err


@pytest.mark.parametrize(("task", "digit_index", "label", "digit"),
                         [("digit:2", 1, "2", 2), ("digit:2", 0, "not 2", None), ("pair:3,8", None, None, None)])
def test_predict_names_binary_classes(capsys, tmp_path, mnist, task, digit_index, label, digit):
    """A digit:2 model says "2" / "not 2" (never the class index 1 / 0); a pair model its two digits."""
    from mnist_logreg import LogisticRegression, save_model
    from mnist_logreg.tasks import parse_task

    parsed = parse_task(task)
    X, y = parsed.apply(mnist.X_train[:3000], mnist.y_train[:3000])
    model_path = tmp_path / "model.npz"
    save_model(LogisticRegression().fit(X, y), model_path, task=task)
    if task == "pair:3,8":  # a test 8 is read as "8"
        digit_index, label, digit = int(np.flatnonzero(mnist.y_test == 8)[0]), "8", 8
    else:  # the first test 2, or the first test digit that is not a 2
        digit_index = int(np.flatnonzero((mnist.y_test == 2) == bool(digit_index))[0])
    image = tmp_path / "d.png"
    Image.fromarray(255 - mnist.X_test[digit_index].reshape(28, 28)).resize((200, 200)).save(image)
    code, out, err = run(capsys, "predict", "--model", str(model_path), str(image))
    assert code == 0 and out.startswith(f"{image}: {label}   (")
    assert f"{label}: " in out and ("not 2: " in out if task == "digit:2" else "3: " in out)
    assert "note: a " + task in err
    code, out, _ = run(capsys, "predict", "--model", str(model_path), str(image), "--json")
    body = json.loads(out)
    p = body["predictions"][0]
    assert p["label"] == label and p["digit"] == digit and body["note"].startswith(f"a {task} model")


def test_sgd_summary_does_not_claim_convergence(capsys, tmp_path):
    code, out, _ = run(capsys, "train", "--model", "sgd", "--train-size", "1500", "--no-figures", "--quiet",
                       "--out", str(tmp_path / "run"))
    assert code == 0 and "epochs of SGD" in out and "converged" not in out
    code, out, _ = run(capsys, "train", "--task", "digit:2", "--train-size", "1500", "--no-figures", "--quiet",
                       "--out", str(tmp_path / "binary"))
    assert code == 0 and "92.5%" not in out  # the ten-digit ceiling is not a binary task's
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["fit"]["converged"] is None


def test_predict_reads_the_good_files_and_reports_the_bad(capsys, tmp_path, mnist, model_10k):
    _, model_path = model_10k
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(255 - mnist.X_test[0].reshape(28, 28)).resize((200, 200)).save(folder / "a.png")
    (folder / "b.png").write_bytes(b"not a png at all")
    Image.fromarray(255 - mnist.X_test[1].reshape(28, 28)).resize((200, 200)).save(folder / "c\nforged: 0.png")
    code, out, err = run(capsys, "predict", "--model", str(model_path), str(folder))
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{folder / 'a.png'}: 7 ")
    assert lines[1].startswith('"') and "\\nforged" in lines[1]  # the newline is quoted, not printed
    assert "b.png" in err and "1 of 3 images could not be read" in err and "Traceback" not in err
    code, out, _ = run(capsys, "predict", "--model", str(model_path), str(folder), "--json")
    preds = json.loads(out)["predictions"]
    assert code == 1 and [("error" in p) for p in preds] == [False, True, False]
    assert preds[0]["digit"] == 7 and "b.png" in preds[1]["error"]


def test_broken_pipe_ends_quietly(monkeypatch, capsys):
    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            pass

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["data", "info"]) == 141
    assert "Traceback" not in capsys.readouterr().err


def test_cross_validation_of_a_feature_model(capsys, tmp_path):
    """--cv with a feature map (a Pipeline before the classifier): the folds are fitted and scored
    (it failed after the fit with "Invalid parameter 'callback' for estimator Pipeline")."""
    code, _out, err = run(capsys, "train", "--features", "deskew", "--cv", "2", "--train-size", "1000", "--no-figures",
                         "--quiet", "--out", str(tmp_path / "run"))
    assert code == 0, err
    cv = json.loads((tmp_path / "run" / "metrics.json").read_text())["cross_validation"]
    assert len(cv["scores"]) == 2 and all(0.5 < s <= 1 for s in cv["scores"])


def test_messages_that_never_mislead(capsys, tmp_path, model_10k):
    """Issue 29's command-line mistakes, each with the one line it prints."""
    png = tmp_path / "x.png"
    Image.new("L", (28, 28)).save(png)
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    # a PNG given as the model: no advice to load it "unsafely using allow_pickle="
    code, _, err = run(capsys, "predict", "--model", str(png), str(png))
    assert code == 2 and err == f"mnist-logreg: error: {png}: not a model file (expected an .npz archive " \
                               "written by save_model)\n"
    # a run folder as the model: its model.npz
    code, _out, err = run(capsys, "predict", "--model", str(model_10k[1].parent), str(text), str(png))
    assert "allow_pickle" not in err and "<_io" not in err
    assert f"{text}: not an image in a format read here (PNG, JPEG, GIF, BMP, TIFF, WEBP, PPM)" in err
    code, _, err = run(capsys, "predict", "--model", str(tmp_path), str(png))
    assert code == 2 and "a folder without model.npz" in err
    code, _, err = run(capsys, "report", str(tmp_path / "nowhere"))
    assert code == 2 and err == f"mnist-logreg: error: {tmp_path / 'nowhere'}: no such folder (give a run folder " \
                               "written by train or evaluate)\n"
    with pytest.raises(SystemExit) as exc:
        main(["train", "--fetures", "accurate"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "--fetures: did you mean --features?" in err
    assert "--model {softmax,ovr,sgd}" in build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    assert "one binary model per class" in build_parser()._subparsers._group_actions[0].choices["train"].format_help()


def test_binary_report_shows_the_majority_baseline_and_only_the_options_set(capsys, tmp_path):
    """Issue 29: a digit:2 report says what always answering "not 2" scores (about 90%), names the
    model binary, words one weakest class in the singular, and lists only the options the run set
    (C with its value), the defaults in one collapsed line."""
    import re

    out = tmp_path / "run"
    code, _, err = run(capsys, "train", "--task", "digit:2", "--train-size", "1000", "--no-figures", "--quiet",
                       "--out", str(out))
    assert code == 0, err
    assert run(capsys, "report", str(out))[0] == 0
    page = (out / "report.html").read_text()
    baseline = re.search(r'id="baseline">always answering the most common class, (.+?), would score ([\d.]+)%', page)
    assert baseline and baseline.group(1) == "not 2" and abs(float(baseline.group(2)) - 89.68) < 0.01
    assert "model <code>binary logistic regression</code>" in page
    assert "the weakest class by F1 is highlighted" in page and "the 1 weakest" not in page
    options = page.split('id="options"')[1].split("</section>")[0]
    rows = dict(re.findall(r'<th class="text">(.+?)</th><td class="text">(.+?)</td>', options))
    assert rows["task"] == "digit:2" and rows["C"].startswith("1.0 (the default") and "default" not in rows.values()
    assert "more at their defaults" in options and "worker_memory" in options.split("<details")[1]


def test_a_first_run_says_how_far_it_is(capsys, tmp_path, monkeypatch, mnist):
    """Issue 27: the first predict without --model (and, since issue 28, without the shipped
    default model) trained for a minute in silence after 'about 40 s'; it now names each stage
    with the share done and the time left (one line per stage and every 20 iterations when stderr
    is a log, as here). Trained on 1,500 digits to stay quick."""
    import re
    from functools import partial

    from mnist_logreg import pipeline, shipped

    monkeypatch.setenv("MNIST_LOGREG_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(shipped, "shipped_dir", lambda: tmp_path / "no-shipped-model")  # a package without it
    monkeypatch.setattr(pipeline, "ensure_default_model", partial(pipeline.ensure_default_model, train_size=1500))
    Image.fromarray(mnist.X_test[1].reshape(28, 28)).save(tmp_path / "two.png")
    code, out, err = run(capsys, "predict", str(tmp_path / "two.png"))
    assert code == 0 and out.startswith(f"{tmp_path}/two.png: 2 "), out
    lines = [ln for ln in err.splitlines() if ln.startswith("training the default model: ")]
    stages = [ln.split(": ", 1)[1].split(",")[0] for ln in lines]
    assert stages[0] == "loading the digits" and "making the features (accurate)" in stages, stages
    assert "fitting" in stages and stages[-1] == "evaluating on the test set", stages
    shares = [int(re.search(r", (\d+)% after", ln).group(1)) for ln in lines]
    assert shares == sorted(shares) and shares[0] == 0 and 90 <= shares[-1] < 100, shares
    assert all(" s left" in ln for ln, s in zip(lines, shares, strict=True) if s >= 5), lines
