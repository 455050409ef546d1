"""Dask options that cannot work end in one line before any work or within a bounded wait
(issue 30, item 10): never a hang without a word, nor a traceback."""

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytest.importorskip("distributed")

from mnist_logreg import _chunks
from mnist_logreg.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr().err


@pytest.mark.parametrize(("argv", "words"), [
    (["--workers", "1", "--worker-memory", "5"], "5 B is too little for a worker"),
    (["--workers", "1", "--worker-memory", "1KiB"], "is too little for a worker"),
    (["--workers", "1", "--worker-memory", "250MiB"], "is too little for a worker"),
    (["--workers", "1", "--worker-memory", "lots"], "expected a size such as 4GiB"),
    (["--worker-memory", "4GiB"], "give --workers N"),
    (["--scheduler", "ucx://127.0.0.1:8786"], "expected tcp://HOST:PORT"),
    (["--scheduler", "tls://127.0.0.1:8786"], "expected tcp://HOST:PORT"),
    (["--scheduler", "127.0.0.1"], "expected tcp://HOST:PORT"),
])
def test_bad_dask_options_fail_before_any_work(capsys, tmp_path, argv, words):
    start = time.monotonic()
    code, err = run(capsys, "train", "--train-size", "1000", "--out", str(tmp_path / "run"), *argv)
    assert code == 2 and words in err and "Traceback" not in err and err.count("\n") == 1, err
    assert time.monotonic() - start < 30
    assert not (tmp_path / "run").exists()


class _Silent:
    """A TCP listener that accepts connections and never answers (or answers random bytes)."""

    def __init__(self, reply: bytes = b""):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.reply, self.conns = reply, []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            if self.reply:
                try:
                    conn.sendall(self.reply)
                except OSError:
                    pass

    def close(self):
        for c in self.conns:
            c.close()
        self.sock.close()


class _Http(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("kind", ["silent", "random bytes", "http"])
def test_a_scheduler_address_that_does_not_answer(capsys, tmp_path, monkeypatch, kind):
    monkeypatch.setattr(_chunks, "CONNECT_TIMEOUT_S", 2)
    if kind == "http":
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Http)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port, close = server.server_address[1], server.shutdown
    else:
        listener = _Silent(b"" if kind == "silent" else bytes(range(256)) * 64)
        port, close = listener.port, listener.close
    try:
        start = time.monotonic()
        code, err = run(capsys, "train", "--train-size", "1000", "--scheduler", f"tcp://127.0.0.1:{port}",
                        "--out", str(tmp_path / "run"))
        waited = time.monotonic() - start
    finally:
        close()
    assert code == 2 and "no Dask scheduler answered there" in err and "Traceback" not in err, err
    assert waited < 60, waited


def test_no_worker_left_fails_in_one_line(monkeypatch):
    """Work that no worker can run (the only one is gone) fails after NO_WORKERS_TIMEOUT_S with a
    ClusterError (one line from the CLI) instead of waiting for ever."""
    import dask

    monkeypatch.setattr(_chunks, "NO_WORKERS_TIMEOUT_S", 2)
    start = time.monotonic()
    with pytest.raises(_chunks.ClusterError, match="the Dask cluster stopped during the work"), \
            _chunks.dask_client(workers=1) as client:
        client.cluster.scale(0)
        deadline = time.monotonic() + 30
        while client.scheduler_info()["workers"] and time.monotonic() < deadline:
            time.sleep(0.2)
        dask.delayed(sum)([1, 2]).compute()
    assert time.monotonic() - start < 60
