"""Web server under load: throughput and latency, a large upload, slow half-open connections.

Starts ``mnist-logreg serve`` (1 and 2 workers, each in its own process) on 127.0.0.1 with the
pixel model and the default model shipped in the package (accurate: deskew and 64 patch filters,
with its digit detector), in the same run, and measures, from a client on the same machine:

1. load: ``POST /api/predict`` of a drawn digit at concurrency 50 (requests/s, p50, p99, errors),
   from ``wrk`` (Debian's package: a C client, 10 s, one thread, 50 connections) when it is
   installed, else 2,000 requests from 50 Python client threads (which take a good share of
   the 2 cores themselves);
2. a large upload (a 4,000 x 4,000 PNG, under the 2 MB body limit) sent while ``GET /`` is
   timed every 50 ms: how long the page waits meanwhile;
3. slow connections: 1,000 sockets that send half a request line and stay silent; then
   ``GET /`` is timed, and how many of those sockets the server has closed 12 s later (its
   request deadline is 10 s), with what it answered them.

    python benchmarks/bench_web.py               # both models, all three measurements
    python benchmarks/bench_web.py --load-only   # only the throughput and latency
    python benchmarks/bench_web.py --client python

The pixel model is fitted on 10,000 training digits: a request's cost (reading the image, one
product) does not depend on how many digits the model was fitted on.
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

_WRK_SCRIPT = """
local f = io.open(os.getenv("BENCH_BODY"), "rb"); local body = f:read("*a"); f:close()
wrk.method = "POST"; wrk.body = body; wrk.headers["Content-Type"] = "image/png"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %f %f %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def _load_wrk(port: int, body: bytes, seconds: int = 10, concurrency: int = 50) -> dict:
    """The load from wrk: requests/s, p50 and p99 (ms), errors (non-200 answers and socket errors)."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "body.png").write_bytes(body)
        (Path(tmp) / "post.lua").write_text(_WRK_SCRIPT)
        out = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "30s", "-s",
                              str(Path(tmp) / "post.lua"), f"http://127.0.0.1:{port}/api/predict"],
                             capture_output=True, text=True, check=True, env={**os.environ, "BENCH_BODY":
                                                                               str(Path(tmp) / "body.png")}).stdout
    fields = next(line for line in out.splitlines() if line.startswith("RESULT")).split()[1:]
    requests, duration_us, p50_us, p99_us, status_errors, socket_errors = (float(v) for v in fields)
    return {"rps": requests / (duration_us / 1e6), "p50_ms": p50_us / 1000, "p99_ms": p99_us / 1000,
            "errors": int(status_errors + socket_errors)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _models(folder: Path) -> dict[str, Path]:
    """The pixel model (fitted on 10,000 digits) and the default model shipped in the package."""
    from mnist_logreg.pipeline import TrainOptions, train
    from mnist_logreg.shipped import default_model_file

    train(TrainOptions(features="pixels", train_size=10000, figures=False), out=folder / "pixels")
    shipped = default_model_file()
    assert shipped is not None, "the package has no shipped default model"
    return {"pixels": folder / "pixels" / "model.npz", "default (accurate)": shipped}


def _drawing() -> bytes:
    img = Image.new("L", (280, 280), 0)
    ImageDraw.Draw(img).line([(140, 40), (140, 240)], fill=255, width=22)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _large_png() -> bytes:
    ramp = np.tile(np.linspace(0, 255, 4000, dtype=np.uint8), (4000, 1))
    img = Image.fromarray(np.stack([ramp, ramp.T, ramp, np.full_like(ramp, 255)], axis=-1), "RGBA")
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _get(port: int, path: str = "/") -> float:
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path)
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return time.perf_counter() - t0 if resp.status == 200 else float("nan")


def _load(port: int, body: bytes, n: int = 2000, concurrency: int = 50) -> dict:
    per_thread = n // concurrency
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()

    def worker(_):
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for _ in range(per_thread):
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/api/predict", body=body, headers={"Content-Type": "image/png"})
                resp = conn.getresponse()
                resp.read()
                ok = resp.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            with lock:
                latencies.append(time.perf_counter() - t0)
                errors += not ok
        conn.close()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, range(concurrency)))
    wall = time.perf_counter() - t0
    lat = sorted(latencies)
    return {"rps": len(lat) / wall, "p50_ms": 1000 * statistics.median(lat),
            "p99_ms": 1000 * lat[int(0.99 * (len(lat) - 1))], "errors": errors}


def _large_upload(port: int, body: bytes) -> dict:
    waits: list[float] = []
    done = threading.Event()
    result = {}

    def upload():
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.request("POST", "/api/predict", body=body, headers={"Content-Type": "image/png"})
        resp = conn.getresponse()
        resp.read()
        result["status"], result["upload_s"] = resp.status, time.perf_counter() - t0
        done.set()

    thread = threading.Thread(target=upload)
    thread.start()
    while not done.is_set():
        waits.append(_get(port))
        time.sleep(0.05)
    thread.join()
    return {**result, "get_max_ms": 1000 * max(waits, default=float("nan")), "gets": len(waits)}


def _slow_connections(port: int, n: int = 1000) -> dict:
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET / HTT")  # half a request line, then silence
        socks.append(s)
    time.sleep(0.5)
    try:
        get_ms = 1000 * _get(port)
    except OSError:
        get_ms = float("nan")
    time.sleep(12)
    closed = answered_408 = 0
    for s in socks:
        s.setblocking(False)
        received = b""
        try:
            while chunk := s.recv(4096):
                received += chunk
            closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        answered_408 += received.startswith(b"HTTP/1.1 408")
        s.close()
    return {"get_ms_with_slow": get_ms, "closed": closed, "answered_408": answered_408, "n": n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load-only", action="store_true", help="only the throughput and latency")
    parser.add_argument("--client", choices=["wrk", "python"], default="wrk" if shutil.which("wrk") else "python",
                        help="the load's client (default: wrk when installed)")
    args = parser.parse_args()
    print(f"load from {args.client}: concurrency 50, a 280x280 drawing\n")
    with tempfile.TemporaryDirectory() as tmp:
        models = _models(Path(tmp))
        drawing, large = _drawing(), _large_png()
        print(f"large upload: {len(large) / 1e6:.2f} MB PNG of 4000x4000 RGBA\n")
        print("| model | workers | req/s | p50 (ms) | p99 (ms) | errors | large upload: status, s | GET / max wait "
              "during it (ms) | GET / with 1,000 slow connections (ms) | slow ones closed 12 s later (408) |")
        print("|--|--:|--:|--:|--:|--:|--|--:|--:|--:|")
        for (name, model), workers in ((m, w) for m in models.items() for w in (1, 2)):
            port = _free_port()
            proc = subprocess.Popen([sys.executable, "-m", "mnist_logreg", "serve", "--model", str(model), "--port",
                                     str(port), "--workers", str(workers)], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
            try:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    try:
                        _get(port)
                        break
                    except OSError:
                        time.sleep(0.2)
                load = _load_wrk(port, drawing) if args.client == "wrk" else _load(port, drawing)
                row = (f"| {name} | {workers} | {load['rps']:.0f} | {load['p50_ms']:.0f} | {load['p99_ms']:.0f} | "
                       f"{load['errors']} |")
                if args.load_only:
                    print(row + " - | - | - | - |", flush=True)
                    continue
                big = _large_upload(port, large)
                slow = _slow_connections(port)
                print(f"{row} {big['status']}, {big['upload_s']:.2f} | {big['get_max_ms']:.0f} | "
                      f"{slow['get_ms_with_slow']:.0f} | {slow['closed']} of {slow['n']} ({slow['answered_408']}) |",
                      flush=True)
            finally:
                proc.terminate()
                proc.wait(timeout=30)


if __name__ == "__main__":
    main()
