"""The README and the documentation pages stay true: the set-up commands, the command-line
reference, and every code block run as a user runs it.

Python blocks run as scripts, each in a fresh process in an empty folder (as a user saves and
runs one: a Dask example must guard its work with ``if __name__ == "__main__":``, which ``exec``
inside pytest would not notice). Shell blocks are checked command by command: every
``mnist-logreg ...`` line must parse with the real parser (running them would train on full
MNIST; the commands themselves are tested in ``test_cli.py``).
"""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_logreg.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
DOC_PAGES = sorted(p for p in (ROOT / "docs").rglob("*.md") if "_build" not in p.parts)
PAGES = [ROOT / "README.md", *DOC_PAGES]
CLI_PAGE = ROOT / "docs" / "user-guide" / "cli.md"


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def test_setup_commands_are_make_run_and_make_test():
    setup = README.split("## Set-up", 1)[1].split("##", 1)[0]
    block = re.search(r"```sh\n(.*?)```", setup, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["make run", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_readme_is_a_front_page():
    """At most 250 lines (it was 727), and every page it links to exists."""
    assert len(README.splitlines()) <= 250
    for target in re.findall(r"\]\(((?:docs/)[^)#]+)\)", README):
        assert (ROOT / target).is_file(), target


def test_make_run_installs_only_the_core():
    """`make run` installs the package without extras; the extras come with `make test`."""
    makefile = (ROOT / "Makefile").read_text()
    run_needs = re.search(r"^run: (\S+)", makefile, re.M).group(1)
    assert run_needs == "$(CORE)"
    core_recipe = re.search(r"^\$\(CORE\):.*?\n((?:\t.*\n)+)", makefile, re.M).group(1)
    assert '$(PIP) install -e .\n' in core_recipe and "[" not in core_recipe


def test_make_run_ends_with_the_line_the_readme_shows():
    """The README's words and the command's behaviour stay the same: the last step of `make run`
    is `train`, whose summary line has exactly the shape the README shows."""
    from mnist_logreg.cli import _summary_line

    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^run:.*?\n((?:\t.*\n)+)", makefile, re.M).group(1).strip().splitlines()
    assert "mnist-logreg train --out runs/latest" in recipe[-1]
    setup = README.split("## Set-up", 1)[1].split("## ", 1)[0]
    shown = re.search(r"ends with a line like\s*```\n(.*?)```", setup, re.S).group(1).strip()
    first = shown.splitlines()[0]
    numbers = re.match(r"test accuracy ([\d.]+)% \((\d+) digits\) \| fit ([\d.]+) s, (\d+) iterations", first)
    assert numbers, shown
    acc, n, t, it = numbers.groups()
    m = {"test": {"accuracy": float(acc) / 100, "n_samples": int(n)}, "out": "runs/latest",
         "fit": {"fit_time_s": float(t), "n_iter": int(it), "converged": True, "features": "pixels",
                 "model": "softmax"}, "options": {"model": "softmax"}}
    assert _summary_line(m) == shown


def _subparsers(parser, prefix=()):
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for name, sub in action.choices.items():
                yield from _subparsers(sub, (*prefix, name))
    if prefix:
        yield prefix, parser


def test_cli_reference_lists_every_command_and_option():
    reference = CLI_PAGE.read_text() + (ROOT / "docs" / "user-guide" / "dask.md").read_text()
    for path, parser in _subparsers(build_parser()):
        if any(a.__class__.__name__ == "_SubParsersAction" for a in parser._actions):
            continue  # a group such as "data": its commands are checked one by one
        assert f"mnist-logreg {' '.join(path)}" in reference, path
        for action in parser._actions:
            for opt in action.option_strings:
                if opt.startswith("--") and opt != "--help":
                    assert opt in reference, f"{' '.join(path)}: {opt} is not in the command-line reference"


SHELL_LINES = [(page, line.split(" #")[0].strip()) for page in PAGES for block in _blocks(page.read_text(), "sh")
               for line in block.splitlines() if line.strip().startswith("mnist-logreg ")]


@pytest.mark.parametrize(("page", "line"), SHELL_LINES,
                         ids=[f"{p.relative_to(ROOT)}:{line[:40]}" for p, line in SHELL_LINES])
def test_shell_examples_parse(page, line):
    """Every `mnist-logreg ...` command shown parses as the real command line parses it."""
    argv = shlex.split(line)[1:]
    try:
        build_parser().parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"{page.relative_to(ROOT)}: `{line}` does not parse (exit {exc.code})")


PYTHON_BLOCKS = [(page, i, block) for page in PAGES for i, block in enumerate(_blocks(page.read_text(), "python"))]


@pytest.mark.parametrize(("page", "index", "code"), PYTHON_BLOCKS,
                         ids=[f"{p.relative_to(ROOT)}#{i}" for p, i, _ in PYTHON_BLOCKS])
def test_python_examples_run_as_scripts(tmp_path, page, index, code):
    script = tmp_path / "example.py"
    script.write_text(code)
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "MPLBACKEND": "Agg"})
    assert proc.returncode == 0, f"{page.relative_to(ROOT)} block {index}:\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr


def test_every_page_has_python_examples_where_expected():
    pages_with_code = {p.relative_to(ROOT).as_posix() for p, _, _ in PYTHON_BLOCKS}
    assert {"README.md", "docs/getting-started.md", "docs/user-guide/library.md",
            "docs/user-guide/dask.md"} <= pages_with_code


def test_gallery_images_exist():
    for page in PAGES:
        for image in re.findall(r"\]\(([^)]+\.png)\)", page.read_text()):
            assert (page.parent / image).is_file(), f"{page.relative_to(ROOT)}: {image}"
