"""uvicorn's HTTP protocol with guards that uvicorn itself lacks, so that idle sockets cannot use
up the process's file descriptors, nor a client's requests fill its log:

- a connection that sends nothing is closed after `idle_timeout_s` (uvicorn arms its keep-alive
  timer only after a first request, so a silent connection was kept forever);
- a request must arrive whole within `request_timeout_s` of its first byte (uvicorn times out
  none: a client that sent part of a request line, trickled headers or stalled a body held its
  connection forever): past it, an incomplete head is answered 408 and the connection closed,
  an incomplete body has its connection closed (the route sees the client gone);
- connections beyond `max_connections` are closed as soon as they are accepted;
- the warnings uvicorn logs for what any client can send with every request (an unparseable
  request; an upgrade to WebSocket, which this service does not serve) are logged once a minute
  each, with the count of those held back (`service/log.py`).

`abr serve` runs uvicorn with `http="service.connections:GuardedHttpProtocol"`; the limits come
from the service settings (`ABR_IDLE_TIMEOUT_S`, `ABR_REQUEST_TIMEOUT_S`, `ABR_MAX_CONNECTIONS`),
read once per process.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from functools import cache

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.log import RepeatLimit
from service.settings import ServiceSettings


@dataclass(frozen=True)
class Limits:
    idle_timeout_s: float
    request_timeout_s: float
    max_connections: int


@cache
def _limits() -> Limits:
    settings = ServiceSettings.from_environment()
    return Limits(
        settings.idle_timeout_s, settings.request_timeout_s, settings.max_connections_now()
    )


REQUEST_TIMEOUT = json.dumps(
    {"detail": "request: not received whole in time (ABR_REQUEST_TIMEOUT_S)"}
).encode()


# the starts of the warnings uvicorn's HTTP protocol logs for a client's request
CLIENT_WARNINGS = (
    "Invalid HTTP request received.",
    "Unsupported upgrade request.",
    "No supported WebSocket library detected.",
)


@cache
def _limit_client_warnings() -> None:
    logging.getLogger("uvicorn.error").addFilter(RepeatLimit(CLIENT_WARNINGS))


class GuardedHttpProtocol(HttpToolsProtocol):
    request_timer: asyncio.TimerHandle | None = None
    head_complete = False  # the current request's line and headers have all arrived

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        _limit_client_warnings()
        super().connection_made(transport)
        limits = _limits()
        if len(self.connections) > limits.max_connections:
            transport.close()  # connection_lost follows and forgets it
            return
        # the same timer uvicorn arms between requests; the first byte received cancels it
        self.timeout_keep_alive_task = self.loop.call_later(
            limits.idle_timeout_s, self.timeout_keep_alive_handler
        )

    def on_message_begin(self) -> None:  # the parser's first byte of a request
        super().on_message_begin()
        self._stop_request_timer()
        self.head_complete = False
        self.request_timer = self.loop.call_later(
            _limits().request_timeout_s, self._request_timed_out
        )

    def on_headers_complete(self) -> None:
        self.head_complete = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._stop_request_timer()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_request_timer()
        super().connection_lost(exc)

    def _stop_request_timer(self) -> None:
        if self.request_timer is not None:
            self.request_timer.cancel()
            self.request_timer = None

    def _request_timed_out(self) -> None:
        self.request_timer = None
        if self.transport.is_closing():
            return
        if not self.head_complete:  # no route has it yet: the answer is ours to give
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                % (len(REQUEST_TIMEOUT), REQUEST_TIMEOUT)
            )
        self.transport.close()
