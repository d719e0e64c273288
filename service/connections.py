"""uvicorn's HTTP protocol with guards that uvicorn itself lacks, so that idle sockets cannot use
up the process's file descriptors, nor a client's requests fill its log:

- a connection that sends nothing is closed after `idle_timeout_s` (uvicorn arms its keep-alive
  timer only after a first request, so a silent connection was kept forever);
- connections beyond `max_connections` are closed as soon as they are accepted;
- the warnings uvicorn logs for what any client can send with every request (an unparseable
  request; an upgrade to WebSocket, which this service does not serve) are logged once a minute
  each, with the count of those held back (`service/log.py`).

`abr serve` runs uvicorn with `http="service.connections:GuardedHttpProtocol"`; the limits come
from the service settings (`ABR_IDLE_TIMEOUT_S`, `ABR_MAX_CONNECTIONS`), read once per process.
"""

from __future__ import annotations

import asyncio
import logging
from functools import cache

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.log import RepeatLimit
from service.settings import ServiceSettings


@cache
def _limits() -> tuple[float, int]:
    settings = ServiceSettings.from_environment()
    return settings.idle_timeout_s, settings.max_connections_now()


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
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        _limit_client_warnings()
        super().connection_made(transport)
        idle_timeout_s, max_connections = _limits()
        if len(self.connections) > max_connections:
            transport.close()  # connection_lost follows and forgets it
            return
        # the same timer uvicorn arms between requests; the first byte received cancels it
        self.timeout_keep_alive_task = self.loop.call_later(
            idle_timeout_s, self.timeout_keep_alive_handler
        )
