"""The house's rules that a reader cannot see from one file: which code may name a backend."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mnist_logreg

PACKAGE = Path(mnist_logreg.__file__).parent
#: names that belong to one backend; only ``_backend.py``, ``_data.py`` and ``_dask.py`` (and the
#: package's Dask helpers in ``_chunks.py``) may use them in code
BACKEND_WORDS = ("dask", "torch", "map_blocks", "cuda", "numpy_backend")


def _code_words(path: Path) -> list[tuple[int, str]]:
    """Every identifier, attribute, imported name and string constant in ``path``'s code, with
    its line: docstrings and comments left out (they may say what input is accepted)."""
    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    words = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            words.append((node.lineno, node.id))
        elif isinstance(node, ast.Attribute):
            words.append((node.lineno, node.attr))
        elif isinstance(node, ast.alias):
            words.append((node.lineno, node.name))
        elif isinstance(node, ast.ImportFrom) and node.module:
            words.append((node.lineno, node.module))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            words.append((node.lineno, node.value))
    return words


@pytest.mark.parametrize("module", ["linear/estimator.py", "linear/_solvers.py", "linear/_loss.py",
                                    "linear/_penalties.py", "linear/cv.py"])
def test_no_backend_is_named_outside_the_backends(module):
    found = [(line, word) for line, word in _code_words(PACKAGE / module)
             if any(w in word.lower() for w in BACKEND_WORDS)]
    assert not found, f"{module} names a backend in its code (lines and words): {found}"


def test_the_check_sees_a_backend_name():
    # the same check on the module that must name them: it would fail there
    words = [word for _, word in _code_words(PACKAGE / "linear" / "_backend.py")]
    assert any("torch" in w for w in words) and any("dask" in w.lower() for w in words)


def test_no_estimator_asks_which_backend_it_has():
    text = (PACKAGE / "linear" / "estimator.py").read_text()
    assert "be.name" not in text and "is_dask_collection" not in text
