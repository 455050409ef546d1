"""Issue 29: the command line's mistakes, each with the exact line it prints.

A user's mistake gets one line on stderr, ``mnist-logreg: error: ...``, that names what is wrong
(the file, the option, the value) and what is expected, and exit status 2; nothing else is
printed (no traceback, no progress bar). Each case runs the real entry point in this process.
"""

from __future__ import annotations

import pytest

from mnist_logreg.cli import main


@pytest.fixture
def place(tmp_path, monkeypatch):
    """A working folder with a text file, a file named like an image, and an empty folder."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "x.png").write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    return tmp_path


CASES = [
    # the issue's own
    (["predict", "--model", "x.png", "x.png"],
     "x.png: not a model file (expected an .npz archive written by save_model)"),
    (["evaluate", "--model", "empty"],
     "empty: a folder without model.npz (give a model file, or a run folder that holds one)"),
    (["report", "nowhere"], "nowhere: no such folder (give a run folder written by train or evaluate)"),
    (["predict", "--model", "missing.npz", "x.png"], "missing.npz: no such model file"),
    # ten more
    (["train", "--C", "0"], "every C must be a finite number > 0 and at most 1e+06, got 0.0"),
    (["train", "--C", "1e9"], "every C must be a finite number > 0 and at most 1e+06, got 1000000000.0 (a larger "
                              "C leaves the penalty below float32 resolution: the fit would not be meaningful)"),
    (["train", "--cv", "1"], "--cv: cross-validation needs at least 2 folds, got 1"),
    (["train", "--task", "digit:10"],
     "bad task 'digit:10': unknown digit 10; expected 'multiclass', 'digit:D' or 'pair:A,B' with digits 0-9"),
    (["train", "--task", "pair:3,3"], "bad task 'pair:3,3': 'pair' takes two different digits; expected "
                                      "'multiclass', 'digit:D' or 'pair:A,B' with digits 0-9"),
    (["train", "--features", "pca:0"], "features: number of components of 'pca' must be from 1 to 784, found 0"),
    (["train", "--model", "sgd", "--penalty", "l1"],
     "--model 'sgd' fits an L2 penalty only, not 'l1': use --model softmax"),
    (["train", "--train-size", "1"], "--train-size must be at least 2, got 1"),
    (["train", "--out", "notes.txt"], "notes.txt: exists and is not a folder (choose another folder for the run "
                                      "folder)"),
    (["train", "--worker-memory", "1KB", "--workers", "1"],
     "--worker-memory '1KB': 0.98 kiB is too little for a worker; give at least 512.00 MiB (e.g. 4GiB)"),
    (["train", "--scheduler", "http://x:1"], "--scheduler 'http://x:1': expected tcp://HOST:PORT (e.g. "
                                             "tcp://10.0.0.5:8786)"),
    (["train", "--worker-memory", "4GiB"], "--worker-memory sets the memory of local Dask workers: give --workers "
                                           "N (or --train-source) with it"),
    (["data", "show", "--index", "-1"], "--index -1: expected 0..59999 for the train split"),
    (["data", "show", "--grid", "0x3"], "--grid: expected ROWSxCOLS such as 10x10, found '0x3'"),
    (["data", "augment", "--n", "0", "--out", "store"], "--n: expected a positive number of digits, found 0"),
    (["data", "augment", "--n", "10", "--chunk-rows", "0", "--out", "store"],
     "--chunk-rows: expected a positive number of rows, found 0"),
]


@pytest.mark.parametrize(("argv", "line"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_a_mistake_is_one_exact_line(place, capsys, argv, line):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert err == f"mnist-logreg: error: {line}\n", err
    assert out == ""


def test_a_mistyped_option_is_named_by_its_command_with_a_suggestion(place, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["train", "--fetures", "pixels"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == ("mnist-logreg train: error: unrecognized arguments: --fetures pixels "
                                    "(--fetures: did you mean --features?)"), err
    assert err.startswith("usage: mnist-logreg train "), err  # the command's own usage
