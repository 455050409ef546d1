"""The typed errors (issue 26): every module's error class is a MnistLogregError of one category
and keeps its builtin base; the command answers each category with its exit status, through the
real entry point."""

import ast
import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import mnist_logreg
from mnist_logreg import errors
from mnist_logreg.cli import main
from mnist_logreg.errors import (
    DataError,
    InputError,
    MnistLogregError,
    NoDigitError,
    OptionError,
    ResourceLimitError,
)

#: (module, class, its category, the builtin base it kept)
CLASSES = [
    ("mnist_logreg.cli", "UserError", InputError, Exception),
    ("mnist_logreg.modelio", "ModelFileError", InputError, ValueError),
    ("mnist_logreg._resources", "ResourceError", ResourceLimitError, ValueError),
    ("mnist_logreg.images", "ImageError", InputError, ValueError),
    ("mnist_logreg.images", "BlankImageError", NoDigitError, ValueError),
    ("mnist_logreg.features.spec", "FeatureSpecError", OptionError, ValueError),
    ("mnist_logreg.features.state", "FeatureStateError", InputError, ValueError),
    ("mnist_logreg._atomic", "OutputPathError", InputError, ValueError),
    ("mnist_logreg._atomic", "FolderBusyError", InputError, OSError),
    ("mnist_logreg.datasets.idx", "IDXFormatError", DataError, ValueError),
    ("mnist_logreg.datasets.mnist", "DataSourceError", DataError, RuntimeError),
    ("mnist_logreg.datasets.augment", "AugmentError", DataError, ValueError),
    ("mnist_logreg._schema", "SchemaError", InputError, ValueError),
    ("mnist_logreg._npz", "NpzError", InputError, ValueError),
]


@pytest.mark.parametrize(("module", "name", "category", "builtin"), CLASSES, ids=[c[1] for c in CLASSES])
def test_each_error_class_is_typed_and_keeps_its_builtin_base(module, name, category, builtin):
    cls = getattr(importlib.import_module(module), name)
    exc = cls("something is wrong")
    assert isinstance(exc, MnistLogregError) and isinstance(exc, category) and isinstance(exc, builtin)
    assert str(exc) == "something is wrong"
    assert cls.exit_code == category.exit_code == 2
    assert cls.http_status == category.http_status


def test_the_categories_say_how_to_answer():
    assert (InputError.exit_code, InputError.http_status) == (2, 400)
    assert (OptionError.exit_code, OptionError.http_status) == (2, 400) and issubclass(OptionError, ValueError)
    assert (NoDigitError.exit_code, NoDigitError.http_status) == (2, 422) and issubclass(NoDigitError, InputError)
    assert (ResourceLimitError.exit_code, ResourceLimitError.http_status) == (2, 503)
    assert (DataError.exit_code, DataError.http_status) == (2, 502)
    from mnist_logreg.images import BlankImageError, ImageError

    assert BlankImageError.http_status == 422 and ImageError.http_status == 400  # by type, not by message


