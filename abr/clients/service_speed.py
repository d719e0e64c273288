"""`abr bench-service`: the service's speed beside the floor of this machine, in one run.

This machine's speed changes from day to day (other tenants), so a decisions/s figure alone
does not say whether the service got faster or the machine did. This benchmark starts two real
uvicorn servers on local ports, with the same uvicorn settings as `abr serve`:
- the service (`service.app:create_app`), and
- `bare_app` below: the same routes answered with a fixed JSON body, no parsing, no state, no
  model — what uvicorn and the load client alone cost on this machine,
then drives both with `abr loadtest`'s client, alternating, round after round, and reports each
round's figures and the service's share of the bare server's rate (`ratio`).

`stores` runs the service once per session store, each beside the same bare server: `memory`
(one process), `redis` (one worker, sessions in a local redis-server whose append-only file is
synced on every write), `redis-2w` (two workers on such a Redis), and `redis-everysec` (one
worker; the file synced once a second, as the deployment runs it).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from abr.clients.loadtest import loadtest
from abr.clients.net import running_server
from abr.clients.redis_server import RedisServer

Message = MutableMapping[str, Any]

MODES = ("chunks", "columns")
STORES = ("memory", "redis", "redis-2w", "redis-everysec")
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
    stores: tuple[str, ...] = ("memory",),
) -> list[dict[str, object]]:
    """One row per (round, mode, store, server): decisions/s, p50/p99 ms, errors; rows of the
    service also hold `ratio`, its decisions/s over the bare server's in the same round."""
    unknown = (set(modes) - set(MODES)) | (set(stores) - set(STORES))
    if unknown:
        raise ValueError(f"{sorted(unknown)} unknown; modes: {MODES}, stores: {STORES}")
    bare = ["abr.clients.service_speed:bare_app"]
    rows: list[dict[str, object]] = []
    bare_env = {BATCH_SIZE_VARIABLE: str(batch_size)}
    with ExitStack() as stack:
        bare_url, _ = stack.enter_context(running_server(bare, bare_env))
        services = {store: _start_service(stack, store) for store in stores}
        for round_index in range(rounds):
            for mode in modes:
                connections = chunk_connections if mode == "chunks" else batch_connections
                for store, service_url in services.items():
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
                            "store": store,
                            "server": server,
                            "connections": connections,
                            **result.summary(),
                        }
                        rates[server] = result.decisions_per_s
                    bare_rate = rates["bare"]
                    ratio = rates["service"] / bare_rate if bare_rate else None
                    by_server["service"]["ratio"] = ratio
                    rows.extend(by_server.values())
    return rows


def _start_service(stack: ExitStack, store: str) -> str:
    """The service with `store`'s sessions, stopped with the stack; its URL."""
    target, env = list(SERVICE_TARGET), {}
    if store != "memory":
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="abr-redis-")))
        redis = RedisServer(folder, fsync="everysec" if store == "redis-everysec" else "always")
        redis.start()
        stack.callback(redis.stop)
        env["ABR_STORE"] = redis.url
        if store == "redis-2w":
            target += ["--workers", "2"]
    url, _ = stack.enter_context(running_server(target, env))
    return url
