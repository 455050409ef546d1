"""The ``mnist-logreg`` command: a thin layer over the library.

User mistakes (bad options, missing or corrupt files, unreachable sources) print one line
``mnist-logreg: error: ...`` and exit with the status their class gives (2; see
:mod:`mnist_logreg.errors`); nothing prints a traceback for them.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from .errors import InputError, MnistLogregError, NoDigitError, OptionError

__all__ = ["build_parser", "main"]


class UserError(InputError):
    """An error the user can fix; printed as one line."""


def _add_options(p: argparse.ArgumentParser, table: type, skip: tuple[str, ...] = ()) -> None:
    """The flags of an options dataclass (``pipeline.DataOptions``, ``pipeline.TrainOptions``),
    built from its fields: name, type, default, choices and help are written once, there."""
    import dataclasses
    import typing

    hints = typing.get_type_hints(table)
    groups: dict[str | None, argparse._ActionsContainer] = {None: p}
    for f in dataclasses.fields(table):
        if f.name in skip:
            continue
        meta = f.metadata
        target = groups.get(meta.get("group"))
        if target is None:
            target = groups[meta["group"]] = p.add_argument_group(meta["group"])
        flag = _flag(f.name)
        if hints[f.name] is bool:  # on by default: the flag turns it off
            target.add_argument(f"--no-{f.name.replace('_', '-')}", dest=f.name, action="store_false",
                                help=meta.get("help"))
            continue
        kinds = set(typing.get_args(hints[f.name])) - {type(None)} or {hints[f.name]}
        kind = next(iter(kinds)) if len(kinds) == 1 and next(iter(kinds)) in (int, float) else None
        converter: dict[str, Any] = {} if kind is None else {"type": kind}  # no type: the string as given
        target.add_argument(flag, **converter, default=f.default, choices=meta.get("choices"),
                            metavar=meta.get("metavar"), help=meta.get("help"))


def _add_source_options(p: argparse.ArgumentParser) -> None:
    from .pipeline import DataOptions

    _add_options(p, DataOptions)


def _options(table: type, args: argparse.Namespace, **given: Any) -> Any:
    """An options dataclass from the parsed flags (``given`` overrides, e.g. a converted value)."""
    import dataclasses

    return table(**{f.name: given.get(f.name, getattr(args, f.name)) for f in dataclasses.fields(table)})


def _data_options(args: argparse.Namespace) -> Any:
    from .pipeline import DataOptions

    return _options(DataOptions, args)


def _load(args: argparse.Namespace, progress: bool = True) -> Any:
    from .pipeline import load_data

    return load_data(_data_options(args), progress=progress)


# ------------------------------------------------------------------ data


def cmd_data_info(args: argparse.Namespace) -> int:
    import numpy as np

    data = _load(args)
    info = {"source": data.source}
    for split in ("train", "test"):
        _X, y = data.split(split)
        classes, counts = np.unique(y, return_counts=True)
        info[split] = {"images": list(data.images(split).shape), "labels": list(y.shape),
                       "class_counts": {int(c): int(n) for c, n in zip(classes, counts, strict=True)}}
    info["checksums_md5"] = data.checksums or data.compute_checksums()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"source: {info['source']}")
    for split in ("train", "test"):
        s = info[split]
        print(f"{split}: images {tuple(s['images'])} uint8, labels {tuple(s['labels'])} int64")
        print("  class counts: " + ", ".join(f"{c}:{n}" for c, n in s["class_counts"].items()))
    for key, md5 in info["checksums_md5"].items():
        print(f"md5 {key}: {md5}")
    return 0


def _parse_grid(text: str) -> tuple[int, int]:
    rows, sep, cols = text.lower().partition("x")
    if not sep or not rows.isdigit() or not cols.isdigit() or int(rows) < 1 or int(cols) < 1:
        raise UserError(f"--grid: expected ROWSxCOLS such as 10x10, found {text!r}")
    return int(rows), int(cols)


def cmd_data_show(args: argparse.Namespace) -> int:
    from . import plots
    from ._atomic import check_output_file

    check_output_file(args.out or ("grid.png" if args.grid else "digit.png"))  # before any work
    data = _load(args)
    X, y = data.split(args.split)
    if args.grid:
        rows, cols = _parse_grid(args.grid)
        start = args.index or 0
        stop = start + rows * cols
        if start < 0 or stop > len(y):
            raise UserError(f"--grid {args.grid} from --index {start}: needs rows {start}..{stop - 1}, "
                            f"the {args.split} split has {len(y)}")
        fig = plots.digit_grid(X[start:stop], [str(v) for v in y[start:stop]], rows=rows, cols=cols,
                               title=f"MNIST {args.split} digits {start}-{stop - 1}")
        out = args.out or "grid.png"
    else:
        index = 0 if args.index is None else args.index
        if not 0 <= index < len(y):
            raise UserError(f"--index {index}: expected 0..{len(y) - 1} for the {args.split} split")
        fig = plots.digit_figure(X[index], f"{args.split}[{index}]: label {y[index]}")
        out = args.out or "digit.png"
    plots.save_figure(fig, out)
    print(f"wrote {out}")
    return 0


def cmd_data_augment(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .datasets.augment import augment

    data = _load(args)

    def resuming(kept: int, total: int) -> None:
        print(f"resuming an interrupted run: {kept} of {total} digits already written and checked", file=sys.stderr)

    # shown after half a second: a refused option prints its one line and no empty bar
    with tqdm(total=args.n, unit="digit", unit_scale=True, disable=args.quiet, file=sys.stderr, delay=0.5) as bar:
        out = augment(data.X_train, data.y_train, args.n, args.out, seed=args.seed, chunk_rows=args.chunk_rows,
                      source_checksums=data.checksums, on_chunk=lambda done, total: bar.update(done - bar.n),
                      on_resume=resuming)
    print(f"wrote {args.n} digits to {out} (seed {args.seed}; chunks of {min(args.chunk_rows, args.n)} rows, "
          "each with its SHA-256)")
    return 0


def cmd_data_fetch(args: argparse.Namespace) -> int:
    data = _load(args)
    print(f"fetched {data.source}: {len(data.y_train)} train, {len(data.y_test)} test digits (cached)")
    return 0


# ------------------------------------------------------------------ train / evaluate / report


class _Status:
    """A one-line live status on stderr (off with --quiet or when stderr is not a terminal)."""

    def __init__(self, quiet: bool):
        self.on = not quiet
        self.tty = sys.stderr.isatty()
        self.last = 0

    def iteration(self, info: dict) -> None:
        if not self.on:
            return
        if "epoch" in info:
            text = f"fitting: epoch {info['epoch']}/{info['epochs']}"
        else:
            model = f"model {info['model']} " if "model" in info else ""
            text = (f"fitting: {model}iter {info['iter']:4d}  F = {info['objective']:.6g}  "
                    f"est. gap {info['est_gap'] / max(abs(info['objective']), 1):.1e}")
        if self.tty:
            print("\r" + text.ljust(78), end="", file=sys.stderr, flush=True)
        elif info.get("iter", 0) % 25 == 0:
            print(text, file=sys.stderr, flush=True)

    def stage(self, text: str) -> None:
        """What happens after the fit (evaluation, figures, report): one line each."""
        if self.on:
            self.done()
            print(f"{text}...", file=sys.stderr, flush=True)

    def cluster(self, dashboard: str, workers: int) -> None:
        """Where the Dask fit runs: always said (stderr), --quiet or not, as a log line."""
        print(f"dask: {workers} worker{'s' if workers != 1 else ''}, dashboard {dashboard}", file=sys.stderr,
              flush=True)

    def path_step(self, i: int, row: dict) -> None:
        if self.on:
            self.done()
            zeros = f"{row['zero_fraction']:.0%} zero coefficients, " if row["penalty"] == "l1" else ""
            print(f"path: C = {row['C']:g}: validation accuracy {row['validation_accuracy']:.2%}, "
                  f"{zeros}{row['fit_time_s']:.1f} s", file=sys.stderr, flush=True)

    def fold(self, i: int, score: float) -> None:
        if self.on:
            self.done()
            print(f"cross-validation: fold {i + 1} accuracy {score:.2%}", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.on and self.tty:
            print("\r" + " " * 78 + "\r", end="", file=sys.stderr, flush=True)


def _summary_line(m: dict) -> str:
    fit = m.get("fit", {})
    line = f"test accuracy {m['test']['accuracy']:.2%} ({m['test']['n_samples']} digits)"
    features = fit.get("features", "pixels")
    if features != "pixels":
        line += f" | features {features} ({fit.get('n_features')} columns, {fit.get('features_time_s', 0):.1f} s)"
    if m.get("options", {}).get("model_file"):  # evaluate: nothing was fitted now
        line += f" | model {m['options']['model']} from {m['options']['model_file']}"
    elif fit.get("model") == "sgd":  # SGD runs its epochs; it has no convergence test
        line += f" | fit {fit.get('fit_time_s', 0):.2f} s, {fit.get('n_iter')} epochs of SGD"
    elif fit:
        line += (f" | fit {fit.get('fit_time_s', 0):.2f} s, {fit.get('n_iter')} iterations, "
                 f"{'converged' if fit.get('converged') else 'NOT converged'}")
    if "path" in m:
        line += f" | C = {m['path']['chosen_C']:g} chosen on validation"
    if "cross_validation" in m:
        cv = m["cross_validation"]
        line += f" | {cv['k']}-fold CV {cv['mean']:.2%} ± {cv['std']:.2%}"
    line += f" | {m['out']}"
    if features == "pixels" and fit and m.get("options", {}).get("task", "multiclass") == "multiclass":
        line += "\n(pixels stop near 92.5%; for 99%: mnist-logreg train --features accurate)"
    return line


def _emit(m: dict[str, Any], args: argparse.Namespace) -> None:
    if args.json:
        slim = {k: v for k, v in m.items()}
        slim["test"] = {k: v for k, v in m["test"].items() if k != "report_text"}
        print(json.dumps(slim, indent=2, default=str, allow_nan=False))
    else:
        print(_summary_line(m))


def _C_values(text: str | None) -> float | list[float] | None:
    """``--C``: one number, or several separated by commas (a path); the library checks them."""
    if text is None:
        return None
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise OptionError(f"--C: expected a number or numbers separated by commas, got {text!r}") from None
    if not all(math.isfinite(v) for v in values):  # NaN would not sort
        return values[0] if len(values) == 1 else values
    return values[0] if len(values) == 1 else sorted(set(values))


def cmd_train(args: argparse.Namespace) -> int:
    from .pipeline import TrainOptions, train

    opts = _options(TrainOptions, args, C=_C_values(args.C))
    status = _Status(args.quiet or args.json)
    try:
        m = train(opts, _data_options(args), args.out, on_iteration=status.iteration, on_fold=status.fold,
                  on_path_step=status.path_step, on_stage=status.stage, on_cluster=status.cluster)
    finally:
        status.done()
    _emit(m, args)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .pipeline import evaluate_model

    status = _Status(args.quiet or args.json)
    m = evaluate_model(args.model, _data_options(args), args.out, cv=args.cv, seed=args.seed,
                       on_fold=status.fold)
    _emit(m, args)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .report import build_report

    print(f"wrote {build_report(args.run_dir)}")
    return 0


# ------------------------------------------------------------------ predict / serve


def resolve_model(path: str | None, quiet: bool = False) -> Path:
    """The model to use: ``path``; else the default model shipped with the package; else (a
    package without it) the cached accurate model, trained once if missing."""
    if path:
        return Path(path)
    from .pipeline import default_model_path, ensure_default_model
    from .shipped import default_model_file

    shipped = default_model_file()
    if shipped is not None:
        return shipped
    cached = default_model_path()
    if cached.is_file():
        if not quiet:
            print(f"using the accurate model cached at {cached}", file=sys.stderr)
        return cached
    print(f"no --model given and no default model in the package: training the accurate model once (99.2%; "
          f"about a minute on 2 cores); it is cached at {cached}", file=sys.stderr)
    progress = _FirstRun()
    try:
        trained = ensure_default_model(on_stage=progress.stage, on_iteration=progress.iteration)[0]
    finally:
        progress.close()
    return trained


class _FirstRun:
    """The default model's first training, told on stderr (``pipeline.TrainingProgress``): the
    stage, the share done and the time left, on one line updated in place on a terminal, else one
    line per stage and every 20 iterations (a log)."""

    def __init__(self) -> None:
        from .pipeline import TrainingProgress

        self.progress = TrainingProgress()
        self.tty = sys.stderr.isatty()
        self.shown = False

    def stage(self, text: str) -> None:
        self.progress.stage(text)
        self._show(force=True)

    def iteration(self, info: dict) -> None:
        self.progress.iteration(info)
        if "iter" in info:
            self._show(force=not self.tty and int(info["iter"]) % 20 == 0)

    def _show(self, force: bool = False) -> None:
        now = self.progress.snapshot()
        left = "" if now["seconds_left"] is None else f", about {now['seconds_left']:.0f} s left"
        text = f"training the default model: {now['stage']}, {now['percent']}% after {now['elapsed_s']:.0f} s{left}"
        if self.tty:
            print("\r" + text[:100].ljust(100), end="", file=sys.stderr, flush=True)
            self.shown = True
        elif force:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.shown:
            print(file=sys.stderr, flush=True)


def _image_paths(items: Sequence[str]) -> list[Path]:
    exts = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
    out = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix.lower() in exts)
            if not found:
                raise UserError(f"{p}: folder holds no image files ({', '.join(sorted(exts))})")
            out.extend(found)
        else:
            out.append(p)
    return out


def cmd_predict(args: argparse.Namespace) -> int:
    from ._atomic import check_output_file
    from .modelio import load_model
    from .predict import read_and_predict
    from .tasks import parse_task

    for out in (args.show_input, args.explain):  # refused before any work: never replace a device node,
        if out:                                  # a folder or a link
            check_output_file(out)
    model, task_text, _ = load_model(resolve_model(args.model, args.json))
    task = parse_task(task_text)
    paths = _image_paths(args.images)
    # a bad file is reported and skipped; the others are still read
    answers = read_and_predict(model, task, paths, names=[_quoted(str(path)) for path in paths])
    results: list[dict[str, Any]] = []
    for path, a in zip(paths, answers, strict=True):
        if a.prediction is None:  # a blank image holds no digit; a file that is not an image, unknown
            results.append({"file": str(path), "error": str(a.error),
                            "looks_like_a_digit": False if isinstance(a.error, NoDigitError) else None})
        else:  # "label" is what the class means ("2", "not 2"); "digit" the digit it names (None for "not 2")
            results.append({"file": str(path), "notes": a.notes, "label": a.prediction["label"],
                            "digit": a.prediction["digit"], "top3": a.prediction["top3"],
                            "looks_like_a_digit": a.prediction["looks_like_a_digit"]})
    read = [r for r in results if "error" not in r]
    if args.show_input and read:
        _show_inputs(args.show_input, [a.input for a in answers if a.ok], read)
    if args.explain and read:
        _explain(args.explain, model, task, [a.input for a in answers if a.ok], read)
    if args.json:
        print(json.dumps({"task": task_text, "note": task.scope_note, "predictions": results}, indent=2))
    else:
        _print_predictions(results, task.scope_note)
    failed = len(results) - len(read)
    if failed:
        print(f"mnist-logreg: {failed} of {len(results)} images could not be read", file=sys.stderr)
    # none read: the user's mistake (2, as for any bad input); some read: 1, after the others' results
    return 2 if not read else 1 if failed else 0


def _show_inputs(out: str, inputs: list, read: list[dict]) -> None:
    """``--show-input``: the 28x28 inputs the model saw, with the file names and answers."""
    import numpy as np

    from . import plots

    shown = read[:_MAX_SHOWN]
    fig = plots.digit_grid(np.stack(inputs[:_MAX_SHOWN]),
                           [f"{_quoted(Path(r['file']).name)}\n→ {r['label']}" for r in shown],
                           cols=min(8, len(shown)), title="What the model saw (28x28)")
    plots.save_figure(fig, out)


def _explain(out: str, model: Any, task: Any, inputs: list, read: list[dict]) -> None:
    """``--explain``: each input beside the evidence for its answer against the runner-up."""
    import numpy as np

    from . import plots
    from .explain import explain_digit

    shown = read[:_MAX_EXPLAINED]
    found = [explain_digit(model, task, x) for x in inputs[: len(shown)]]
    titles = [f"{_quoted(Path(r['file']).name)}: {e.answer}, not {e.runner_up}"
              for r, e in zip(shown, found, strict=True)]
    fig = plots.explanation_figure(np.stack(inputs[: len(shown)]), np.stack([e.evidence for e in found]), titles,
                                   [(e.answer, e.runner_up) for e in found], caption=_EXPLAIN_CAPTION)
    plots.save_figure(fig, out)
    if len(read) > len(shown):
        print(f"note: --explain shows the first {len(shown)} of {len(read)} images", file=sys.stderr)


#: what an --explain figure means
_EXPLAIN_CAPTION = ("Red ink pushed the model towards its answer, blue ink towards its second choice; the deeper "
                    "the colour, the more that ink counted (how much the answer's log-odds against the second "
                    "choice drop when that ink is taken away). Blank paper counts for nothing here.")
#: at most this many inputs in the --explain figure
_MAX_EXPLAINED = 8


def _print_predictions(results: list[dict], scope_note: str | None) -> None:
    """The text answers: one line per image on stdout; errors and notes on stderr."""
    for r in results:
        if "error" in r:
            print(f"mnist-logreg: error: {_quoted(r['error'])}", file=sys.stderr)
            continue
        tops = "  ".join(f"{d}: {q:.1%}" for d, q in r["top3"])
        print(f"{_quoted(r['file'])}: {r['label']}   ({tops})")
        for note in r["notes"]:  # the crop looks wrong: say so beside the answer
            print(f"note: {note}", file=sys.stderr)
    if scope_note:
        print(f"note: {scope_note}", file=sys.stderr)


#: at most this many inputs in the --show-input figure
_MAX_SHOWN = 64


def _quoted(text: str) -> str:
    """``text`` as it is, or JSON-quoted when it holds control characters (a newline in a file
    name must not forge an extra output line)."""
    return text if text.isprintable() else json.dumps(text)


def _port(text: str) -> int:
    """``--port``: an integer from 1 to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected 1 to 65535, got {port}")
    return port


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from .web.app import create_app
        from .web.protocol import SERVER_OPTIONS
    except ImportError as exc:
        raise UserError(f"the web page needs the 'web' extra: pip install 'mnist-logreg[web]' ({exc})") from exc
    import os

    from .pipeline import TrainingProgress, default_model_path, ensure_default_model
    from .web.app import LOCAL_HOSTS

    prepare = None
    from .shipped import default_model_file

    if (args.model is None and args.workers == 1 and default_model_file() is None
            and not default_model_path().is_file()):
        # the page is served at once and shows the training's progress; it answers when ready
        print(f"no --model given and no default model in the package: training the accurate model once in the "
              f"background (about a minute on 2 cores; cached at {default_model_path()}); the page shows its "
              "progress", file=sys.stderr)

        def prepare(progress: TrainingProgress) -> Path:
            path = ensure_default_model(on_stage=progress.stage, on_iteration=progress.iteration)[0]
            print(f"the model is ready: {path}", file=sys.stderr, flush=True)
            return path

        model_path: Path | None = None
    else:
        model_path = resolve_model(args.model)
    hosts = [*LOCAL_HOSTS, *(args.allow_host or [])]
    if args.host not in LOCAL_HOSTS and args.host not in ("0.0.0.0", "::"):
        hosts.append(args.host)
    limits = {**SERVER_OPTIONS, "log_level": "info", "access_log": True}
    print(f"serving the draw-a-digit page on http://{args.host}:{args.port}/ with {args.workers} worker(s) "
          f"(press Ctrl+C to stop; requests are logged below)", file=sys.stderr)
    if args.host in ("0.0.0.0", "::") and not args.allow_host:
        print("note: other machines must reach it by a name given with --allow-host NAME (Host check)",
              file=sys.stderr)
    if args.workers > 1:  # each worker process builds its own app from the environment (the model is ready)
        os.environ["MNIST_LOGREG_SERVE_MODEL"] = str(model_path)
        os.environ["MNIST_LOGREG_SERVE_HOSTS"] = ",".join(hosts)
        uvicorn.run("mnist_logreg.web.app:app_from_environment", factory=True, workers=args.workers,
                    host=args.host, port=args.port, **limits)
    else:
        uvicorn.run(create_app(model_path, allowed_hosts=hosts, prepare=prepare), host=args.host, port=args.port,
                    **limits)
    return 0


