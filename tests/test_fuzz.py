"""Fuzzing: mutated real files into their readers, random JSON into the web API.

Each reader may accept an input or refuse it with its documented error type, never another
exception, and within bounded time (hypothesis's deadline) and memory (inputs are small, and
the readers check sizes before allocating).
"""

import io
import json
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mnist_logreg.datasets import mnist as mnist_mod
from mnist_logreg.datasets.idx import IDXFormatError, idx_bytes, parse_idx
from mnist_logreg.images import ImageError, preprocess_image
from mnist_logreg.modelio import ModelFileError, load_model

FUZZ = settings(max_examples=60, deadline=10_000, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _mutations(data: bytes):
    """Byte flips, truncation, insertion and duplication of a real file's bytes."""
    n = len(data)
    flip = st.tuples(st.integers(0, n - 1), st.integers(0, 255)).map(
        lambda t: data[: t[0]] + bytes([t[1]]) + data[t[0] + 1 :])
    cut = st.integers(0, n - 1).map(lambda i: data[:i])
    insert = st.tuples(st.integers(0, n), st.binary(min_size=1, max_size=16)).map(
        lambda t: data[: t[0]] + t[1] + data[t[0] :])
    many = st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, 255)), min_size=2, max_size=20).map(
        lambda flips: _apply(data, flips))
    return st.one_of(flip, cut, insert, many)


def _apply(data: bytes, flips) -> bytes:
    b = bytearray(data)
    for i, v in flips:
        b[i] = v
    return bytes(b)


_IDX = idx_bytes(np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5))


@FUZZ
@given(_mutations(_IDX))
def test_idx_parser(data):
    try:
        arr = parse_idx(data)
    except IDXFormatError:
        return
    assert isinstance(arr, np.ndarray)


def _image_bytes(fmt: str) -> bytes:
    img = Image.new("L", (40, 40), 255)
    img.paste(0, (15, 5, 25, 35))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


@FUZZ
@given(st.sampled_from(["PNG", "JPEG", "GIF", "BMP"]).flatmap(lambda fmt: _mutations(_image_bytes(fmt))))
def test_image_reader(data):
    try:
        digit = preprocess_image(data, name="fuzzed")
    except ImageError:
        return
    assert digit.shape == (28, 28) and digit.dtype == np.uint8


@pytest.fixture(scope="module")
def small_model_bytes(tmp_path_factory, small):
    from mnist_logreg import LogisticRegression, save_model

    Xtr, ytr, _, _ = small
    path = tmp_path_factory.mktemp("fuzz") / "m.npz"
    save_model(LogisticRegression(max_iter=5).fit(Xtr[:200], ytr[:200]), path)
    return path.read_bytes()


@FUZZ
@given(data=st.data())
def test_model_reader(small_model_bytes, tmp_path, data):
    mutated = data.draw(_mutations(small_model_bytes))
    path = tmp_path / "fuzzed.npz"
    path.write_bytes(mutated)
    try:
        model, _, _ = load_model(path)
    except ModelFileError:
        return
    assert hasattr(model, "predict")


@FUZZ
@given(data=st.data())
def test_model_members_with_random_content(small_model_bytes, tmp_path, data):
    """Members replaced by arrays of random dtype and shape: refused by name, never a crash."""
    with zipfile.ZipFile(io.BytesIO(small_model_bytes)) as zf:
        names = [n.removesuffix(".npy") for n in zf.namelist()]
    with np.load(io.BytesIO(small_model_bytes)) as z:
        arrays = {k: z[k] for k in z.files}
    name = data.draw(st.sampled_from(names))
    dtype = data.draw(st.sampled_from(["<f8", "<f4", "<i8", "|u1", "<U5", "|b1"]))
    shape = data.draw(st.lists(st.integers(0, 4), max_size=3).map(tuple))
    arrays[name] = np.zeros(shape, dtype=dtype)
    path = tmp_path / "members.npz"
    np.savez(path, **arrays)
    try:
        load_model(path)
    except ModelFileError:
        pass


@pytest.fixture(scope="module")
def cache_entry_bytes(tmp_path_factory):
    rng = np.random.default_rng(0)
    data = mnist_mod.MNIST(rng.integers(0, 256, (6, 784), dtype=np.uint8), np.arange(6),
                           rng.integers(0, 256, (2, 784), dtype=np.uint8), np.arange(2), source="openml:1")
    path = tmp_path_factory.mktemp("cache") / "entry.npz"
    mnist_mod._write_npz_cache(path, data)
    return path.read_bytes()


@FUZZ
@given(data=st.data())
def test_cache_reader_discards_or_accepts(cache_entry_bytes, tmp_path, data, capsys):
    path = tmp_path / "entry.npz"
    path.write_bytes(data.draw(_mutations(cache_entry_bytes)))
    got = mnist_mod._read_npz_cache(path)  # never raises: a bad entry is discarded (None)
    assert got is None or got.X_train.shape == (6, 784)
    assert got is not None or not path.exists()


_json = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)


@FUZZ
@given(body=st.one_of(_json, st.dictionaries(st.just("image"), _json, min_size=1)))
def test_web_api_random_json(model_10k, body):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from mnist_logreg.web.app import create_app

    global _CLIENT
    if "_CLIENT" not in globals():
        _CLIENT = TestClient(create_app(model_10k[1]), base_url="http://localhost")
    r = _CLIENT.post("/api/predict", content=json.dumps(body).encode(),
                     headers={"Content-Type": "application/json"})
    assert r.status_code in (200, 400, 413, 415, 422), (r.status_code, r.text)
    assert "detail" in r.json() or r.status_code == 200
