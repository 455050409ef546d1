"""Run folders are whole or absent; bad options and OS errors are refused in one line before work."""

import json
import os
import time

import numpy as np
import pytest
from npzfiles import rewrite_npz

from mnist_logreg import pipeline
from mnist_logreg._atomic import atomic_folder
from mnist_logreg.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _train(capsys, out_dir, *extra):
    return run(capsys, "train", "--train-size", "1000", "--no-figures", "--quiet", "--out", str(out_dir), *extra)


def test_retraining_replaces_the_whole_folder(capsys, tmp_path):
    out_dir = tmp_path / "run"
    assert _train(capsys, out_dir)[0] == 0
    first = sorted(p.name for p in out_dir.iterdir())
    assert _train(capsys, out_dir, "--task", "pair:3,5")[0] == 0
    assert json.loads((out_dir / "metrics.json").read_text())["options"]["task"] == "pair:3,5"
    assert sorted(p.name for p in out_dir.iterdir()) == first
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no temporary sibling left
    # a file the user added to the run folder is never replaced with it: the run is refused first
    (out_dir / "my_notes.txt").write_text("mine")
    code, _, err = _train(capsys, out_dir)
    assert code == 2 and "holding files it did not write (my_notes.txt)" in err and err.count("\n") == 1
    assert (out_dir / "my_notes.txt").read_text() == "mine"
    assert json.loads((out_dir / "metrics.json").read_text())["options"]["task"] == "pair:3,5"


def test_a_failure_while_writing_keeps_the_old_run(capsys, tmp_path, monkeypatch):
    out_dir = tmp_path / "run"
    assert _train(capsys, out_dir)[0] == 0
    before = sorted(p.name for p in out_dir.iterdir())
    old_metrics = (out_dir / "metrics.json").read_text()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(out_dir / "model.npz"))

    monkeypatch.setattr(pipeline, "save_model", disk_full)
    code, _, err = _train(capsys, out_dir, "--task", "digit:4")
    assert code == 2 and err.count("\n") == 1 and "No space left on device" in err and "model.npz" in err
    assert sorted(p.name for p in out_dir.iterdir()) == before
    assert (out_dir / "metrics.json").read_text() == old_metrics
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_stale_partial_folders_of_dead_processes_are_removed(tmp_path):
    dead = 2**22 + 12345  # above the default pid_max: no such process
    stale = tmp_path / f".run.partial-{dead}-abc"
    stale.mkdir()
    (stale / "model.npz").write_bytes(b"half")
    with atomic_folder(tmp_path / "run") as staging:
        (staging / "x.txt").write_text("done")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert (tmp_path / "run" / "x.txt").read_text() == "done"


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--C", "1e20"], "at most 1e+06"),
        (["--C", "inf"], "every C must be a finite number > 0"),
        (["--cv", "0"], "needs at least 2 folds"),
        (["--cv", "100000"], "more folds than the"),
        (["--out", ""], "expected a folder name"),
    ],
)
def test_bad_train_options_fail_before_the_fit(capsys, tmp_path, monkeypatch, argv, words):
    monkeypatch.chdir(tmp_path)
    argv = ["--out", str(tmp_path / "run"), *argv] if "--out" not in argv else argv
    t0 = time.perf_counter()
    code, _, err = run(capsys, "train", "--train-size", "3000", "--quiet", *argv)
    assert code == 2 and words in err and err.count("\n") == 1, err
    assert time.perf_counter() - t0 < 20  # refused before fitting, not after
    assert not (tmp_path / "run").exists()


def test_out_that_is_a_file_is_refused_before_the_fit(capsys, tmp_path):
    target = tmp_path / "taken"
    target.write_text("a file the user keeps")
    code, _, err = run(capsys, "train", "--out", str(target), "--quiet")
    assert code == 2 and "exists and is not a folder" in err
    assert target.read_text() == "a file the user keeps"


def test_bad_model_and_metrics_files_give_one_line(capsys, tmp_path, model_10k):
    npy = tmp_path / "x.npy"
    np.save(npy, np.zeros(3))
    code, _, err = run(capsys, "predict", "--model", str(npy), "digit.png")
    assert code == 2 and "not a model file" in err and err.count("\n") == 1
    # finite but extreme values would print nan%: refused when the file is read
    huge = tmp_path / "huge.npz"
    with np.load(model_10k[1]) as z:
        coef = z["coef"]
    rewrite_npz(model_10k[1], huge, coef=coef * 1e300)
    code, _, err = run(capsys, "predict", "--model", str(huge), "digit.png")
    assert code == 2 and "coef: values up to" in err
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.json").write_text(json.dumps({"options": {"task": "multiclass", "model": "softmax"}}))
    code, _, err = run(capsys, "report", str(run_dir))
    assert code == 2 and "'test' is a required property" in err and str(run_dir / "metrics.json") in err


