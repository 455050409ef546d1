"""The package is typed (issue 26): mypy passes with the configuration in pyproject.toml (strict on
``linear``, ``datasets`` and ``features``), and the ``py.typed`` marker ships in the package, so
that type checkers read this package's annotations in a user's code."""

import importlib.util
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_py_typed_marker_is_in_the_package():
    assert (resources.files("mnist_logreg") / "py.typed").is_file()


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed (the test extra has it)")
def test_mypy_passes_with_the_project_configuration():
    """``mypy`` as ``make test`` runs it: the files and flags come from ``[tool.mypy]`` (about 40 s
    without its cache, a few with it)."""
    done = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success: no issues found" in done.stdout