def test_errors_is_the_bottom_layer():
    """errors.py imports nothing from the package, so any module can use it."""
    tree = ast.parse(Path(errors.__file__).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0 and not (node.module or "").startswith("mnist_logreg"), ast.dump(node)
        if isinstance(node, ast.Import):
            assert not any(a.name.startswith("mnist_logreg") for a in node.names), ast.dump(node)


def test_option_errors_name_parameters_and_the_cli_says_flags(capsys):
    """The library's message names the parameter (worker_memory); the command line, its flag."""
    from mnist_logreg.cli import main
    from mnist_logreg.pipeline import TrainOptions, train

    with pytest.raises(errors.OptionError) as caught:
        train(TrainOptions(worker_memory="4GiB"))
    assert "worker_memory sets the memory" in str(caught.value) and "--" not in str(caught.value)
    assert main(["train", "--worker-memory", "4GiB"]) == 2
    err = capsys.readouterr().err
    assert "--worker-memory sets the memory" in err and "give --workers N (or --train-source)" in err, err


def test_option_values_are_option_errors():
    """Bad option values of the library's own checks are OptionErrors (still ValueErrors)."""
    from mnist_logreg.evaluation import cross_validate
    from mnist_logreg.tasks import parse_task

    for bad in ("digit:12", "trinary", "pair:3,3"):
        with pytest.raises(OptionError, match="bad task"):
            parse_task(bad)
    with pytest.raises(OptionError, match="k >= 2"):
        cross_validate(None, np.zeros((4, 2)), np.zeros(4), k=1)


def test_npz_errors_carry_their_reason(tmp_path):
    from mnist_logreg._npz import NpzError, read_npz

    (tmp_path / "a.npz").write_bytes(b"not a zip")
    with pytest.raises(NpzError) as info:
        read_npz(tmp_path / "a.npz", 1000)
    assert info.value.reason == "not_npz"
    np.savez(tmp_path / "b.npz", big=np.zeros(1000), other=np.zeros(1))
    with pytest.raises(NpzError) as info:
        read_npz(tmp_path / "b.npz", 100)
    assert info.value.reason == "member_too_large"
    with pytest.raises(NpzError) as info:
        read_npz(tmp_path / "b.npz", 10_000, expected=lambda name: name == "big")
    assert info.value.reason == "unexpected_member"


# ------------------------------------------------------------------ the command's exit status


def _command() -> list[str]:
    """The installed ``mnist-logreg`` console script (beside this Python), else ``python -m mnist_logreg``."""
    script = Path(sys.executable).parent / "mnist-logreg"
    found = str(script) if script.is_file() else shutil.which("mnist-logreg")
    return [found] if found else [sys.executable, "-m", "mnist_logreg"]


def _blank_png(path: Path) -> Path:
    Image.new("L", (280, 280), 255).save(path)
    return path


@pytest.mark.parametrize(
    ("category", "argv", "words"),
    [
        ("InputError (cli.UserError)", ["data", "show", "--grid", "ten"], "--grid: expected ROWSxCOLS"),
        ("InputError (modelio.ModelFileError)", ["predict", "--model", "missing.npz", "x.png"], "no such model file"),
        ("OptionError", ["train", "--C", "0.1,-1"], "every C must be a finite number > 0"),
        ("NoDigitError", ["predict", "--model", "{model}", "{blank}"], "blank image"),
        ("DataError", ["data", "info", "--source", "idx", "--base-url", "http://127.0.0.1:9/", "--cache-dir",
                       "{cache}"], "could not fetch"),
        ("ResourceLimitError", ["data", "augment", "--n", str(10**13), "--out", "{out}"], "of disk"),
    ],
    ids=lambda v: v if isinstance(v, str) and v[0].isupper() else None,
)
def test_the_command_answers_each_category_with_one_line_and_its_exit_code(tmp_path, model_10k, category, argv,
                                                                             words):
    fill = {"model": str(model_10k[1]), "blank": str(_blank_png(tmp_path / "blank.png")),
            "cache": str(tmp_path / "cache"), "out": str(tmp_path / "aug")}
    argv = [a.format(**fill) for a in argv]
    proc = subprocess.run([*_command(), *argv], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "mnist-logreg: error: " in proc.stderr and words in proc.stderr, proc.stderr


def test_the_exit_code_is_the_error_class_s(monkeypatch, capsys):
    """The command takes the status from the error's class, not a fixed 2."""
    from mnist_logreg import cli

    class Unusual(InputError):
        exit_code = 3

    def fail(args):
        raise Unusual("an unusual fault")

    monkeypatch.setattr(cli, "cmd_report", fail)
    assert main(["report", "somewhere"]) == 3
    assert capsys.readouterr().err == "mnist-logreg: error: an unusual fault\n"


def test_a_library_bug_is_not_a_user_error(monkeypatch):
    """A fault outside the documented ones (here a KeyError) is a traceback, not one line."""
    from mnist_logreg import cli

    def bug(args):
        raise KeyError("a bug")

    monkeypatch.setattr(cli, "cmd_report", bug)
    with pytest.raises(KeyError):
        main(["report", "somewhere"])


def test_the_package_is_the_one_tested():
    """(A guard: subprocesses above must run this checkout's code.)"""
    proc = subprocess.run([sys.executable, "-c", "import mnist_logreg; print(mnist_logreg.__file__)"],
                          capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == mnist_logreg.__file__


@pytest.mark.parametrize(("argv", "words"), [
    (["--train-size", "1"], "--train-size must be at least 2, got 1"),
    (["--tol", "-1"], "The 'tol' parameter of LogisticRegression must be a float in the range (0.0, inf)"),
    (["--max-iter", "-3"], "The 'max_iter' parameter of LogisticRegression must be an int"),
    (["--train-size", "1", "--workers", "1"], "--train-size must be at least 2"),  # before a cluster starts
])
def test_values_the_estimator_would_refuse_are_one_line_before_any_work(capsys, tmp_path, argv, words):
    """Options passed on to the estimator are checked by its own rules, in the flow, before any
    work; the command line shows them as one line, exit 2 (a bare ValueError is no longer caught)."""
    from mnist_logreg.cli import main

    assert main(["train", "--out", str(tmp_path / "run"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mnist-logreg: error:") and words in err and "Traceback" not in err, err
    assert not (tmp_path / "run").exists()
