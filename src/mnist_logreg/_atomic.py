"""Atomic writes: a file is written to a temporary file in the same folder, a run folder is built
in a temporary sibling folder, and either is renamed into place only when it is complete.

Nothing of the user's is ever replaced: a file is written only where there is nothing or a
regular file (through a symbolic link, to the file it names; a device node, a pipe or a folder is
refused), and a folder is replaced only when it is empty or one of this project's own folders of
the same kind (a run folder, an augmented store), which carry a marker file saying so.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .errors import InputError


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success rename it over ``path``.

    If the block raises, the temporary file is removed and ``path`` is left untouched,
    so a failed write never loses or half-writes existing data. A symbolic link is written
    through (the file it names is replaced, the link stays); anything at ``path`` that is not a
    regular file is refused before anything is written (:func:`check_output_file`).
    """
    path = check_output_file(path)
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


class OutputPathError(InputError, ValueError):
    """An output path where the project refuses to write: it would replace something of the user's."""


#: the marker file in each folder this project builds: {"made_by": "mnist-logreg", "kind": ..., "entries": [...]}
MARKER = ".mnist-logreg.json"
_KINDS = {"run": "run folder", "store": "store of augmented digits"}


def _kind_of_file(st: os.stat_result) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a named pipe"),
                       (stat.S_ISSOCK, "a socket")):
        if test(st.st_mode):
            return name
    return "not a regular file"


def check_output_file(path: str | os.PathLike[str]) -> Path:
    """The file :func:`atomic_write` will replace for ``path``: ``path`` itself, or the file a
    symbolic link at ``path`` names (written through, the link kept).

    Raises
    ------
    OutputPathError
        ``path`` is empty, or names (directly or through links) something that is not a regular
        file: a folder, a device node, a pipe, a socket; or a link that loops.
    """
    if str(path).strip() == "":
        raise OutputPathError("expected a file name, got an empty string")
    path = Path(path)
    if path.is_symlink():
        try:
            target = path.resolve(strict=False)
        except (OSError, RuntimeError) as exc:  # a loop of links
            raise OutputPathError(f"{path}: a symbolic link that cannot be followed ({exc})") from None
        if target.is_symlink():
            raise OutputPathError(f"{path}: a symbolic link that cannot be followed (a loop)")
        path = target
    try:
        st = path.stat()
    except FileNotFoundError:
        return path
    except OSError as exc:
        raise OutputPathError(f"{path}: cannot check it ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise OutputPathError(f"{path}: is {_kind_of_file(st)}, not a regular file; nothing was written "
                              "(give the name of a new or existing regular file)")
    return path


def read_marker(path: Path) -> dict[str, Any] | None:
    """The marker of a folder this project built at ``path`` (its kind and entries), or None."""
    try:
        marker = json.loads((path / MARKER).read_text())
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(marker, dict) or marker.get("made_by") != "mnist-logreg" or marker.get("kind") not in _KINDS:
        return None
    entries = marker.get("entries")
    if entries is not None and not (isinstance(entries, list) and all(isinstance(e, str) for e in entries)):
        return None
    return marker


def write_marker(folder: Path, kind: str) -> None:
    """Mark ``folder`` (complete, about to be put in place) as this project's ``kind`` of folder,
    listing its entries so that a file added later by the user is never replaced with it."""
    entries = sorted(p.name for p in folder.iterdir() if p.name != MARKER)
    with atomic_write(folder / MARKER, "w") as fh:
        json.dump({"made_by": "mnist-logreg", "kind": kind, "entries": entries}, fh)


# what a run folder written before the marker existed holds: these files and nothing else
_LEGACY_RUN_REQUIRED = {"metrics.json", "classification_report.txt"}
_LEGACY_RUN_SUFFIXES = {".json", ".txt", ".png", ".html", ".npz"}


