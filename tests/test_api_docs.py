"""The public API is documented (issue 26): every function a module lists in ``__all__``, and
every public method of the classes listed there, has a numpydoc docstring whose Parameters
section names each parameter and, where it returns something, a Returns (or Yields) section.

The modules are the package and its public submodules (not ``web``, whose functions are the
page's routes). A check that could never fail would prove nothing: the last tests run it on
deliberately undocumented functions."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import mnist_logreg

docscrape = pytest.importorskip("numpydoc.docscrape", reason="numpydoc is not installed (the test extra has it)")


def _public_modules() -> list[str]:
    names = ["mnist_logreg"]
    for info in pkgutil.walk_packages(mnist_logreg.__path__, "mnist_logreg."):
        parts = info.name.split(".")
        if not any(p.startswith("_") for p in parts) and "web" not in parts:
            names.append(info.name)
    return names


def _documented_callables() -> Iterator[tuple[str, Callable[..., Any]]]:
    """``(qualified name, function)`` for each public function and method, each once."""
    seen: set[Any] = set()
    for module_name in _public_modules():
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isfunction(obj) and obj not in seen:
                seen.add(obj)
                yield f"{obj.__module__}.{obj.__qualname__}", obj
            elif inspect.isclass(obj) and obj.__module__.startswith("mnist_logreg"):
                # methods defined by this package's classes (scikit-learn's own are documented there)
                for klass in obj.__mro__:
                    if not klass.__module__.startswith("mnist_logreg"):
                        continue
                    for method_name, method in vars(klass).items():
                        if method_name.startswith("_") or not inspect.isfunction(method) or method in seen:
                            continue
                        seen.add(method)
                        yield f"{klass.__module__}.{klass.__qualname__}.{method_name}", method


def _problems(func: Callable[..., Any]) -> list[str]:
    """What the docstring of ``func`` lacks ([] when nothing)."""
    if not inspect.getdoc(func):
        return ["no docstring"]
    doc = docscrape.FunctionDoc(func)
    signature = inspect.signature(func)
    documented = {part.strip().lstrip("*") for param in doc["Parameters"] for part in param.name.split(",")}
    problems = [f"parameter {name!r} not in Parameters" for name in signature.parameters
                if name not in ("self", "cls") and name not in documented]
    returns = signature.return_annotation
    if returns not in (None, "None", inspect.Signature.empty) and not doc["Returns"] and not doc["Yields"]:
        problems.append(f"returns {returns} but has no Returns or Yields section")
    if returns is inspect.Signature.empty and not doc["Returns"] and not doc["Yields"]:
        problems.append("no return annotation and no Returns section (annotate '-> None' if it returns nothing)")
    return problems


CALLABLES = dict(_documented_callables())


def test_the_walk_finds_the_public_api():
    # the functions and methods this test holds to the rule (a walk that found nothing would pass)
    assert len(CALLABLES) > 80
    for name in ("mnist_logreg.datasets.mnist.load_mnist", "mnist_logreg.pipeline.train", "mnist_logreg.cli.main",
                 "mnist_logreg.linear.estimator.LogisticRegression.fit",
                 "mnist_logreg.linear.estimator._LinearClassifierMixin.predict"):
        assert name in CALLABLES
    assert not any(".web." in name for name in CALLABLES)


@pytest.mark.parametrize("name", sorted(CALLABLES))
def test_public_callable_has_a_numpydoc_docstring(name):
    problems = _problems(CALLABLES[name])
    assert not problems, f"{name}: " + "; ".join(problems)


# -- the check itself fails where it should


def _undocumented(images, labels=None) -> int:
    """Count the images (prose only, no sections)."""
    return len(images)


def _half_documented(images, *, limit: int = 3) -> list[int]:
    """The first images.

    Parameters
    ----------
    images : list
        The images.
    """
    return images[:limit]


def _documented(images, *args, limit: int = 3, **kwargs) -> list[int]:
    """The first images.

    Parameters
    ----------
    images : list
        The images.
    *args, **kwargs
        Ignored.
    limit : int, default 3
        How many.

    Returns
    -------
    list of int
    """
    return images[:limit]


def _returns_nothing(path: str) -> None:
    """Write nothing.

    Parameters
    ----------
    path : str
        Where.
    """


def test_the_check_reports_an_undocumented_function():
    problems = _problems(_undocumented)
    assert "parameter 'images' not in Parameters" in problems
    assert "parameter 'labels' not in Parameters" in problems
    assert any("no Returns or Yields section" in p for p in problems)


def test_the_check_reports_a_missing_parameter_and_returns_section():
    problems = _problems(_half_documented)
    assert problems == ["parameter 'limit' not in Parameters",
                        "returns list[int] but has no Returns or Yields section"]


def test_the_check_passes_a_documented_function():
    assert _problems(_documented) == []
    assert _problems(_returns_nothing) == []


def test_the_check_reports_no_docstring():
    def bare(x: int) -> int:
        return x

    assert _problems(bare) == ["no docstring"]
