"""Augmented stores (``data augment``) and training on them through Dask (``train --train-source``)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("dask.array")
pytest.importorskip("zarr")

from mnist_logreg.cli import main
from mnist_logreg.datasets.augment import AugmentError, augment, distort, open_augmented


@pytest.fixture(scope="module")
def source(small):
    X, y, _, _ = small
    return X[:300], y[:300]


def test_augment_is_deterministic_and_keeps_the_originals_first(source, tmp_path):
    X, y = source
    a = open_augmented(augment(X, y, 700, tmp_path / "a", seed=5, chunk_rows=256))
    b = open_augmented(augment(X, y, 700, tmp_path / "b", seed=5, chunk_rows=256))
    c = open_augmented(augment(X, y, 700, tmp_path / "c", seed=6, chunk_rows=256))
    images, labels = a.images.compute(), a.labels.compute()
    assert images.shape == (700, 784) and images.dtype == np.uint8 and a.images.chunks[0] == (256, 256, 188)
    np.testing.assert_array_equal(images, b.images.compute())
    assert not np.array_equal(images[300:], c.images.compute()[300:])
    np.testing.assert_array_equal(images[:300], X)  # copy 0: the digits themselves
    np.testing.assert_array_equal(labels, np.concatenate([y, y, y[:100]]))
    changed = (images[300:600] != X).mean()
    assert 0.05 < changed < 0.6  # distorted, not destroyed
    assert a.attrs["seed"] == 5 and a.attrs["n"] == 700


def test_distortion_keeps_the_ink_and_the_centre(source):
    X, _ = source
    out = distort(X, np.random.default_rng(0))
    ink_in, ink_out = X.astype(float).sum(axis=1), out.astype(float).sum(axis=1)
    assert np.median(ink_out / ink_in) == pytest.approx(1.0, abs=0.2)
    grid = np.arange(28)

    def centre(imgs):
        m = imgs.reshape(-1, 28, 28).astype(float)
        return (m.sum(axis=2) @ grid) / m.sum(axis=(1, 2))

    assert np.abs(centre(out) - centre(X)).max() < 5  # shifts of at most 2 px, plus rotation and field


def test_a_damaged_chunk_is_refused_on_read(source, tmp_path):
    X, y = source
    path = augment(X, y, 500, tmp_path / "s", seed=0, chunk_rows=200)
    store = open_augmented(path)
    meta = json.loads((path / "zarr.json").read_text())
    meta["attributes"]["sha256"]["images"][1] = "0" * 64
    (path / "zarr.json").write_text(json.dumps(meta))
    damaged = open_augmented(path)
    damaged.images.blocks[0].compute()  # chunk 0 still checks out
    with pytest.raises(AugmentError, match="chunk 1 of images fails its SHA-256"):
        damaged.images.compute()
    assert store.images.shape == (500, 784)


def test_bad_stores_are_named(source, tmp_path):
    X, y = source
    with pytest.raises(AugmentError, match="no such folder"):
        open_augmented(tmp_path / "missing")
    (tmp_path / "notzarr").mkdir()
    with pytest.raises(AugmentError, match="not a readable Zarr store"):
        open_augmented(tmp_path / "notzarr")
    path = augment(X, y, 400, tmp_path / "s", seed=0, chunk_rows=200)
    meta = json.loads((path / "zarr.json").read_text())
    meta["attributes"]["format"] = "other"
    (path / "zarr.json").write_text(json.dumps(meta))
    with pytest.raises(AugmentError, match="format: expected"):
        open_augmented(path)
    with pytest.raises(ValueError, match="n: expected a positive number"):
        augment(X, y, 0, tmp_path / "z")


def test_cli_cross_validation_and_C_sweep_on_the_cluster(tmp_path, capsys):
    """--cv and several --C on Dask: folds and values of C fitted side by side on the workers, each
    digit and its distorted copies in one fold (held out with weight 0: no data moves)."""
    store = tmp_path / "aug"
    assert main(["data", "augment", "--n", "2000", "--seed", "3", "--out", str(store), "--chunk-rows", "500",
                 "--quiet"]) == 0
    assert "wrote 2000 digits" in capsys.readouterr().out
    run = tmp_path / "run"
    assert main(["train", "--train-source", str(store), "--workers", "2", "--cv", "2", "--C", "0.01,1",
                 "--out", str(run), "--json", "--quiet"]) == 0
    captured = capsys.readouterr()
    m = json.loads(captured.out)
    assert [r["C"] for r in m["path"]["rows"]] == [0.01, 1.0]
    assert m["fit"]["C"] == m["path"]["chosen_C"]
    assert m["path"]["n_validation"] == 200 and m["path"]["n_fit"] == 1800  # 10% of the 2,000 rows
    assert all(0.5 < r["validation_accuracy"] <= 1 and r["converged"] for r in m["path"]["rows"])
    cv = m["cross_validation"]
    assert cv["k"] == 2 and len(cv["scores"]) == 2 and all(0.5 < s <= 1 for s in cv["scores"])
    assert (run / "regularisation_path.png").stat().st_size > 1000
    assert "Regularisation path over C = 0.01, 1" in (run / "report.html").read_text()
    # a pair task and a training-set size on the cluster: the rows of the two digits, the first N
    pair = tmp_path / "pair"
    assert main(["train", "--train-source", str(store), "--workers", "1", "--task", "pair:3,5", "--train-size",
                 "300", "--cv", "2", "--out", str(pair), "--no-figures", "--json", "--quiet"]) == 0
    m = json.loads(capsys.readouterr().out)
    labels = open_augmented(store).labels.compute()
    assert m["fit"]["n_train"] == 300 <= int(np.isin(labels, [3, 5]).sum())
    assert m["test"]["class_names"] == ["3", "5"] and m["test"]["accuracy"] > 0.85
    assert len(m["cross_validation"]["scores"]) == 2


def test_an_interrupted_augment_leaves_no_store(source, tmp_path):
    """Killed by an exception half-way: no folder that looks complete; the old store is kept."""
    X, y = source
    old = augment(X, y, 400, tmp_path / "s", seed=0, chunk_rows=100)
    before = open_augmented(old).images.compute()

    def stop(done, total):
        if done >= 200:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        augment(X, y, 900, tmp_path / "s", seed=1, chunk_rows=100, on_chunk=stop)
    with pytest.raises(KeyboardInterrupt):
        augment(X, y, 900, tmp_path / "new", seed=1, chunk_rows=100, on_chunk=stop)
    assert not (tmp_path / "new").exists()
    np.testing.assert_array_equal(open_augmented(old).images.compute(), before)
    # only the hidden partial stores are left beside it, for a re-run to go on from
    assert sorted(p.name for p in tmp_path.iterdir()) == [".new.resumable", ".s.resumable", "s"]


def test_a_rerun_resumes_from_the_checked_chunks(source, tmp_path, monkeypatch, capsys):
    """A re-run with the same parameters writes only the chunks the interrupted run had not
    recorded, checks the recorded ones, and ends with the store an uninterrupted run writes;
    other parameters start clean; two runs at once on one store are refused."""
    from mnist_logreg import _atomic
    from mnist_logreg.datasets import augment as module

    X, y = source
    whole = open_augmented(augment(X, y, 900, tmp_path / "whole", seed=1, chunk_rows=100))
    made = []
    real_chunk = module._chunk
    monkeypatch.setattr(module, "_chunk", lambda *a: made.append(a[-1]) or real_chunk(*a))

    def stop(done, total):
        if done >= 300:
            raise KeyboardInterrupt

    out = tmp_path / "s"
    with pytest.raises(KeyboardInterrupt):
        augment(X, y, 900, out, seed=1, chunk_rows=100, on_chunk=stop)
    assert made == [0, 1, 2] and not out.exists()
    # damage chunk 1 of the partial store: the re-run must notice and write it again
    import zarr

    partial = zarr.open_group(str(tmp_path / ".s.resumable"), mode="r+")
    partial["images"][100:110] = 255
    made.clear()
    store = open_augmented(augment(X, y, 900, out, seed=1, chunk_rows=100))
    assert made == [1, 3, 4, 5, 6, 7, 8]
    np.testing.assert_array_equal(store.images.compute(), whole.images.compute())
    assert store.attrs["sha256"] == whole.attrs["sha256"]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in (tmp_path / "whole").iterdir())
    assert not (tmp_path / ".s.resumable").exists()
    # another seed: the partial store of the first is not used
    with pytest.raises(KeyboardInterrupt):
        augment(X, y, 900, out, seed=1, chunk_rows=100, on_chunk=stop)
    made.clear()
    other = open_augmented(augment(X, y, 900, out, seed=2, chunk_rows=100))
    assert made == list(range(9))
    fresh = open_augmented(augment(X, y, 900, tmp_path / "fresh", seed=2, chunk_rows=100))
    np.testing.assert_array_equal(other.images.compute(), fresh.images.compute())
    # the command says it resumes
    from mnist_logreg import load_mnist

    mnist = load_mnist()
    with pytest.raises(KeyboardInterrupt):
        augment(mnist.X_train, mnist.y_train, 300, tmp_path / "cli", seed=0, chunk_rows=100,
                on_chunk=lambda done, total: done >= 200 and stop(900, 900))
    assert main(["data", "augment", "--n", "300", "--seed", "0", "--chunk-rows", "100", "--out",
                 str(tmp_path / "cli"), "--quiet"]) == 0
    assert "resuming an interrupted run: 200 of 300 digits already written and checked" in capsys.readouterr().err
    # a second writer of the same store is refused while the first holds it
    with _atomic.resumable_folder(tmp_path / "busy", {"k": 1}), \
            pytest.raises(_atomic.FolderBusyError, match="another process is writing it"):
        augment(X, y, 100, tmp_path / "busy", seed=0, chunk_rows=100)


def test_cli_augment_then_train_on_a_local_cluster(tmp_path, capsys):
    store = tmp_path / "aug"
    assert main(["data", "augment", "--n", "3000", "--seed", "2", "--out", str(store), "--chunk-rows", "1000",
                 "--quiet"]) == 0
    assert "wrote 3000 digits" in capsys.readouterr().out
    run = tmp_path / "run"
    assert main(["train", "--train-source", str(store), "--workers", "1", "--out", str(run), "--no-figures",
                 "--json", "--quiet"]) == 0
    captured = capsys.readouterr()
    m = json.loads(captured.out)
    assert "dask: 1 worker, dashboard http://127.0.0.1:" in captured.err
    assert m["fit"]["converged"] and m["fit"]["n_train"] == 3000 and m["fit"]["dask"]["chunks"] == 3
    assert m["test"]["accuracy"] > 0.8
    assert (run / "model.npz").exists()
    # --scheduler: the same command on a cluster that is already running (here a local one)
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as cluster:
        assert main(["train", "--train-source", str(store), "--scheduler", cluster.scheduler_address,
                     "--out", str(tmp_path / "on-scheduler"), "--no-figures", "--json", "--quiet"]) == 0
        captured = capsys.readouterr()
        assert "dask: 1 worker" in captured.err
        assert json.loads(captured.out)["fit"]["objective"] == pytest.approx(m["fit"]["objective"], rel=1e-6)
    assert main(["train", "--train-source", str(store), "--scheduler", "tcp://127.0.0.1:1", "--out",
                 str(tmp_path / "nowhere"), "--quiet"]) == 2
    assert "--scheduler tcp://127.0.0.1:1: no Dask scheduler answered there" in capsys.readouterr().err
    # SGD on the cluster: one chunk's task after another, the parameters passed along
    assert main(["train", "--train-source", str(store), "--workers", "1", "--model", "sgd", "--out",
                 str(tmp_path / "sgd"), "--no-figures", "--json", "--quiet"]) == 0
    sgd = json.loads(capsys.readouterr().out)
    assert sgd["fit"]["model"] == "sgd" and sgd["fit"]["n_iter"] == 5 and sgd["fit"]["converged"] is None
    assert sgd["test"]["accuracy"] > 0.75
    shutil.rmtree(store)
    assert main(["train", "--train-source", str(store), "--out", str(tmp_path / "r2"), "--quiet"]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["train", "--workers", "1", "--scheduler", "tcp://127.0.0.1:1", "--out", str(tmp_path / "r4"),
                 "--quiet"]) == 2
    assert "give one of them" in capsys.readouterr().err


def _interrupt_after(chunks: int):
    def stop(done, total):
        if done >= chunks * 100:
            raise KeyboardInterrupt
    return stop


def test_damaged_partial_stores_resume(source, tmp_path, monkeypatch):
    """Issue 30, item 9: a run killed while the store's arrays were being created (labels missing)
    or whose staging zarr.json was cut short starts that store over instead of failing with
    KeyError on every rerun; a run killed after its last chunk keeps every chunk; a chunk file cut
    short is written again."""
    from mnist_logreg.datasets import augment as module

    X, y = source
    whole = open_augmented(augment(X, y, 500, tmp_path / "whole", seed=3, chunk_rows=100))
    made = []
    real_chunk = module._chunk
    monkeypatch.setattr(module, "_chunk", lambda *a: made.append(a[-1]) or real_chunk(*a))
    staging = tmp_path / ".s.resumable"
    out = tmp_path / "s"

    # killed between the two arrays: the staging store has images but no labels
    with pytest.raises(KeyboardInterrupt):
        augment(X, y, 500, out, seed=3, chunk_rows=100, on_chunk=_interrupt_after(1))
    shutil.rmtree(staging / "labels")
    assert staging.is_dir() and not out.exists()
    store = open_augmented(augment(X, y, 500, out, seed=3, chunk_rows=100))
    np.testing.assert_array_equal(store.images.compute(), whole.images.compute())

    # a staging zarr.json cut short
    shutil.rmtree(out)
    with pytest.raises(KeyboardInterrupt):
        augment(X, y, 500, out, seed=3, chunk_rows=100, on_chunk=_interrupt_after(2))
    meta = staging / "zarr.json"
    meta.write_bytes(meta.read_bytes()[:20])
    store = open_augmented(augment(X, y, 500, out, seed=3, chunk_rows=100))
    np.testing.assert_array_equal(store.labels.compute(), whole.labels.compute())

    # killed after the last chunk: nothing is computed again
    shutil.rmtree(out)
    with pytest.raises(KeyboardInterrupt):
        augment(X, y, 500, out, seed=3, chunk_rows=100, on_chunk=_interrupt_after(5))
    made.clear()
    store = open_augmented(augment(X, y, 500, out, seed=3, chunk_rows=100))
    assert made == []
    assert store.attrs["sha256"] == whole.attrs["sha256"]

    # a chunk file cut short in the staging store: that chunk is written again
    shutil.rmtree(out)
    with pytest.raises(KeyboardInterrupt):
        augment(X, y, 500, out, seed=3, chunk_rows=100, on_chunk=_interrupt_after(3))
    chunk_files = sorted(p for p in (staging / "images").rglob("*") if p.is_file() and p.name != "zarr.json")
    chunk_files[1].write_bytes(chunk_files[1].read_bytes()[:10])
    made.clear()
    store = open_augmented(augment(X, y, 500, out, seed=3, chunk_rows=100))
    assert made == [1, 3, 4]
    np.testing.assert_array_equal(store.images.compute(), whole.images.compute())


def test_a_truncated_chunk_of_a_store_is_named_when_read(source, tmp_path):
    X, y = source
    path = augment(X, y, 500, tmp_path / "s", seed=0, chunk_rows=200)
    chunk_files = sorted(p for p in (path / "images").rglob("*") if p.is_file() and p.name != "zarr.json")
    chunk_files[1].write_bytes(b"")
    store = open_augmented(path)
    store.images.blocks[0].compute()
    with pytest.raises(AugmentError, match="chunk 1 of images cannot be decoded"):
        store.images.compute()


@pytest.mark.parametrize(("change", "words"), [
    (lambda meta: meta.update(attributes=[]), "format: expected"),
    (lambda meta: meta["attributes"].update(sha256="x"), "field 'sha256'"),
    (lambda meta: meta["attributes"].update(n="500"), "field 'n'"),
    (lambda meta: meta["attributes"]["sha256"].pop("labels"), "'labels' is a required property"),
])
def test_store_attributes_of_the_wrong_type_are_named(source, tmp_path, change, words):
    X, y = source
    path = augment(X, y, 400, tmp_path / "s", seed=0, chunk_rows=200)
    meta = json.loads((path / "zarr.json").read_text())
    change(meta)
    (path / "zarr.json").write_text(json.dumps(meta))
    with pytest.raises(AugmentError, match=words):
        open_augmented(path)


def test_a_pair_task_on_a_store_prints_no_dask_warnings(tmp_path):
    """Issue 30: ``--task pair`` on a store printed 80 lines of Dask scheduler warnings (the
    selected rows recomputed for each graph); the run now prints its two lines and nothing else."""
    import subprocess
    import sys

    store = tmp_path / "aug"
    assert main(["data", "augment", "--n", "3000", "--chunk-rows", "1000", "--out", str(store), "--quiet"]) == 0
    done = subprocess.run([sys.executable, "-m", "mnist_logreg", "train", "--train-source", str(store), "--workers",
                           "1", "--task", "pair:3,8", "--no-figures", "--quiet", "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr and "run_spec" not in done.stderr, done.stderr[:2000]
    assert done.stderr.count("\n") <= 2, done.stderr[:2000]


def test_augmented_copies_in_memory_are_the_rows_of_a_store(source, tmp_path):
    from mnist_logreg.datasets.augment import augmented_copies

    X, y = source
    images, labels = augmented_copies(X, y, 2, seed=5, chunk_rows=256)
    store = open_augmented(augment(X, y, 900, tmp_path / "a", seed=5, chunk_rows=256))
    np.testing.assert_array_equal(images, store.images.compute())
    np.testing.assert_array_equal(labels, np.tile(y, 3))
    assert labels.dtype == y.dtype
    again, _ = augmented_copies(X, y, 2, seed=5, chunk_rows=256)
    other, _ = augmented_copies(X, y, 2, seed=6, chunk_rows=256)
    np.testing.assert_array_equal(images, again)
    assert not np.array_equal(images[300:], other[300:])
    np.testing.assert_array_equal(augmented_copies(X, y, 0)[0], X)
    with pytest.raises(ValueError, match="augment"):
        augmented_copies(X, y, -1)