# ------------------------------------------------------------------ parser


#: two or three examples at the end of each command's --help
EXAMPLES = {
    "info": ["mnist-logreg data info", "mnist-logreg data info --source idx --json"],
    "show": ["mnist-logreg data show --index 36001 --out digit.png",
             "mnist-logreg data show --grid 10x10 --split test --out grid.png"],
    "fetch": ["mnist-logreg data fetch --source openml --name mnist_784 --version 1",
              "mnist-logreg data fetch --source idx"],
    "train": ["mnist-logreg train --task digit:2 --cv 5",
              "mnist-logreg train --features accurate --out runs/accurate",
              "mnist-logreg train --C 0.001,0.01,0.1,1,10 --penalty l1",
              "mnist-logreg train --train-source augmented --workers 2 --features deskew"],
    "augment": ["mnist-logreg data augment --n 1000000 --seed 0 --out augmented",
                "mnist-logreg train --train-source augmented --workers 2"],
    "evaluate": ["mnist-logreg evaluate --model runs/accurate/model.npz",
                 "mnist-logreg evaluate --model model.npz --cv 5 --json"],
    "report": ["mnist-logreg report runs/accurate"],
    "predict": ["mnist-logreg predict my_digit.png", "mnist-logreg predict --model model.npz photos/ --json",
                "mnist-logreg predict my_digit.png --show-input seen.png"],
    "serve": ["mnist-logreg serve", "mnist-logreg serve --model runs/accurate/model.npz --port 8080"],
}


