"""No user file is ever lost: ``--out`` refuses folders that are not the project's own, stores have
one writer at a time, and files are written through links and never over device nodes or pipes."""

import json
import os
import socket
import stat

import numpy as np
import pytest

from mnist_logreg import _atomic
from mnist_logreg._atomic import (
    MARKER,
    FolderBusyError,
    OutputPathError,
    atomic_folder,
    atomic_write,
    check_output_folder,
    resumable_folder,
)
from mnist_logreg.cli import main
from mnist_logreg.datasets.augment import augment


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _users_folder(path):
    path.mkdir()
    (path / "thesis.tex").write_text("three years of work")
    (path / "data").mkdir()
    (path / "data" / "scan.png").write_bytes(b"\x89PNG not really")
    return {p.relative_to(path): (p.read_bytes() if p.is_file() else None) for p in path.rglob("*")}


def _contents(path):
    return {p.relative_to(path): (p.read_bytes() if p.is_file() else None) for p in path.rglob("*")}


@pytest.mark.parametrize("command", [
    ["train", "--train-size", "300", "--no-figures", "--quiet"],
    ["data", "augment", "--n", "100", "--chunk-rows", "50", "--quiet"],
])
def test_out_refuses_a_users_folder_before_any_work(capsys, tmp_path, command):
    folder = tmp_path / "mine"
    before = _users_folder(folder)
    code, out, err = run(capsys, *command, "--out", str(folder))
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert "an existing folder that mnist-logreg did not write (2 entries: data, thesis.tex)" in err
    assert _contents(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no sibling, no lock left behind


def test_out_takes_an_empty_folder_and_marks_what_it_wrote(capsys, tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    code, _, _ = run(capsys, "train", "--train-size", "300", "--no-figures", "--quiet", "--out", str(folder))
    assert code == 0
    marker = json.loads((folder / MARKER).read_text())
    assert marker["made_by"] == "mnist-logreg" and marker["kind"] == "run"
    assert set(marker["entries"]) == {p.name for p in folder.iterdir()} - {MARKER}
    # a run folder is not a store, nor the other way round
    code, _, err = run(capsys, "data", "augment", "--n", "100", "--quiet", "--out", str(folder))
    assert code == 2 and "a run folder of mnist-logreg, not a store of augmented digits" in err


def test_a_run_folder_written_before_markers_is_still_replaced(tmp_path):
    old = tmp_path / "run"
    old.mkdir()
    for name in ("metrics.json", "classification_report.txt", "model.npz", "grid.png", "report.html"):
        (old / name).write_bytes(b"old")
    assert check_output_folder(old) == old
    (old / "sub").mkdir()  # but not with a folder of the user's inside
    with pytest.raises(OutputPathError, match="did not write"):
        check_output_folder(old)


@pytest.mark.parametrize("where", [".", "..", "/"])
def test_out_refuses_the_current_folder_and_above(monkeypatch, tmp_path, where):
    inner = tmp_path / "work"
    inner.mkdir()
    monkeypatch.chdir(inner)
    with pytest.raises(OutputPathError, match="current folder, a folder above it or a mount point"):
        check_output_folder(where)


def test_out_refuses_a_symbolic_link(capsys, tmp_path):
    target = tmp_path / "real"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    code, _, err = run(capsys, "train", "--train-size", "300", "--quiet", "--out", str(link))
    assert code == 2 and "a symbolic link" in err
    assert link.is_symlink() and os.readlink(link) == str(target) and list(target.iterdir()) == []


def test_a_file_added_while_the_run_works_stops_the_swap(tmp_path):
    path = tmp_path / "run"
    with atomic_folder(path) as staging:
        (staging / "metrics.json").write_text("{}")
    with pytest.raises(OutputPathError, match=r"holding files it did not write \(late.txt\).*is at .*run-2 instead"):
        with atomic_folder(path) as staging:
            (staging / "metrics.json").write_text('{"new": 1}')
            (path / "late.txt").write_text("written by the user meanwhile")
    assert (path / "late.txt").read_text() == "written by the user meanwhile"
    assert (path / "metrics.json").read_text() == "{}"
    assert (tmp_path / "run-2" / "metrics.json").read_text() == '{"new": 1}'


def test_a_refused_writer_leaves_the_lock_alone(tmp_path):
    """Item 2 of the reliability issue: the refused second writer used to delete the first one's
    lock file, so a third writer got a fresh lock and ran beside the first."""
    path = tmp_path / "store"
    lock = tmp_path / ".store.resumable.lock"
    with resumable_folder(path, {"k": 1}):
        for _ in range(3):  # the second, the third, ...: each refused, none breaks the lock
            with pytest.raises(FolderBusyError, match="another process is writing it now"), \
                    resumable_folder(path, {"k": 2}):
                pass
            assert lock.exists()
    assert not lock.exists()  # its holder removes it, as it leaves


def test_a_lock_file_removed_under_a_waiting_writer_is_not_trusted(tmp_path, monkeypatch):
    """A writer that locks a lock file its holder has just removed must not believe it holds the
    lock: it checks that the file it locked is still the one in the folder."""
    path, lock = tmp_path / "store", tmp_path / ".store.resumable.lock"
    real_flock = __import__("fcntl").flock
    locked = []

    def flock(fd, op):
        real_flock(fd, op)
        locked.append(os.fstat(fd).st_ino)
        if len(locked) == 1:  # between this writer's open and lock, the file is replaced by another's
            os.unlink(lock)
            lock.write_text("")
    monkeypatch.setattr("fcntl.flock", flock)
    with _atomic._hold_lock(path, lock):
        held = os.stat(lock).st_ino
    # the first lock was on the removed file: it was dropped, and the file in the folder locked
    assert len(locked) == 2 and locked[-1] == held


def test_augment_store_rerun_replaces_only_its_own_store(capsys, tmp_path, mnist):
    X, y = mnist.X_train[:500], mnist.y_train[:500]
    store = augment(X, y, 600, tmp_path / "aug", seed=0, chunk_rows=300)
    assert json.loads((store / MARKER).read_text())["kind"] == "store"
    again = augment(X, y, 600, tmp_path / "aug", seed=1, chunk_rows=300)
    assert again == store and json.loads((store / "zarr.json").read_text())["attributes"]["seed"] == 1
    (store / "extra.txt").write_text("mine")
    with pytest.raises(OutputPathError, match=r"extra.txt"):
        augment(X, y, 600, tmp_path / "aug", seed=2, chunk_rows=300)
    assert (store / "extra.txt").read_text() == "mine"


def _special_files(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    sock_path = tmp_path / "sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    made = {"a named pipe": fifo, "a socket": sock_path, "a folder": tmp_path / "dir"}
    made["a folder"].mkdir()
    try:  # a character device of our own (root can make one; the real /dev is never touched)
        dev = tmp_path / "null"
        os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        made["a character device"] = dev
    except PermissionError:
        pass
    return made, sock


def test_files_are_never_written_over_special_files(tmp_path):
    made, sock = _special_files(tmp_path)
    try:
        for kind, path in made.items():
            mode = os.lstat(path).st_mode
            with pytest.raises(OutputPathError, match=f"is {kind}, not a regular file"), atomic_write(path) as fh:
                fh.write(b"PNG")
            assert os.lstat(path).st_mode == mode  # the node itself is still there, unchanged
            link = tmp_path / f"link-to-{path.name}"
            link.symlink_to(path)
            with pytest.raises(OutputPathError, match="not a regular file"), atomic_write(link) as fh:
                fh.write(b"PNG")
            assert link.is_symlink()
    finally:
        sock.close()


def test_files_are_written_through_links(tmp_path):
    real = tmp_path / "figures" / "seen.png"
    real.parent.mkdir()
    real.write_bytes(b"old")
    link = tmp_path / "seen.png"
    link.symlink_to(real)
    with atomic_write(link) as fh:
        fh.write(b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"
    dangling = tmp_path / "dangling.png"
    dangling.symlink_to(tmp_path / "figures" / "later.png")
    with atomic_write(dangling) as fh:
        fh.write(b"made")
    assert dangling.is_symlink() and (tmp_path / "figures" / "later.png").read_bytes() == b"made"
    loop = tmp_path / "loop.png"
    loop.symlink_to(loop)
    with pytest.raises(OutputPathError, match="cannot be followed"), atomic_write(loop) as fh:
        fh.write(b"x")


def test_show_input_at_a_special_file_is_refused_before_any_work(capsys, tmp_path, model_10k):
    from PIL import Image

    made, sock = _special_files(tmp_path)
    image = tmp_path / "digit.png"
    Image.fromarray(np.zeros((28, 28), np.uint8) + 255).save(image)
    try:
        for kind, path in made.items():
            mode = os.lstat(path).st_mode
            code, out, err = run(capsys, "predict", "--model", str(model_10k[1]), str(image),
                                 "--show-input", str(path))
            assert code == 2 and out == "" and err.count("\n") == 1 and f"is {kind}, not a regular file" in err
            assert os.lstat(path).st_mode == mode
        code, out, err = run(capsys, "data", "show", "--out", str(made["a named pipe"]))
        assert code == 2 and "is a named pipe" in err
    finally:
        sock.close()
