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


def test_the_command_line_is_built_from_the_library_options():
    """``train``'s flags come from TrainOptions and DataOptions: with no flags the CLI asks for
    exactly the library's defaults, and every option is a flag with the library's choices."""
    import dataclasses
    import inspect

    from mnist_logreg.cli import _options, build_parser
    from mnist_logreg.linear import LogisticRegression
    from mnist_logreg.pipeline import MODELS, DataOptions, TrainOptions

    args = build_parser().parse_args(["train"])
    assert _options(TrainOptions, args) == TrainOptions()
    assert _options(DataOptions, args) == DataOptions()
    train = next(a for a in build_parser()._subparsers._group_actions[0].choices["train"]._actions
                 if "--model" in a.option_strings)
    assert tuple(train.choices) == MODELS
    # a default written once: the iteration limit is the estimator's own
    assert TrainOptions().max_iter == inspect.signature(LogisticRegression).parameters["max_iter"].default
    flags = {s for a in build_parser()._subparsers._group_actions[0].choices["train"]._actions
             for s in a.option_strings}
    for f in dataclasses.fields(TrainOptions):
        assert f"--{f.name.replace('_', '-')}" in flags or f"--no-{f.name}" in flags, f.name