def _with_examples(name: str) -> dict:
    """``add_parser`` keywords that end the command's --help with its examples."""
    text = "examples:\n" + "\n".join(f"  {line}" for line in EXAMPLES[name])
    return {"epilog": text, "formatter_class": argparse.RawDescriptionHelpFormatter}


class _Parser(argparse.ArgumentParser):
    """argparse's parser with a suggestion for a mistyped option (``--fetures``: did you mean
    ``--features``?), as Python 3.14's ``suggest_on_error`` gives for commands."""

    def error(self, message: str) -> NoReturn:
        unknown = message.removeprefix("unrecognized arguments: ")
        if unknown != message:
            known = sorted({opt for parser in _all_parsers(self) for action in parser._actions
                            for opt in action.option_strings if opt.startswith("--")})
            hints = []
            for arg in unknown.split():
                close = difflib.get_close_matches(arg.split("=")[0], known, n=1) if arg.startswith("-") else []
                if close:
                    hints.append(f"{arg}: did you mean {close[0]}?")
            if hints:
                message += " (" + "; ".join(hints) + ")"
        super().error(message)


def _command_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)parser of the command ``args`` ran (``train``, ``data show``...)."""
    for dest in ("command", "data_command"):
        sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        name = getattr(args, dest, None)
        if sub is None or name is None or name not in sub.choices:
            break
        parser = sub.choices[name]
    return parser


def _all_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _all_parsers(sub)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``mnist-logreg`` command.

    Returns
    -------
    argparse.ArgumentParser
        The parser with every subcommand and its flags; a parsed namespace's ``func`` runs the
        subcommand.
    """
    parser = _Parser(
        prog="mnist-logreg",
        description="Handwritten-digit classification with logistic regression on MNIST.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"mnist-logreg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    data = sub.add_parser("data", help="look at and fetch the data",
                          description="Look at and fetch the MNIST data.")
    dsub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    p = dsub.add_parser("info", **_with_examples("info"), help="source, shapes, class counts, checksums",
                        description="Print the source, shapes, class counts per split and checksums.")
    _add_source_options(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_data_info)
    p = dsub.add_parser("show", **_with_examples("show"), help="write a digit or a grid of digits as PNG",
                        description="Write one digit (--index) or a grid (--grid RxC) as a PNG figure.")
    _add_source_options(p)
    p.add_argument("--index", type=int, help="row of the split (first row of the grid); default 0")
    p.add_argument("--split", choices=["train", "test"], default="train")
    p.add_argument("--grid", metavar="RxC", help="a grid of ROWSxCOLS digits, e.g. 10x10")
    p.add_argument("--out", help="PNG file to write (default digit.png or grid.png)")
    p.set_defaults(func=cmd_data_show)
    p = dsub.add_parser("augment", **_with_examples("augment"), help="write distorted copies of the training digits",
                        description="Write N augmented training digits (the originals, then seeded shifts, "
                                    "rotations and elastic distortions) as a chunked Zarr store that "
                                    "'train --train-source' reads lazily. Atomic: an interrupted run leaves "
                                    "nothing that looks complete.")
    _add_source_options(p)
    p.add_argument("--n", type=int, required=True,
                   help="number of digits to write (the first 60,000 are the originals)")
    p.add_argument("--seed", type=int, default=0, help="seed of the distortions (default 0)")
    p.add_argument("--out", required=True,
                   help="folder of the store: a new or empty folder, or a store this command wrote (then "
                        "replaced whole when the new one is complete); any other folder is refused")
    p.add_argument("--chunk-rows", type=int, default=10_000, help="rows per chunk (default 10000)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_data_augment)
    p = dsub.add_parser("fetch", **_with_examples("fetch"), help="download and cache a source",
                        description="Download a source into the cache (checksummed).")
    _add_source_options(p)
    p.set_defaults(func=cmd_data_fetch)

    p = sub.add_parser("train", **_with_examples("train"), help="train, evaluate, write figures and an HTML report",
                       description="Train a model, evaluate it on the test set and write a run folder "
                                   "(model.npz, metrics.json, figures, report.html).")
    from .pipeline import TrainOptions

    _add_options(p, TrainOptions)  # the library's table of options: flags, defaults, choices, help
    p.add_argument("--out", help="run folder (default runs/<timestamp>): a new or empty folder, or a run folder "
                   "this command wrote (then replaced whole); any other folder is refused")
    p.add_argument("--json", action="store_true", help="machine-readable summary on stdout")
    p.add_argument("--quiet", action="store_true", help="no live status")
    _add_source_options(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", **_with_examples("evaluate"), help="evaluate a saved model on the test set",
                       description="Evaluate a saved model on the test set; writes the same outputs as train.")
    p.add_argument("--model", required=True, help="model.npz from a run")
    p.add_argument("--cv", type=int, metavar="K", help="K-fold cross-validation on the training set")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="run folder (default runs/<timestamp>): a new or empty folder, or a run folder "
                   "this command wrote (then replaced whole); any other folder is refused")
    p.add_argument("--json", action="store_true", help="machine-readable summary on stdout")
    p.add_argument("--quiet", action="store_true", help="no live status")
    _add_source_options(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("report", **_with_examples("report"), help="rebuild report.html from a run folder",
                       description="Rebuild report.html from a run folder's metrics.json and figures.")
    p.add_argument("run_dir", help="a run folder written by train or evaluate")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("predict", **_with_examples("predict"), help="predict the digit in your own images",
                       description="Predict the digit in image files (or folders of them). A file that "
                                   "cannot be read is reported and skipped; the exit status is then 1 "
                                   "(2 when no file could be read).")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files or folders")
    p.add_argument("--model", help="model.npz (default: the model shipped with the package, the best preset, "
                   "99.3%%)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--show-input", metavar="PNG", help="write the 28x28 inputs the model saw")
    p.add_argument("--explain", metavar="PNG", help="write why the model answered what it did: the ink that pushed "
                   "it towards its answer (red) and towards its second choice (blue), for the first 8 images")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("serve", **_with_examples("serve"), help="the draw-a-digit web page",
                       description="Serve the draw-a-digit web page (needs the 'web' extra).")
    p.add_argument("--model", help="model.npz (default: the model shipped with the package, the best preset, "
                   "99.3%%)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8000, help="port, 1 to 65535 (default 8000)")
    p.add_argument("--workers", type=int, default=1, choices=range(1, 65), metavar="N",
                   help="worker processes, 1 to 64 (default 1)")
    p.add_argument("--allow-host", action="append", metavar="NAME",
                   help="also accept this Host name (repeatable; the loopback names always are)")
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Parameters
    ----------
    argv : sequence of str or None, default None
        The arguments after the program name; None reads ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success; a documented fault is printed as one line and gives a non-zero status.
    """
    import matplotlib

    matplotlib.use("Agg")
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:  # named by the command they were given to, with that command's usage and flags
        _command_parser(parser, args).error(f"unrecognized arguments: {' '.join(extras)}")
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning
        return _run(args)


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      file: TextIO | None = None, line: str | None = None) -> None:
    """Library warnings as the CLI's one line: ``mnist-logreg: warning: ...``."""
    print(f"mnist-logreg: warning: {message}", file=sys.stderr if file is None else file)


def _flag(option: str) -> str:
    """The command-line flag of a library parameter: ``worker_memory`` -> ``--worker-memory``."""
    return "--" + option.replace("_", "-")


def _run(args: argparse.Namespace) -> int:
    """``args.func(args)``, with every documented fault turned into one line and an exit status."""
    try:
        return args.func(args)
    except BrokenPipeError:  # e.g. `mnist-logreg predict --json ... | head`: the reader left; end quietly
        import os

        try:  # so that Python's flush of stdout at exit does not fail again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (AttributeError, OSError, ValueError):
            pass
        return 141
    except (MnistLogregError, OSError, ImportError) as exc:
        # MnistLogregError: the library's typed faults (errors.py), each with its exit status;
        # OSError: a full disk, a read-only folder... one line that names the path;
        # ImportError: an optional extra (dask, gpu, web) is missing, and the message says which;
        # the library names parameters ("worker_memory"); the command line says its flags
        msg = (exc.message_naming(_flag) if isinstance(exc, OptionError) else str(exc)) or type(exc).__name__
        print(f"mnist-logreg: error: {msg}", file=sys.stderr)
        return exc.exit_code if isinstance(exc, MnistLogregError) else 2
    except KeyboardInterrupt:
        print("mnist-logreg: interrupted", file=sys.stderr)
        return 130
