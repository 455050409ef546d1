"""FastAPI app: the draw-a-digit page at ``/`` and ``POST /api/predict``.

``POST /api/predict`` takes an image either as the raw request body (``Content-Type: image/png``,
``image/jpeg``, ...) or as JSON ``{"image": "data:image/png;base64,..."}``, and answers
``{"digit", "probabilities", "looks_like_a_digit", "input"}`` where ``input`` is the 28x28 array
the model saw; ``POST /api/predict?explain=1`` adds ``explanation``, the evidence for the answer
against the runner-up (:mod:`mnist_logreg.explain`).
Bad requests get a 4xx answer whose ``detail`` names the problem; the server keeps running.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import threading
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import ClientDisconnect

from ..errors import MnistLogregError
from ..explain import explain_digit
from ..modelio import load_model
from ..pipeline import TrainingProgress
from ..predict import ReadResult, predict_results, read_sources
from ..tasks import Task, parse_task

__all__ = ["LOCAL_HOSTS", "MAX_BODY_BYTES", "WEB_MAX_PIXELS", "app_from_environment", "create_app", "http_status"]

#: the largest request body accepted (413 above it)
MAX_BODY_BYTES = 2 * 1024 * 1024
#: the largest image the page accepts, in pixels (a drawing is 280x280; a photo is reduced on decoding)
WEB_MAX_PIXELS = 16_000_000
#: images decoded at once per server process; a request waits at most DECODE_WAIT_S for a slot,
#: then gets 503 with Retry-After (twenty concurrent 16 MP PNGs used to peak at 3.7 GB)
DECODE_SLOTS = max(2, min(8, os.cpu_count() or 2))
DECODE_WAIT_S = 2.0
#: the most digits predicted in one call of the model (concurrent requests are batched)
MAX_BATCH = 64
#: the Host header values accepted by default (DNS rebinding: a page on another name is refused)
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


class Prediction(BaseModel):
    """The answer of ``POST /api/predict``."""

    digit: int | None  # the digit read; None when a binary model answers "not D"
    label: str  # what the answer means: "7", or "2" / "not 2" for a digit:2 model
    probabilities: list[float]
    classes: list[int]
    labels: list[str]  # the meaning of each class, in the order of probabilities
    note: str | None  # what a binary or pair model can answer (None for the ten-digit model)
    warnings: list[str]  # what looks wrong (ink at the image's edge, not like a digit...); empty when none
    looks_like_a_digit: bool | None  # False: a letter, a scribble, several digits, a stray mark...
    input: list[list[int]]
    explanation: dict[str, Any] | None = None  # with ?explain=1: the evidence map (see mnist_logreg.explain)


def _image_bytes(content_type: str, body: bytes) -> tuple[bytes, str]:
    """The image's bytes in a request body (raw, or a JSON data URL) and how to name it."""
    ctype = content_type.split(";")[0].strip().lower()
    if ctype == "application/json":
        try:
            payload = json.loads(body)
            text = payload["image"]
            if not isinstance(text, str):
                raise TypeError("image must be a string")
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            expected = '{"image": "data:image/png;base64,..."}'
            raise HTTPException(400, f"JSON body: expected {expected} ({type(exc).__name__}: "
                                     f"{str(exc)[:200]})") from exc
        return _decode_data_url(text), "your drawing"
    if ctype.startswith("image/") or ctype == "application/octet-stream":
        return body, "uploaded image"
    raise HTTPException(415, f"content type {ctype or 'none'!r}: expected image/* or application/json")


def _decode_data_url(text: str) -> bytes:
    if text.startswith("data:"):
        header, _, text = text.partition(",")
        if ";base64" not in header:
            raise HTTPException(400, "image: expected a base64 data URL (data:image/png;base64,...)")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise HTTPException(400, f"image: not valid base64 ({exc})") from exc


