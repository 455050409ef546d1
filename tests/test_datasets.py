import gzip
import hashlib
import json
import time
import zlib

import numpy as np
import pytest
from httpserver import FileServer

from mnist_logreg.datasets import DataSourceError, load_mnist
from mnist_logreg.datasets import mnist as mnist_mod
from mnist_logreg.datasets.idx import IDXFormatError, idx_bytes

PUBLISHED_MD5 = {
    "train-images": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels": "a25bea736e30d166cdddb491f175f624",
    "test-images": "2646ac647ad5339dbf082846283269ea",
    "test-labels": "27ae3e4e09519cfbb04c329615203637",
}


def test_bundled_files_match_published_sha256():
    folder = mnist_mod._bundled_dir()
    for key, sums in mnist_mod.IDX_FILES.items():
        data = gzip.decompress((folder / f"{key}.gz").read_bytes())
        assert hashlib.sha256(data).hexdigest() == sums["sha256"]
        assert hashlib.md5(data).hexdigest() == sums["md5"]


def test_bundled_arrays(mnist):
    assert mnist.X_train.shape == (60000, 784) and mnist.X_train.dtype == np.uint8
    assert mnist.y_train.shape == (60000,) and mnist.y_train.dtype == np.int64
    assert mnist.X_test.shape == (10000, 784) and mnist.y_test.dtype == np.int64
    assert mnist.images("test").shape == (10000, 28, 28)
    assert mnist.y_train[:5].tolist() == [5, 0, 4, 1, 9]
    assert np.bincount(mnist.y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(mnist.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    scaled = mnist.X_train / 255.0
    assert scaled.mean() == pytest.approx(0.1307, abs=1e-4)
    assert scaled.std() == pytest.approx(0.3081, abs=1e-4)


def test_arrays_hash_to_published_checksums(mnist):
    assert mnist.compute_checksums() == PUBLISHED_MD5
    assert mnist.checksums == PUBLISHED_MD5


def test_split_name_checked(mnist):
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        mnist.images("validation")
    with pytest.raises(ValueError, match="split must be 'train' or 'test', got 'validation'"):
        mnist.split("validation")


def test_split_gives_the_split_s_arrays(mnist):
    """The public ``MNIST.split`` (which the command uses) gives the arrays themselves."""
    X, y = mnist.split("train")
    assert X is mnist.X_train and y is mnist.y_train and X.shape == (60000, 784) and y.shape == (60000,)
    X, y = mnist.split("test")
    assert X is mnist.X_test and y is mnist.y_test
    assert np.shares_memory(mnist.images("test"), mnist.X_test) and mnist.images("test").shape == (10000, 28, 28)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"source": "kaggle"}, "unknown source 'kaggle'"),
        ({"source": "openml"}, "exactly one of name"),
        ({"source": "openml", "name": "mnist_784", "data_id": 554}, "exactly one of name"),
        ({"source": "openml", "data_id": 554, "version": 1}, "version goes with name"),
        ({"source": "bundled", "data_id": 554}, "only for source openml"),
        ({"source": "bundled", "base_url": "http://x"}, "only for source idx"),
        ({"source": "idx", "base_url": []}, "at least one mirror"),
    ],
)
def test_bad_arguments(kwargs, words, tmp_path):
    with pytest.raises(ValueError, match=words):
        load_mnist(cache_dir=tmp_path, **kwargs)


# ------------------------------------------------------------------ IDX mirrors over real HTTP