def _legacy_kind(path: Path, entries: list[Path]) -> str | None:
    """``"run"`` or ``"store"`` for a folder of this project's written before markers, else None."""
    names = {p.name for p in entries}
    if _LEGACY_RUN_REQUIRED <= names and all(p.is_file() and not p.is_symlink() and p.suffix in _LEGACY_RUN_SUFFIXES
                                             for p in entries):
        return "run"
    try:
        attrs = json.loads((path / "zarr.json").read_text()).get("attributes", {})
    except (OSError, ValueError, UnicodeDecodeError, RecursionError, AttributeError):
        return None
    if isinstance(attrs, dict) and str(attrs.get("format", "")).startswith("mnist-logreg") and "sha256" in attrs:
        return "store"
    return None


def check_output_folder(path: str | os.PathLike[str], kind: str = "run") -> Path:
    """Check, before any work, that a ``kind`` of folder (``"run"`` or ``"store"``) may be written at
    ``path``; returns it as a Path.

    ``path`` may be missing, an empty folder, or a folder this project wrote as the same kind
    (its marker lists its entries, none added since). Anything else is the user's and refused.

    Raises
    ------
    OutputPathError
        ``path`` is empty, a symbolic link, not a folder, the current folder or one above it, a
        mount point, or a non-empty folder that is not one of this project's of the same kind.
    PermissionError
        The folder (or the nearest existing parent) is not writable.
    """
    what = _KINDS[kind]
    if str(path).strip() == "":
        raise OutputPathError(f"expected a folder name for the {what}, got an empty string")
    path = Path(path)
    if path.is_symlink():
        raise OutputPathError(f"{path}: a symbolic link; the {what} would replace the link, not the folder it "
                              "names (give the folder's own path, or a new name)")
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"{path}: exists and is not a folder (choose another folder for the {what})")
    resolved = path.resolve()
    if resolved == Path.cwd().resolve() or resolved in Path.cwd().resolve().parents or os.path.ismount(resolved):
        raise OutputPathError(f"{path}: the current folder, a folder above it or a mount point cannot be "
                              f"replaced by a {what} (give a new folder's name, such as runs/first)")
    if path.is_dir():
        try:
            entries = list(path.iterdir())
        except OSError as exc:
            raise PermissionError(f"{path}: cannot read the folder ({exc.strerror or exc})") from None
        if entries:
            _check_own_folder(path, entries, kind)
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"{parent}: cannot write the {what} {path} here (not a writable folder)")
    return path


def _check_own_folder(path: Path, entries: list[Path], kind: str) -> None:
    what = _KINDS[kind]
    marker = read_marker(path)
    found = marker["kind"] if marker is not None else _legacy_kind(path, entries)
    if found is None:
        listed = ", ".join(sorted(p.name for p in entries)[:5]) + (", ..." if len(entries) > 5 else "")
        raise OutputPathError(f"{path}: an existing folder that mnist-logreg did not write ({len(entries)} "
                              f"entr{'y' if len(entries) == 1 else 'ies'}: {listed}); it is left as it is: "
                              f"give a new or empty folder for the {what}")
    if found != kind:
        raise OutputPathError(f"{path}: a {_KINDS[found]} of mnist-logreg, not a {what}; give another folder")
    if marker is not None and marker.get("entries") is not None:
        added = sorted(p.name for p in entries if p.name != MARKER and p.name not in marker["entries"])
        if added:
            listed = ", ".join(added[:5]) + (", ..." if len(added) > 5 else "")
            raise OutputPathError(f"{path}: a {what} holding files it did not write ({listed}); it is left as it "
                                  "is: move them out, or give another folder")


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
def atomic_folder(path: str | os.PathLike[str], kind: str = "run") -> Iterator[Path]:
    """Build a folder in a hidden temporary sibling; on success it replaces ``path``.

    ``path`` must be missing, empty or this project's own ``kind`` of folder
    (:func:`check_output_folder`, checked again just before the swap).

    ``path`` is always either the previous complete folder, the new complete one, or (for an
    instant between two renames) absent; never a mixture. If the block raises (or the process
    is killed) the sibling is removed (or left hidden, and removed by the next build at the same
    place once its process is gone).
    """
    path = check_output_folder(path, kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path.parent, path.name)
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.partial-{os.getpid()}-"))
    os.chmod(staging, 0o777 & ~_umask())
    try:
        yield staging
        write_marker(staging, kind)
        _promote(staging, path, kind)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _promote(staging: Path, path: Path, kind: str) -> None:
    """Put the complete folder ``staging`` at ``path``, replacing what is there (two renames).

    What is there is checked once more first: a file the user put there while the work ran stops
    the swap (the new folder is left hidden beside it, and the error says where)."""
    try:
        check_output_folder(path, kind)
    except OutputPathError as exc:
        kept = _free_sibling(path)
        os.replace(staging, kept)
        raise OutputPathError(f"{exc}. The new {_KINDS[kind]} is at {kept} instead") from None
    if path.exists():
        old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.old-{os.getpid()}-"))
        os.replace(path, old / path.name)
        os.replace(staging, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, path)