@pytest.fixture(scope="module")
def real_metrics(tmp_path_factory):
    """metrics.json of a small run with cross-validation, the path and the learning curve."""
    out_dir = tmp_path_factory.mktemp("real") / "run"
    assert main(["train", "--train-size", "1500", "--cv", "2", "--C", "0.1,1", "--no-figures", "--quiet",
                 "--out", str(out_dir)]) == 0
    return json.loads((out_dir / "metrics.json").read_text())


def _set(document: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        document = document[part] if not isinstance(document, list) else document[int(part)]
    if value is KeyError:
        del document[last]
    else:
        document[last] = value


@pytest.mark.parametrize(("field", "value", "named"), [
    ("fit", [1, 2], "'fit'"),
    ("test.per_class.3.recall", KeyError, "'test.per_class.3'"),
    ("cross_validation.k", KeyError, "'cross_validation'"),
    ("cross_validation.scores", "0.9", "'cross_validation.scores'"),
    ("test.accuracy", 7, "'test.accuracy'"),
    ("test.confusion_matrix", [[1, 2], [3, 4]], "'test.confusion_matrix'"),
    ("learning_curve", [{"n": 10}], "'learning_curve.0'"),
    ("path.chosen_C", 123.0, "'path.chosen_C'"),
    ("path.rows", [], "'path.rows'"),
    ("versions", {"numpy": 2}, "'versions.numpy'"),
    ("train", {"accuracy": "high"}, "'train.accuracy'"),
    ("fit.n_iter", -3, "'fit.n_iter'"),
])
def test_report_names_the_bad_field(capsys, tmp_path, real_metrics, field, value, named):
    """A metrics.json damaged in any field the report reads: one line naming the file and the
    field, exit 2 (it was a KeyError, TypeError or AttributeError traceback)."""
    metrics = json.loads(json.dumps(real_metrics))
    _set(metrics, field, value)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    code, _, err = run(capsys, "report", str(run_dir))
    assert code == 2, err
    assert named in err and "metrics.json" in err and "Traceback" not in err and err.count("\n") == 1


def test_the_real_metrics_pass_the_schema(capsys, tmp_path, real_metrics):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.json").write_text(json.dumps(real_metrics))
    code, _, err = run(capsys, "report", str(run_dir))
    assert code == 0, err


def test_evaluate_names_a_bad_extra_document(capsys, tmp_path, model_10k):
    from mnist_logreg import save_model

    path = tmp_path / "odd.npz"
    save_model(model_10k[0], path, extra={"fit": 5})
    code, _, err = run(capsys, "evaluate", "--model", str(path), "--out", str(tmp_path / "ev"))
    assert code == 2 and "field 'fit'" in err and "odd.npz" in err and "Traceback" not in err


def test_serve_port_out_of_range(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--port", "99999"])
    assert exc.value.code == 2 and "expected 1 to 65535" in capsys.readouterr().err


def test_metrics_are_strict_json(capsys, tmp_path):
    assert _train(capsys, tmp_path / "run")[0] == 0
    text = (tmp_path / "run" / "metrics.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert os.access(tmp_path / "run", os.W_OK)


def test_report_escapes_everything_from_the_run_folder(capsys, tmp_path):
    """A tampered metrics.json cannot inject markup: Jinja2 autoescapes every value."""
    out_dir = tmp_path / "run"
    assert _train(capsys, out_dir)[0] == 0
    m = json.loads((out_dir / "metrics.json").read_text())
    evil = "<script>alert(1)</script>"
    m["options"]["task"] = evil
    m["test"]["per_class"][evil] = m["test"]["per_class"].pop("7")
    m["data"]["source"] = evil
    (out_dir / "metrics.json").write_text(json.dumps(m))
    code, _, _ = run(capsys, "report", str(out_dir))
    page = (out_dir / "report.html").read_text()
    assert code == 0 and evil not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    m["fit"]["n_iter"] = evil  # a number field holding text is refused, not inserted
    (out_dir / "metrics.json").write_text(json.dumps(m))
    code, _, err = run(capsys, "report", str(out_dir))
    assert code == 2 and "field 'fit.n_iter'" in err and evil not in (out_dir / "report.html").read_text()
