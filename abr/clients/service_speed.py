"""`abr bench-service`: the service's speed beside the floor of this machine, in one run.

This machine's speed changes from day to day (other tenants), so a decisions/s figure alone
does not say whether the service got faster or the machine did. This benchmark starts two real
uvicorn servers on local ports, with the same uvicorn settings as `abr serve`:
- the service (`service.app:create_app`), and
- `bare_app` below: the same routes answered with a fixed JSON body, no parsing, no state, no
  model — what uvicorn and the load client alone cost on this machine,
then drives both with `abr loadtest`'s client, alternating, round after round, and reports each
round's figures and the service's share of the bare server's rate (`ratio`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from abr.clients.loadtest import loadtest
from abr.clients.net import running_server

Message = MutableMapping[str, Any]

MODES = ("chunks", "columns")
# uvicorn's arguments for the service, as `abr serve` runs it
SERVICE_TARGET = [
    "service.app:create_app",
    "--factory",
    "--http",
    "service.connections:GuardedHttpProtocol",
]
# how many players the bare app's batch answers hold (the server is another process)
BATCH_SIZE_VARIABLE = "ABR_BENCH_BATCH_SIZE"
_SESSION_ANSWER = {
    "session_id": "bare",
    "level": 1,
    "bitrate_kbps": 750.0,
    "policy": "dqn",
    "model_version": "bare",
    "fallback": False,
    "chunk_index": 0,
    "done": False,
}


def _columns_answer(batch_size: int) -> dict[str, object]:
    return {
        "levels": [1] * batch_size,
        "bitrates_kbps": [750.0] * batch_size,
        "policy": "dqn",
        "model_version": "bare",
        "fallback": False,
    }


class BareApp:
    """Reads each request's body whole and answers a fixed JSON of the service's shape: a batch
    decision of `batch_size` players on column requests, a session's decision on the others."""

    def __init__(self, batch_size: int = 1024) -> None:
        self.columns_body = json.dumps(_columns_answer(batch_size)).encode()
        self.session_body = json.dumps(_SESSION_ANSWER).encode()

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        body = self.columns_body if scope["path"].endswith("/columns") else self.session_body
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


bare_app = BareApp(int(os.environ.get(BATCH_SIZE_VARIABLE, "1024")))


def bench_service(
    rounds: int = 3,
    duration_s: float = 8.0,
    modes: tuple[str, ...] = MODES,
    chunk_connections: int = 16,
    batch_connections: int = 4,
    batch_size: int = 1024,
) -> list[dict[str, object]]:
    """One row per (round, mode, server): decisions/s, p50/p99 ms, errors; rows of the service
    also hold `ratio`, its decisions/s over the bare server's in the same round."""
    unknown = set(modes) - set(MODES)
    if unknown:
        raise ValueError(f"modes: {sorted(unknown)} unknown; choose from {', '.join(MODES)}")
    service = SERVICE_TARGET
    bare = ["abr.clients.service_speed:bare_app"]
    rows: list[dict[str, object]] = []
    bare_env = {BATCH_SIZE_VARIABLE: str(batch_size)}
    with (
        running_server(service) as (service_url, _),
        running_server(bare, bare_env) as (bare_url, _),
    ):
        for round_index in range(rounds):
            for mode in modes:
                connections = chunk_connections if mode == "chunks" else batch_connections
                by_server: dict[str, dict[str, object]] = {}
                rates: dict[str, float] = {}
                for server, url in (("bare", bare_url), ("service", service_url)):
                    result = loadtest(
                        server=url,
                        connections=connections,
                        duration_s=duration_s,
                        mode=mode,
                        batch_size=batch_size,
                    )
                    by_server[server] = {
                        "round": round_index + 1,
                        "mode": mode,
                        "server": server,
                        "connections": connections,
                        **result.summary(),
                    }
                    rates[server] = result.decisions_per_s
                bare_rate = rates["bare"]
                by_server["service"]["ratio"] = rates["service"] / bare_rate if bare_rate else None
                rows.extend(by_server.values())
    return rows