def _free_sibling(path: Path) -> Path:
    """``<path>-2``, ``<path>-3``, ...: the first name beside ``path`` that is free."""
    for i in itertools.count(2):
        candidate = path.with_name(f"{path.name}-{i}")
        if not candidate.exists() and not candidate.is_symlink():
            return candidate
    raise AssertionError("unreachable")


class FolderBusyError(InputError, OSError):
    """Another process is building the same folder."""


_RESUME_KEY = ".resume-key.json"


@contextlib.contextmanager
def resumable_folder(path: str | os.PathLike[str], key: dict[str, Any],
                     kind: str = "store") -> Iterator[tuple[Path, bool]]:
    """Build a folder in a hidden sibling that survives an interruption, then put it at ``path``.

    Like :func:`atomic_folder`, ``path`` is only ever the previous complete folder or the new
    complete one, and only an empty folder or this project's own ``kind`` of folder is replaced.
    The sibling (``.<name>.resumable``) is kept when the block fails or the process is killed,
    with ``key`` (the parameters of the build, JSON) beside its contents: the next build at
    ``path`` with the same ``key`` gets it back to go on from (``resumed`` is True); with another
    key it is emptied first, so two builds never mix. A lock (:func:`_hold_lock`) stops two
    processes from building the same folder at once; a refused process leaves it alone.

    Yields
    ------
    (staging, resumed) : (Path, bool)
    """
    path = check_output_folder(path, kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.parent / f".{path.name}.resumable"
    with _hold_lock(path, path.parent / f".{path.name}.resumable.lock"):
        key_file = staging / _RESUME_KEY
        try:
            resumed = json.loads(key_file.read_text()) == key
        except (OSError, ValueError, UnicodeDecodeError, RecursionError):
            resumed = False
        if not resumed:
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir()
            os.chmod(staging, 0o777 & ~_umask())
            with atomic_write(key_file, "w") as fh:
                json.dump(key, fh, sort_keys=True)
        yield staging, resumed
        key_file.unlink()
        write_marker(staging, kind)
        _promote(staging, path, kind)


@contextlib.contextmanager
def _hold_lock(path: Path, lock_path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path`` for the block, or raise FolderBusyError.

    Only the holder removes the lock file, while it still holds the lock. A process that opened
    the file just before the holder removed it then locks a file that is no longer there; it
    checks that the file it locked is still the one at ``lock_path`` and tries again if not, so
    two processes never both believe they hold the lock.
    """
    import fcntl

    for _attempt in range(5):
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FolderBusyError(f"{path}: another process is writing it now (lock {lock_path}); "
                                  "wait for it to finish, or give another folder") from None
        try:
            current = os.stat(lock_path)
        except FileNotFoundError:
            current = None
        mine = os.fstat(fd)
        if current is None or (current.st_dev, current.st_ino) != (mine.st_dev, mine.st_ino):
            os.close(fd)  # the holder removed the file between our open and our lock: again
            continue
        try:
            yield
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock_path)
            os.close(fd)
        return
    raise FolderBusyError(f"{path}: another process keeps taking the lock {lock_path}; try again later")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
