"""HTTP/1.1 for ``serve``: uvicorn's h11 protocol with a deadline on reading each request.

uvicorn closes a keep-alive connection that stays idle between requests, but a connection
that sends half a request line (or half a body) and then nothing is held open for ever: 1,000
such "slowloris" sockets held 1,009 file descriptors for as long as they liked. Here every
request, from its connection (or its first byte after a previous response) to its last body
byte, must arrive within :data:`REQUEST_DEADLINE_S`; otherwise the server answers
``408 Request Timeout`` and closes the connection. What the application does after the request
has arrived is not limited.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

#: seconds a client has to send a whole request (headers and body; the body is at most 2 MB)
REQUEST_DEADLINE_S = 10.0

_TIMEOUT_BODY = b"the request did not arrive in time\n"
_TIMEOUT_RESPONSE = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                     b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(_TIMEOUT_BODY), _TIMEOUT_BODY))


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections whose request does not arrive in time."""

    #: seconds allowed per request (a class attribute, so tests can shorten it)
    deadline_s: float = REQUEST_DEADLINE_S

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._request_deadline: asyncio.TimerHandle | None = None

    # --- the deadline, armed while a request is being received

    def _arm(self) -> None:
        if self._request_deadline is None:
            self._request_deadline = self.loop.call_later(self.deadline_s, self._request_too_slow)

    def _disarm(self) -> None:
        if self._request_deadline is not None:
            self._request_deadline.cancel()
            self._request_deadline = None

    def _request_too_slow(self) -> None:
        self._request_deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is None or not self.cycle.response_started:  # nothing of ours on the wire yet
            self.transport.write(_TIMEOUT_RESPONSE)
        self.transport.close()

    # --- the protocol's events

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that never sends a byte is closed too

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:  # the first bytes of a (next) request
            self._arm()
        super().data_received(data)
        if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):  # read whole (or refused)
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


#: uvicorn options of every ``serve``: the protocol above (named by import string, so worker
#: processes load it too) and idle keep-alive connections closed after 5 s. No connection cap:
#: slow clients would make uvicorn answer everyone 503 (measured in benchmarks/bench_web.py).
SERVER_OPTIONS: dict[str, Any] = {"http": f"{__name__}:DeadlineH11Protocol", "timeout_keep_alive": 5}
