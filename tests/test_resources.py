"""Big work is estimated before it starts and refused with the size it needs (issue 30, item 8):
feature specs whose features do not fit, augment chunks that do not fit in memory, stores that
do not fit on disk. One line from the CLI (exit 2), before the data is touched or a file written."""

import time

import pytest

from mnist_logreg import _resources
from mnist_logreg.cli import main
from mnist_logreg.features.spec import output_width


def run(capsys, *argv):
    start = time.monotonic()
    code = main(list(argv))
    return code, capsys.readouterr().err, time.monotonic() - start


def test_output_widths():
    assert output_width("pixels") == []
    assert output_width("accurate") == [784, 1152]
    assert output_width("deskew,pca:60,poly:2") == [784, 60, 1890]
    assert output_width("pca:784,poly:2") == [784, 784 + 784 * 785 // 2]
    assert output_width("patches:1024") == [18432]


def test_features_that_cannot_fit_are_refused_at_once(capsys, tmp_path):
    """pca:784,poly:2 on all digits needs about 300 GB: refused before loading anything (it was a
    MemoryError traceback after minutes)."""
    code, err, took = run(capsys, "train", "--features", "pca:784,poly:2", "--out", str(tmp_path / "run"))
    assert code == 2 and "needs about" in err and "308,504 columns" in err and "available" in err, err
    assert took < 10 and not (tmp_path / "run").exists()


def test_the_estimate_follows_the_memory_there_is(capsys, tmp_path, monkeypatch):
    """patches:1024 with --train-size 300 holds 10,300 x 18,432 features (it reached 4.3 GB): refused
    on a machine with 1 GiB available, not on one with 64 GiB."""
    monkeypatch.setattr(_resources, "available_memory", lambda: 1 << 30)
    code, err, _ = run(capsys, "train", "--features", "patches:1024", "--train-size", "300",
                       "--out", str(tmp_path / "run"))
    assert code == 2 and "--features patches:1024 on 10,300 digits (18,432 columns) needs about" in err, err
    with pytest.raises(_resources.ResourceError, match="needs about"):
        _resources.check_memory(2 << 30, "this")
    monkeypatch.setattr(_resources, "available_memory", lambda: 64 << 30)
    _resources.check_memory(2 << 30, "this")  # fits


@pytest.mark.parametrize("n", [10**12, 2**63])
def test_augment_beyond_the_disk_is_refused(capsys, tmp_path, n):
    """--n 10**12 (a MemoryError) and 2**63 (wrote for ever): refused from the disk they need."""
    code, err, took = run(capsys, "data", "augment", "--n", str(n), "--out", str(tmp_path / "store"))
    assert code == 2 and "augmented digits needs about" in err and "free" in err, err
    assert took < 30 and not (tmp_path / "store").exists()


def test_augment_chunks_beyond_memory_are_refused(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(_resources, "available_memory", lambda: 2 << 30)
    code, err, _ = run(capsys, "data", "augment", "--n", "200000", "--chunk-rows", "200000",
                       "--out", str(tmp_path / "store"))
    assert code == 2 and "chunks of 200,000 rows (--chunk-rows) needs about" in err, err
    assert not (tmp_path / "store").exists()
