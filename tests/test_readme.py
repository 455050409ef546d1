"""The README stays true: set-up commands, CLI reference, and its Python example runs."""

import re
from pathlib import Path

from mnist_logreg.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_setup_commands_are_make_run_and_make_test():
    setup = README.split("## Set-up", 1)[1].split("##", 1)[0]
    block = re.search(r"```sh\n(.*?)```", setup, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["make run", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_make_run_ends_with_the_line_the_readme_shows():
    """The README's words and the command's behaviour stay the same: the last step of `make run`
    is `train`, whose summary line has exactly the shape the README shows."""
    from mnist_logreg.cli import _summary_line

    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^run:.*?\n((?:\t.*\n)+)", makefile, re.M).group(1).strip().splitlines()
    assert "mnist-logreg train --out runs/latest" in recipe[-1]
    setup = README.split("## Set-up", 1)[1].split("## ", 1)[0]
    shown = re.search(r"ends with a line like\s*```\n(.*?)```", setup, re.S).group(1).strip()
    numbers = re.match(r"test accuracy ([\d.]+)% \((\d+) digits\) \| fit ([\d.]+) s, (\d+) iterations", shown)
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
    for path, parser in _subparsers(build_parser()):
        if any(a.__class__.__name__ == "_SubParsersAction" for a in parser._actions):
            continue  # a group such as "data": its commands are checked one by one
        assert f"mnist-logreg {' '.join(path)}" in README, path
        for action in parser._actions:
            for opt in action.option_strings:
                if opt.startswith("--") and opt != "--help":
                    assert opt in README, f"{' '.join(path)}: {opt} is not in the README"


def test_python_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


def test_gallery_images_exist():
    for image in re.findall(r"\]\((docs/images/[^)]+\.png)\)", README):
        assert (ROOT / image).is_file(), image
