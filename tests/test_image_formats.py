"""Every image format Pillow can write, valid and damaged, into ``predict`` (the library reader)
and ``POST /api/predict`` (issue 30, items 4 and 5): a reading, or an ``ImageError`` / a 4xx with
a JSON error; never another exception, a 500 or a connection reset.

Pillow's writers are listed from its registry, so a format added by a new Pillow is tried too.
Formats outside ``images.FORMATS`` (ICO, SPIDER, DDS, ...) must be refused without being decoded.
"""

import io
import struct
import warnings

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mnist_logreg.images import FORMATS, ImageError, read_image
from mnist_logreg.web.app import create_app


def _digit_image() -> Image.Image:
    a = np.full((56, 56), 255, np.uint8)
    a[12:44, 24:32] = 0  # a "1"
    return Image.fromarray(a)


def _written_formats() -> dict[str, bytes]:
    """Each format Pillow can write here, as the bytes of the same small image (formats that need
    options or another mode are skipped: they raise while saving)."""
    out = {}
    Image.init()
    for fmt in sorted(set(Image.SAVE)):
        for img in (_digit_image(), _digit_image().convert("RGB")):
            buf = io.BytesIO()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    img.save(buf, format=fmt)
            except Exception:  # a writer that needs other input: not this format's test
                continue
            if buf.tell():
                out[fmt] = buf.getvalue()
                break
    return out


WRITTEN = _written_formats()
# a multi-picture JPEG is a JPEG: the JPEG reader reads its first picture
JPEG_VARIANTS = {"MPO"}


def _ico_wrapping_a_huge_png() -> bytes:
    """An ICO whose directory declares 256x256 but whose image is a 13000x13000 PNG (item 4)."""
    buf = io.BytesIO()
    Image.new("L", (13000, 13000), 255).save(buf, format="PNG", compress_level=9)
    png = buf.getvalue()
    header = struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(png), 22)
    return header + png


@pytest.fixture(scope="module")
def client(model_10k):
    return TestClient(create_app(model_10k[1]), base_url="http://localhost", raise_server_exceptions=False)


def _check_reader(data: bytes, fmt: str) -> None:
    try:
        digit, _ = read_image(data, name=f"image.{fmt.lower()}")
    except ImageError:
        return
    assert digit.shape == (784,) or digit.shape == (28, 28) or digit.size == 784


def _check_api(client, data: bytes) -> None:
    r = client.post("/api/predict", content=data, headers={"content-type": "application/octet-stream"})
    assert r.status_code in (200, 400, 413, 422, 503), (r.status_code, r.text[:300])
    assert "detail" in r.json() or "digit" in r.json()


def test_pillow_writes_the_common_formats():
    assert {"PNG", "JPEG", "BMP", "GIF", "TIFF"} <= set(WRITTEN), sorted(WRITTEN)


@pytest.mark.parametrize("fmt", sorted(WRITTEN))
def test_every_written_format(client, fmt):
    data = WRITTEN[fmt]
    _check_reader(data, fmt)
    _check_api(client, data)
    if fmt in FORMATS or fmt in JPEG_VARIANTS:  # the formats read are read
        digit, _ = read_image(data)
        assert digit.size == 784
    else:
        with pytest.raises(ImageError):
            read_image(data)


def test_an_ico_wrapping_a_huge_png_is_not_decoded(client):
    data = _ico_wrapping_a_huge_png()
    with pytest.raises(ImageError):
        read_image(data)
    _check_api(client, data)


FUZZ = settings(max_examples=40, deadline=10_000, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(fmt=st.sampled_from(sorted(WRITTEN)), data=st.data())
def test_damaged_files_of_every_format(client, fmt, data):
    original = WRITTEN[fmt]
    n = len(original)
    where = data.draw(st.integers(0, n - 1))
    kind = data.draw(st.sampled_from(["flip", "cut", "insert"]))
    if kind == "flip":
        damaged = original[:where] + bytes([data.draw(st.integers(0, 255))]) + original[where + 1 :]
    elif kind == "cut":
        damaged = original[:where]
    else:
        damaged = original[:where] + data.draw(st.binary(min_size=1, max_size=16)) + original[where:]
    _check_reader(damaged, fmt)
    _check_api(client, damaged)


def test_busy_decoders_shed_load_with_503(model_10k, monkeypatch):
    """More concurrent uploads than decode slots: those that wait past DECODE_WAIT_S get 503 with
    Retry-After instead of queueing (and holding their bodies in memory) for seconds."""
    import asyncio
    import time

    import httpx

    from mnist_logreg.web import app as app_module

    monkeypatch.setattr(app_module, "DECODE_SLOTS", 1)
    monkeypatch.setattr(app_module, "DECODE_WAIT_S", 0.1)
    real_read = app_module.read_sources  # the app reads through mnist_logreg.predict, then batches

    def slow_read(*args, **kwargs):
        time.sleep(0.5)
        return real_read(*args, **kwargs)

    monkeypatch.setattr(app_module, "read_sources", slow_read)
    application = app_module.create_app(model_10k[1])
    png = io.BytesIO()
    _digit_image().save(png, format="PNG")

    async def burst():
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            return await asyncio.gather(*[
                http.post("/api/predict", content=png.getvalue(), headers={"content-type": "image/png"})
                for _ in range(3)])

    responses = asyncio.run(burst())
    statuses = sorted(r.status_code for r in responses)
    assert statuses[0] == 200 and 503 in statuses, statuses
    shed = next(r for r in responses if r.status_code == 503)
    assert shed.headers["retry-after"] == "1" and "busy" in shed.json()["detail"]