@pytest.fixture
def fake_idx(monkeypatch):
    """A small 4-file IDX set (14 train + 7 test digits) and its checksums patched in."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (14, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(14) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (7, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(7) % 10).astype(np.uint8),
    }
    raw = {k: idx_bytes(v) for k, v in arrays.items()}
    sums = {k: {"sha256": hashlib.sha256(v).hexdigest(), "md5": hashlib.md5(v).hexdigest(), "size": len(v)}
            for k, v in raw.items()}
    monkeypatch.setattr(mnist_mod, "IDX_FILES", sums)
    files = {f"/good/{k}.gz": gzip.compress(v) for k, v in raw.items()}
    return arrays, files


def test_idx_download_and_cache(fake_idx, tmp_path):
    arrays, files = fake_idx
    with FileServer(files) as srv:
        d = load_mnist("idx", base_url=srv.url + "/good/", cache_dir=tmp_path, progress=True)
        np.testing.assert_array_equal(d.X_train, arrays["train-images-idx3-ubyte"].reshape(14, -1))
        np.testing.assert_array_equal(d.y_test, arrays["t10k-labels-idx1-ubyte"])
        assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == sorted(k + ".gz" for k in arrays)
        first = dict(srv.hits)
        load_mnist("idx", base_url=srv.url + "/good/", cache_dir=tmp_path)
        assert srv.hits == first  # second load comes from the cache


def test_dead_mirror_and_bad_checksum_fall_back(fake_idx, tmp_path):
    _, files = fake_idx
    bad = {k.replace("/good/", "/bad/"): gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x01\x07") for k in files}
    with FileServer({**files, **bad}) as srv:
        mirrors = [srv.url + "/dead/", srv.url + "/bad/", srv.url + "/good/"]
        d = load_mnist("idx", base_url=mirrors, cache_dir=tmp_path)
        assert d.X_train.shape == (14, 784)
        assert srv.hits["/dead/train-images-idx3-ubyte.gz"] == 1
        assert srv.hits["/bad/train-images-idx3-ubyte.gz"] == 1


def test_all_mirrors_fail_names_file_and_reasons(fake_idx, tmp_path):
    _, files = fake_idx
    bad = {k.replace("/good/", "/bad/"): gzip.compress(b"not the data") for k in files}
    with FileServer(bad) as srv, pytest.raises(DataSourceError) as err:
        load_mnist("idx", base_url=[srv.url + "/dead/", srv.url + "/bad/"], cache_dir=tmp_path)
    msg = str(err.value)
    assert "train-images-idx3-ubyte.gz" in msg and "404" in msg and "SHA-256 mismatch" in msg


def test_corrupt_cache_file_is_refetched(fake_idx, tmp_path):
    from mnist_logreg.datasets import CacheWarning

    arrays, files = fake_idx
    with FileServer(files) as srv:
        load_mnist("idx", base_url=srv.url + "/good/", cache_dir=tmp_path)
        (tmp_path / "idx" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"garbage")
        with pytest.warns(CacheWarning, match="corrupt cache file"):
            d = load_mnist("idx", base_url=srv.url + "/good/", cache_dir=tmp_path)
        assert srv.hits["/good/t10k-labels-idx1-ubyte.gz"] == 2
    np.testing.assert_array_equal(d.y_test, arrays["t10k-labels-idx1-ubyte"])


def test_image_label_count_mismatch(monkeypatch):
    blobs = {
        "train-images-idx3-ubyte": idx_bytes(np.zeros((3, 28, 28), np.uint8)),
        "train-labels-idx1-ubyte": idx_bytes(np.zeros(4, np.uint8)),
        "t10k-images-idx3-ubyte": idx_bytes(np.zeros((1, 28, 28), np.uint8)),
        "t10k-labels-idx1-ubyte": idx_bytes(np.zeros(1, np.uint8)),
    }
    with pytest.raises(IDXFormatError, match=r"3 images .* 4 labels"):
        mnist_mod._arrays_from_idx(blobs, "test")


def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_LOGREG_CACHE", str(tmp_path / "c"))
    assert mnist_mod.default_cache_dir() == tmp_path / "c"


# ------------------------------------------------------------------ OpenML over real HTTP


def _openml_files(base: str, n: int = 21, data_id: int = 4242, name: str = "tiny_digits"):
    rng = np.random.default_rng(1)
    X = rng.integers(0, 256, (n, 784))
    y = np.arange(n) % 10
    attrs = "\n".join(f"@attribute pixel{i + 1} numeric" for i in range(784))
    rows = "\n".join(",".join(map(str, r)) + f",{c}" for r, c in zip(X, y, strict=True))
    arff = f"@relation {name}\n{attrs}\n@attribute class {{0,1,2,3,4,5,6,7,8,9}}\n@data\n{rows}\n"
    arff_bytes = arff.encode()  # served plain; sklearn gzips it into its own cache
    features = [{"index": str(i), "name": f"pixel{i + 1}", "data_type": "numeric", "is_target": "false",
                 "is_ignore": "false", "is_row_identifier": "false", "number_of_missing_values": "0"}
                for i in range(784)]
    features.append({"index": "784", "name": "class", "data_type": "nominal", "is_target": "true",
                     "is_ignore": "false", "is_row_identifier": "false", "number_of_missing_values": "0",
                     "nominal_value": [str(i) for i in range(10)]})
    desc = {"data_set_description": {
        "id": str(data_id), "name": name, "version": "1", "format": "ARFF", "status": "active",
        "description": "random 28x28 test digits",
        "file_id": "99", "default_target_attribute": "class",
        "url": f"{base}/data/v1/download/99/{name}.arff",
        "md5_checksum": hashlib.md5(arff_bytes).hexdigest(),
    }}
    listing = json.dumps(
        {"data": {"dataset": [{"did": data_id, "name": name, "version": 1, "status": "active"}]}}
    ).encode()
    return X, y, {
        f"/api/v1/json/data/list/data_name/{name}/limit/2/status/active/":
            listing,
        f"/api/v1/json/data/list/data_name/{name}/limit/2/data_version/1":
            listing,
        f"/api/v1/json/data/{data_id}": json.dumps(desc).encode(),
        f"/api/v1/json/data/features/{data_id}": json.dumps({"data_features": {"feature": features}}).encode(),
        f"/api/v1/json/data/qualities/{data_id}": json.dumps({"data_qualities": {"quality": []}}).encode(),
        f"/data/v1/download/99/{name}.arff": arff_bytes,
    }


@pytest.fixture
def openml_server(monkeypatch):
    import sklearn.datasets._openml as om

    with FileServer({}) as srv:
        X, y, files = _openml_files(srv.url)
        srv.files.update(files)
        for const in ("_SEARCH_NAME", "_DATA_INFO", "_DATA_FEATURES", "_DATA_QUALITIES"):
            monkeypatch.setattr(om, const, getattr(om, const).replace("https://www.openml.org", srv.url))
        yield srv, X, y


@pytest.mark.parametrize("how", [{"data_id": 4242}, {"name": "tiny_digits"}, {"name": "tiny_digits", "version": 1}])
def test_openml_by_id_or_name(openml_server, tmp_path, how):
    srv, X, y = openml_server
    d = load_mnist("openml", cache_dir=tmp_path, **how)
    assert d.X_train.dtype == np.uint8 and d.y_train.dtype == np.int64
    assert d.X_train.shape == (18, 784) and d.X_test.shape == (3, 784)
    np.testing.assert_array_equal(np.vstack([d.X_train, d.X_test]), X)
    np.testing.assert_array_equal(np.concatenate([d.y_train, d.y_test]), y)
    assert d.source == "openml:4242"
    # second load: from the npz cache, no request at all
    before = sum(srv.hits.values())
    d2 = load_mnist("openml", cache_dir=tmp_path, **how)
    assert sum(srv.hits.values()) == before
    np.testing.assert_array_equal(d2.X_test, d.X_test)


def test_openml_corrupt_npz_cache_is_refetched(openml_server, tmp_path, capsys):
    """Through the CLI: the library's warning is one line, and the command goes on."""
    from mnist_logreg.cli import main

    load_mnist("openml", data_id=4242, cache_dir=tmp_path)
    cache = tmp_path / "openml" / "id-4242.npz"
    cache.write_bytes(cache.read_bytes()[:100])
    assert main(["data", "info", "--source", "openml", "--data-id", "4242", "--cache-dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert err.startswith(f"mnist-logreg: warning: discarding corrupt cache file {cache}") and err.count("\n") == 1
    assert "train: images (18, 28, 28)" in out
    assert load_mnist("openml", data_id=4242, cache_dir=tmp_path).X_train.shape == (18, 784)


def test_openml_unknown_id_is_data_source_error(openml_server, tmp_path):
    with pytest.raises(DataSourceError, match="OpenML"):
        load_mnist("openml", data_id=1, cache_dir=tmp_path)


def test_cli_fetch_and_info_from_mirror(fake_idx, tmp_path, capsys):
    from mnist_logreg.cli import main

    _, files = fake_idx
    with FileServer(files) as srv:
        args = ["--source", "idx", "--base-url", srv.url + "/good/", "--cache-dir", str(tmp_path)]
        assert main(["data", "fetch", *args]) == 0
        assert "14 train, 7 test digits" in capsys.readouterr().out
        assert main(["data", "info", *args]) == 0
        out = capsys.readouterr().out
    assert "train: images (14, 28, 28)" in out and "source: idx:" in out


def _drip(handler):
    """A mirror that sends its body one byte every 0.1 s."""
    handler.send_response(200)
    handler.send_header("Content-Length", "1000")
    handler.end_headers()
    for _ in range(1000):
        handler.wfile.write(b"\x1f")
        handler.wfile.flush()
        time.sleep(0.1)


def _endless(handler):
    """A mirror that sends far more than the file can be (no Content-Length)."""
    handler.send_response(200)
    handler.end_headers()
    chunk = b"\0" * (1 << 16)
    try:
        for _ in range(1 << 14):  # up to 1 GiB
            handler.wfile.write(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass


@pytest.mark.parametrize(("answer", "words"), [(_drip, "took longer than"), (_endless, "sent more than")])
def test_slow_or_oversized_mirrors_are_cut_off(fake_idx, tmp_path, answer, words):
    """Every download has an overall deadline and a size cap from the file's known size."""
    _, files = fake_idx
    bad = {k.replace("/good/", "/bad/"): answer for k in files}
    t0 = time.monotonic()
    with FileServer({**files, **bad}) as srv:
        d = load_mnist("idx", base_url=[srv.url + "/bad/", srv.url + "/good/"], cache_dir=tmp_path, timeout=0.3)
    assert d.X_train.shape == (14, 784)  # the good mirror after the bad one
    assert time.monotonic() - t0 < 30
    with FileServer(bad) as srv, pytest.raises(DataSourceError, match=words):
        load_mnist("idx", base_url=srv.url + "/bad/", cache_dir=tmp_path / "other", timeout=0.3)


def test_gzip_bomb_is_refused_while_inflating(fake_idx, tmp_path):
    """A small gzip that inflates far beyond the file's known size is stopped at the size."""
    import resource

    _, files = fake_idx
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip, built 1 MB at a time
    bomb = b"".join([packer.compress(b"\0" * (1 << 20)) for _ in range(200)] + [packer.flush()])  # 200 MB
    assert len(bomb) < 1 << 20
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    bad = {k.replace("/good/", "/bad/"): bomb for k in files}
    with FileServer(bad) as srv, pytest.raises(DataSourceError, match="inflates to more than"):
        load_mnist("idx", base_url=srv.url + "/bad/", cache_dir=tmp_path)
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024 < 100  # MB, not 200


def test_read_idx_caps_inflation(tmp_path, monkeypatch):
    """Inflating stops at the size the header declares, or at MAX_IDX_BYTES when it declares
    more; a header that is already invalid stops it at once."""
    import struct

    from mnist_logreg.datasets import idx as idx_mod

    monkeypatch.setattr(idx_mod, "MAX_IDX_BYTES", 1 << 20)
    path = tmp_path / "big.gz"
    path.write_bytes(gzip.compress(b"\0\0\x08\x01" + struct.pack(">I", 1 << 31) + b"\0" * (4 << 20)))
    with pytest.raises(idx_mod.IDXFormatError, match=f"inflates to more than {1 << 20} bytes"):
        idx_mod.read_idx(path)
    monkeypatch.setattr(idx_mod, "MAX_IDX_BYTES", 1 << 30)
    path.write_bytes(gzip.compress(b"\0\0\x08\x01" + struct.pack(">I", 1000) + b"\0" * (4 << 20)))
    with pytest.raises(idx_mod.IDXFormatError, match="inflates to more than 1008 bytes"):
        idx_mod.read_idx(path)
    path.write_bytes(gzip.compress(b"\x1f" * (4 << 20)))
    with pytest.raises(idx_mod.IDXFormatError, match="wrong magic bytes"):
        idx_mod.read_idx(path)


def _self_consistent_wrong_shape(path):
    arrays = {"X_train": np.zeros((10, 5), np.uint8), "y_train": np.zeros(10, np.int64),
              "X_test": np.zeros((2, 5), np.uint8), "y_test": np.zeros(2, np.int64)}
    np.savez_compressed(path, **arrays, sha256=mnist_mod._array_digest(arrays), source="openml:4242")


def _huge_member(path):
    import io
    import zipfile

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|u1", "fortran_order": False, "shape": (1 << 40,)})
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("X_train.npy", buf.getvalue())


@pytest.mark.parametrize("spoil", [lambda p: p.write_bytes(b""), _self_consistent_wrong_shape, _huge_member],
                         ids=["empty", "wrong-shape", "huge-member"])
def test_bad_cache_entries_are_discarded_and_refetched(openml_server, tmp_path, spoil):
    """A cached entry is checked as a fresh one is; any failure means fetching it again."""
    from mnist_logreg.datasets import CacheWarning

    load_mnist("openml", data_id=4242, cache_dir=tmp_path)
    cache = tmp_path / "openml" / "id-4242.npz"
    spoil(cache)
    with pytest.warns(CacheWarning, match="discarding corrupt cache file"):
        d = load_mnist("openml", data_id=4242, cache_dir=tmp_path)
    assert d.X_train.shape == (18, 784)
    assert load_mnist("openml", data_id=4242, cache_dir=tmp_path).X_train.shape == (18, 784)  # cache is good again


def test_cache_dir_that_is_a_file(tmp_path, capsys):
    from mnist_logreg.cli import main

    blocker = tmp_path / "cache"
    blocker.write_text("not a folder")
    assert main(["data", "info", "--source", "idx", "--cache-dir", str(blocker)]) == 2
    err = capsys.readouterr().err
    assert "the cache folder is a file" in err and err.count("\n") == 1
