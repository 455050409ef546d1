"""Atomic writes: a file is written to a temporary file in the same folder, a run folder is built
in a temporary sibling folder, and either is renamed into place only when it is complete."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success rename it over ``path``.

    If the block raises, the temporary file is removed and ``path`` is left untouched,
    so a failed write never loses or half-writes existing data.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def check_output_folder(path: str | os.PathLike[str]) -> Path:
    """Check, before any work, that a run folder can be written at ``path``; returns it as a Path.

    Raises
    ------
    ValueError
        ``path`` is empty, or exists and is not a folder.
    PermissionError
        The folder (or the nearest existing parent) is not writable.
    """
    if str(path).strip() == "":
        raise ValueError("--out: expected a folder name, got an empty string")
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{path}: exists and is not a folder (choose another --out)")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"{parent}: cannot write the run folder {path} here (not a writable folder)")
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(parent: Path, name: str) -> None:
    """Remove ``.<name>.partial-<pid>-*`` / ``.old-<pid>-*`` folders left by processes that are gone."""
    for stale in list(parent.glob(f".{name}.partial-*")) + list(parent.glob(f".{name}.old-*")):
        try:
            pid = int(stale.name.rsplit(".", 1)[1].split("-")[1])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and not _alive(pid):
            shutil.rmtree(stale, ignore_errors=True)


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Build a folder in a hidden temporary sibling; on success it replaces ``path``.

    ``path`` is always either the previous complete folder, the new complete one, or (for an
    instant between two renames) absent; never a mixture. If the block raises (or the process
    is killed) the sibling is removed (or left hidden, and removed by the next build at the same
    place once its process is gone).
    """
    path = check_output_folder(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path.parent, path.name)
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.partial-{os.getpid()}-"))
    os.chmod(staging, 0o777 & ~_umask())
    try:
        yield staging
        _promote(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _promote(staging: Path, path: Path) -> None:
    """Put the complete folder ``staging`` at ``path``, replacing what is there (two renames)."""
    if path.exists():
        old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.old-{os.getpid()}-"))
        os.replace(path, old / path.name)
        os.replace(staging, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, path)


class FolderBusyError(OSError):
    """Another process is building the same folder."""


_RESUME_KEY = ".resume-key.json"


@contextlib.contextmanager
def resumable_folder(path: str | os.PathLike[str], key: dict) -> Iterator[tuple[Path, bool]]:
    """Build a folder in a hidden sibling that survives an interruption, then put it at ``path``.

    Like :func:`atomic_folder`, ``path`` is only ever the previous complete folder or the new
    complete one. The sibling (``.<name>.resumable``) is kept when the block fails or the
    process is killed, with ``key`` (the parameters of the build, JSON) beside its contents: the
    next build at ``path`` with the same ``key`` gets it back to go on from (``resumed`` is
    True); with another key it is emptied first, so two builds never mix. A lock file stops two
    processes from building the same folder at once.

    Yields
    ------
    (staging, resumed) : (Path, bool)
    """
    import fcntl

    path = check_output_folder(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.parent / f".{path.name}.resumable"
    lock = open(path.parent / f".{path.name}.resumable.lock", "w")  # held until the end
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderBusyError(f"{path}: another process is writing it now (lock {lock.name})") from None
        key_file = staging / _RESUME_KEY
        try:
            resumed = json.loads(key_file.read_text()) == key
        except (OSError, ValueError):
            resumed = False
        if not resumed:
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir()
            os.chmod(staging, 0o777 & ~_umask())
            with atomic_write(key_file, "w") as fh:
                json.dump(key, fh, sort_keys=True)
        yield staging, resumed
        key_file.unlink()
        _promote(staging, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock.name)
        lock.close()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
