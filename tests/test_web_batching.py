"""Issue 30, item 14: the server predicts concurrent requests together (one call of the model for
the requests read while the previous batch ran), and each request still gets its own answer."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")


def _png(digit: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(255 - digit.reshape(28, 28)).resize((140, 140)).save(buf, format="PNG")
    return buf.getvalue()


def test_concurrent_requests_are_batched_and_each_gets_its_answer(model_10k, mnist, monkeypatch):
    from mnist_logreg.predict import read_and_predict
    from mnist_logreg.web import app as web

    model, path = model_10k
    calls: list[int] = []
    real = web.predict_results

    def counted(model, task, results, **kw):
        calls.append(len(results))
        return real(model, task, results, **kw)

    monkeypatch.setattr(web, "predict_results", counted)
    application = web.create_app(path)
    bodies = [_png(x) for x in mnist.X_test[:40]]
    expected = [r.prediction["label"] for r in read_and_predict(model, "multiclass", bodies)]

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            return await asyncio.gather(*(client.post("/api/predict", content=b, headers={"Content-Type": "image/png"})
                                          for b in bodies))

    responses = asyncio.run(run())
    assert [r.status_code for r in responses] == [200] * len(bodies)
    assert [r.json()["label"] for r in responses] == expected
    assert sum(calls) == len(bodies)
    assert len(calls) < len(bodies) and max(calls) > 1  # batched: fewer calls than requests