class _Batcher:
    """Predicts the digits of concurrent requests together: one feature transform and one product
    for all the requests read while the previous batch ran, instead of one call each (a call of
    the default model costs about 2 ms of validation and set-up before its arithmetic)."""

    def __init__(self, served: _Served) -> None:
        self.served = served
        self.pending: list[tuple[ReadResult, asyncio.Future[None]]] = []
        self.running = False
        self.task: asyncio.Task[None] | None = None  # the batch loop, while it runs

    async def predict(self, result: ReadResult) -> None:
        """Give ``result`` its prediction, in the next batch."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append((result, future))
        if not self.running:
            self.running = True
            self.task = asyncio.create_task(self._drain())
        await future

    async def _drain(self) -> None:
        try:
            while self.pending:
                batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
                model, task = self.served.model, self.served.task
                try:
                    assert task is not None  # the model is there before a request is read
                    await run_in_threadpool(predict_results, model, task, [r for r, _ in batch])
                except Exception as exc:  # every request of the batch answers it
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
        finally:
            self.running = False


class _Served:
    """The model the app answers with, once it is there (``prepare`` may still be making it)."""

    def __init__(self) -> None:
        self.model: Any = None
        self.task: Task | None = None
        self.text = ""
        self.progress: TrainingProgress | None = None
        self.error: str | None = None

    def load(self, path: str | Path) -> None:
        model, text, _ = load_model(path)
        self.task, self.text, self.model = parse_task(text), text, model

    def prepare(self, make: Callable[[TrainingProgress], Path]) -> None:
        """Run ``make`` (in a thread of its own), then load the model it wrote."""
        self.progress = TrainingProgress()
        try:
            self.load(make(self.progress))
        except Exception as exc:  # shown on the page and in /api/status; the server keeps running
            self.error = f"{type(exc).__name__}: {exc}"

    def start(self, model_path: str | Path | None, prepare: Callable[[TrainingProgress], Path] | None) -> None:
        """Load the model at ``model_path``, or start ``prepare`` in a thread of its own."""
        if prepare is None:
            if model_path is None:
                raise ValueError("create_app needs a model_path or a prepare function")
            self.load(model_path)
        else:
            threading.Thread(target=self.prepare, args=(prepare,), name="prepare-model", daemon=True).start()

    def require(self) -> None:
        """Nothing when the model is there; else a 503 that says how far it is (the page asks again)."""
        if self.model is None:
            now = self.status()
            detail = (f"the model could not be prepared ({now['error']})" if now["error"] else
                      f"the model is being prepared: {now.get('stage')}, {now.get('percent')}%")
            raise HTTPException(503, detail, headers={"Retry-After": "2"})

    def status(self) -> dict[str, Any]:
        ready = self.model is not None
        now = self.progress.snapshot() if self.progress is not None and not ready else {}
        return {"ready": ready, "error": self.error, **now}


def create_app(model_path: str | Path | None, allowed_hosts: Sequence[str] = LOCAL_HOSTS, *,
               prepare: Callable[[TrainingProgress], Path] | None = None) -> FastAPI:
    """The app serving the model saved at ``model_path``.

    Parameters
    ----------
    model_path : path or None
        A model file written by ``save_model`` or ``train``; None with ``prepare``.
    allowed_hosts : sequence of str
        Host header values served (others get 400): the loopback names by default, so that a
        web page on another domain resolving to 127.0.0.1 cannot use the API.
    prepare : callable or None, default None
        Makes the model when there is none yet: ``prepare(progress)`` trains it, telling
        ``progress`` (a :class:`~mnist_logreg.pipeline.TrainingProgress`), and returns its path.
        It runs in a thread of its own from the moment the app is made: the page is served at once,
        ``GET /api/status`` says how far the model is, and ``POST /api/predict`` answers 503 with
        ``Retry-After`` until it is ready.

    Returns
    -------
    FastAPI
        The app; its interactive docs are off (they load scripts from a CDN), ``/openapi.json``
        describes the API.
    """
    served = _Served()
    served.start(model_path, prepare)
    decode_slots = asyncio.Semaphore(DECODE_SLOTS)
    batcher = _Batcher(served)
    page = (resources.files("mnist_logreg.web") / "static" / "index.html").read_text()
    app = FastAPI(title="mnist-logreg", description="Draw a digit; a logistic regression model reads it.",
                  version="1", docs_url=None, redoc_url=None)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return page

    @app.get("/api/status", summary="Whether the model is ready, or how far its preparation is")
    def status() -> dict[str, Any]:
        return served.status()

    @app.post(
        "/api/predict",
        response_model=Prediction,
        summary="Predict the digit in an image",
        openapi_extra={"requestBody": {"content": {
            "image/png": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"schema": {"type": "object", "properties": {"image": {"type": "string"}},
                                            "required": ["image"]}},
        }}},
        responses={400: {"description": "not an image"}, 413: {"description": "body over 2 MB"},
                   415: {"description": "unsupported content type"}, 422: {"description": "blank image"}},
    )
    async def predict(request: Request, explain: bool = False) -> Prediction:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise HTTPException(413, f"request body of {declared} bytes is over the limit of {MAX_BODY_BYTES}")
        body = b""
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    raise HTTPException(413, f"request body is over the limit of {MAX_BODY_BYTES} bytes")
        except ClientDisconnect:  # gone, or cut by the request deadline (web/protocol.py)
            raise HTTPException(408, "the request body did not arrive whole") from None
        data, name = _image_bytes(request.headers.get("content-type", ""), body)
        if not data:
            raise HTTPException(400, "empty image")
        served.require()
        # at most DECODE_SLOTS images decode at once (a 16 MP image takes about 200 MB while it
        # does); a request that finds them busy for DECODE_WAIT_S is shed with 503 and Retry-After
        await _slot()
        try:  # CPU-bound: in a worker thread, so the event loop keeps serving other requests
            result = (await run_in_threadpool(read_sources, [data], names=[name], max_pixels=WEB_MAX_PIXELS))[0]
        finally:
            decode_slots.release()
        if not result.ok or result.input is None:  # the status by the error's type
            raise HTTPException(http_status(result.error), str(result.error)) from result.error
        await batcher.predict(result)
        assert result.prediction is not None  # every result read gets one
        explanation = None
        if explain:  # 50-150 ms of the CPU: it takes a slot too
            assert served.task is not None
            await _slot()
            try:
                found = await run_in_threadpool(explain_digit, served.model, served.task, result.input)
            finally:
                decode_slots.release()
            explanation = found.to_dict()
        answer = result.prediction
        model, parsed = served.model, served.task
        assert parsed is not None  # set with the model
        return Prediction(digit=answer["digit"], label=answer["label"], probabilities=answer["probabilities"],
                          classes=model.classes_.tolist(), labels=[parsed.label_of(c) for c in model.classes_],
                          note=parsed.scope_note, warnings=[str(n) for n in result.notes],
                          looks_like_a_digit=answer["looks_like_a_digit"], input=result.input.tolist(),
                          explanation=explanation)

    async def _slot() -> None:
        """One of the DECODE_SLOTS for CPU-heavy work; 503 with Retry-After after DECODE_WAIT_S."""
        try:
            await asyncio.wait_for(decode_slots.acquire(), timeout=DECODE_WAIT_S)
        except TimeoutError:
            raise HTTPException(503, "busy: too many images are being read; try again in a second",
                                headers={"Retry-After": "1"}) from None

    app.state.served = served
    return app


def http_status(exc: BaseException | None) -> int:
    """The HTTP status answering ``exc``: its class's ``http_status`` for the package's errors
    (400 for a bad image, 422 for a blank one, 503 for too little memory; see
    :mod:`mnist_logreg.errors`), 400 for anything else a request's input caused.

    Parameters
    ----------
    exc : BaseException or None
        The error that stopped the request.

    Returns
    -------
    int
        The status code.
    """
    return exc.http_status if isinstance(exc, MnistLogregError) else 400


def app_from_environment() -> FastAPI:
    """The app for ``serve --workers N`` (each worker process builds its own): the model from
    ``$MNIST_LOGREG_SERVE_MODEL``, the allowed hosts from ``$MNIST_LOGREG_SERVE_HOSTS`` (commas)."""
    hosts = os.environ.get("MNIST_LOGREG_SERVE_HOSTS", ",".join(LOCAL_HOSTS)).split(",")
    return create_app(os.environ["MNIST_LOGREG_SERVE_MODEL"], allowed_hosts=hosts)
