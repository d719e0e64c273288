"""`abr loadtest`: drive a running service with N keep-alive connections and measure decisions/s
and latency. A minimal HTTP/1.1 client on asyncio streams (a general client such as httpx would
cost more CPU than the server on a 2-core machine and measure itself, not the service).

Modes: `chunks` — each connection plays sessions chunk by chunk (start, 48 reports, end), and
each report is one decision; `batch` — each request is one /v1/decide/batch of `batch_size`
players; `sessions` — open `sessions` sessions, one report each, and keep them live (memory);
`soak` — players at a steady total `rate` of requests/s, a fraction `abandon` of them leaving
mid-video without ending their session, with the server's RSS sampled over the run.
"""

from __future__ import annotations

import asyncio
import json
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from abr.media.video import ENVIVIO_BITRATES_KBPS, ENVIVIO_CHUNK_S, ENVIVIO_CHUNKS
from abr.units import BITS_PER_BYTE, BITS_PER_KBIT

ENVIVIO_VIDEO: dict[str, object] = {
    "ladder_kbps": list(ENVIVIO_BITRATES_KBPS),
    "chunk_s": ENVIVIO_CHUNK_S,
    "n_chunks": ENVIVIO_CHUNKS,
}


class HttpError(RuntimeError):
    pass


class Connection:
    """One keep-alive HTTP/1.1 connection that sends JSON and reads JSON."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        payload = body if isinstance(body, bytes) else json.dumps(body).encode() if body else b""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        self.writer.write(head.encode() + payload)
        status_line = await self.reader.readline()
        if not status_line:
            await self.close()
            raise HttpError("connection closed by the server")
        status = int(status_line.split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        data = await self.reader.readexactly(length) if length else b""
        try:
            return status, json.loads(data) if data else None
        except ValueError:  # not ours: e.g. a proxy's HTML error page
            return status, data.decode(errors="replace")

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


def samples() -> array[float]:
    """A growing store of float samples, 8 bytes each (a list of floats holds 32): a soak of an
    hour at 10,000 requests/s keeps its latencies in about 0.3 GB, not 1.2."""
    return array("d")


def latency_percentiles_ms(latencies_s: Sequence[float]) -> dict[str, float]:
    """p50, p95, p99 and max of request latencies, in ms (zeros when there are none)."""
    latency_ms = np.array(latencies_s or [0.0]) * 1000.0
    return {
        "p50_ms": float(np.percentile(latency_ms, 50)),
        "p95_ms": float(np.percentile(latency_ms, 95)),
        "p99_ms": float(np.percentile(latency_ms, 99)),
        "max_ms": float(latency_ms.max()),
    }


@dataclass
class LoadResult:
    decisions: int = 0
    requests: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies_s: array[float] = field(default_factory=samples)
    answered_at_s: array[float] = field(default_factory=samples)  # since the start of the run
    rss_mb: list[tuple[float, float]] = field(default_factory=list)  # (time s, server RSS MB)
    abandoned: int = 0
    start_s: float = field(default_factory=time.perf_counter)
    wall_s: float = 0.0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    @property
    def decisions_per_s(self) -> float:
        return self.decisions / self.wall_s if self.wall_s else 0.0

    def summary(self) -> dict[str, object]:
        return {
            "decisions": self.decisions,
            "requests": self.requests,
            "wall_s": self.wall_s,
            "decisions_per_s": self.decisions_per_s,
            "requests_per_s": self.requests / self.wall_s if self.wall_s else 0.0,
            **latency_percentiles_ms(self.latencies_s),
            "errors": sum(self.errors.values()),
            "errors_by_kind": dict(self.errors),
        }

    def windows(self, window_s: float) -> list[dict[str, float]]:
        """Decisions/s and latency percentiles per window of the run (the soak's view)."""
        at, latency_ms = np.array(self.answered_at_s), np.array(self.latencies_s) * 1000.0
        rows = []
        for start in np.arange(0.0, max(self.wall_s, window_s), window_s):
            inside = (at >= start) & (at < start + window_s)
            if inside.any():
                rows.append(
                    {
                        "t_s": float(start),
                        "requests_per_s": float(inside.sum() / window_s),
                        "p50_ms": float(np.percentile(latency_ms[inside], 50)),
                        "p99_ms": float(np.percentile(latency_ms[inside], 99)),
                    }
                )
        return rows


async def _timed(
    connection: Connection, result: LoadResult, method: str, path: str, body: object = None
) -> Any:
    start = time.perf_counter()
    try:
        status, answer = await connection.request(method, path, body)
    except (OSError, HttpError, asyncio.IncompleteReadError) as exc:
        result.error(type(exc).__name__)
        await connection.close()
        return None
    result.latencies_s.append(time.perf_counter() - start)
    result.answered_at_s.append(time.perf_counter() - result.start_s)
    result.requests += 1
    if status >= 400:
        result.error(str(status))
        return None
    return answer


def _report(index: int, level: int, rng: np.random.Generator) -> dict[str, object]:
    kbps = float(rng.uniform(300, 6000))
    size_bytes = ENVIVIO_BITRATES_KBPS[level] * BITS_PER_KBIT / BITS_PER_BYTE * ENVIVIO_CHUNK_S
    download_s = size_bytes * 8 / 1000 / kbps
    return {
        "index": index,
        "level": level,
        "size_bytes": size_bytes,
        "download_s": download_s,
        "buffer_s": float(rng.uniform(0, 30)),
        "rebuffer_s": 0.0,
    }


async def _play_sessions(
    connection: Connection, result: LoadResult, policy: str, deadline: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    while time.perf_counter() < deadline:
        started = await _timed(
            connection, result, "POST", "/v1/sessions", {**ENVIVIO_VIDEO, "policy": policy}
        )
        if started is None:
            continue
        result.decisions += 1
        session, level = started["session_id"], started["level"]
        for index in range(48):
            if time.perf_counter() >= deadline:
                return
            answer = await _timed(
                connection,
                result,
                "POST",
                f"/v1/sessions/{session}/chunks",
                _report(index, level, rng),
            )
            if answer is None:
                break
            if answer["done"]:
                await _timed(connection, result, "DELETE", f"/v1/sessions/{session}")
                break
            result.decisions += 1
            level = answer["level"]


async def _soak_players(
    connection: Connection,
    result: LoadResult,
    policy: str,
    deadline: float,
    seed: int,
    interval_s: float,
    abandon: float,
) -> None:
    """Players at a steady pace (one request per `interval_s` on this connection); a fraction
    `abandon` of them vanish mid-video without ending their session, for the TTL to reclaim."""
    rng = np.random.default_rng(seed)
    next_s = time.perf_counter()

    async def paced(method: str, path: str, body: object = None) -> Any:
        nonlocal next_s
        next_s += interval_s
        await asyncio.sleep(max(0.0, next_s - time.perf_counter()))
        return await _timed(connection, result, method, path, body)

    while time.perf_counter() < deadline:
        started = await paced("POST", "/v1/sessions", {**ENVIVIO_VIDEO, "policy": policy})
        if started is None:
            continue
        result.decisions += 1
        session, level = started["session_id"], started["level"]
        last_chunk = int(rng.integers(1, 48)) if rng.random() < abandon else 48
        for index in range(last_chunk):
            if time.perf_counter() >= deadline:
                return
            answer = await paced(
                "POST", f"/v1/sessions/{session}/chunks", _report(index, level, rng)
            )
            if answer is None:
                break
            if answer["done"]:
                await paced("DELETE", f"/v1/sessions/{session}")
                break
            result.decisions += 1
            level = answer["level"]
        else:
            result.abandoned += 1  # left without a DELETE


async def _sample_rss(result: LoadResult, pid: int, deadline: float, every_s: float) -> None:
    while True:
        result.rss_mb.append((time.perf_counter() - result.start_s, process_rss_mb(pid)))
        if time.perf_counter() >= deadline:
            return
        await asyncio.sleep(min(every_s, max(0.0, deadline - time.perf_counter())))


def _batch_body(batch_size: int, policy: str, seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    players = [
        {
            "chunk_index": int(rng.integers(1, 48)),
            "last_level": int(rng.integers(0, 6)),
            "buffer_s": float(rng.uniform(0, 30)),
            "throughput_kbps": rng.uniform(300, 6000, 8).round(1).tolist(),
            "download_s": rng.uniform(0.5, 5, 8).round(3).tolist(),
        }
        for _ in range(batch_size)
    ]
    return {**ENVIVIO_VIDEO, "policy": policy, "players": players}


def _columns_body(batch_size: int, policy: str, seed: int) -> dict[str, object]:
    """The same players as `_batch_body`, in the column form."""
    body = _batch_body(batch_size, policy, seed)
    players: list[dict[str, object]] = body.pop("players")  # type: ignore[assignment]
    fields = ("chunk_index", "last_level", "buffer_s", "throughput_kbps", "download_s")
    return {**body, **{name: [p[name] for p in players] for name in fields}}


async def _send_batches(
    connection: Connection,
    result: LoadResult,
    path: str,
    body: dict[str, object],
    n: int,
    deadline: float,
) -> None:
    payload = json.dumps(body).encode()  # once: the client should measure the server, not json
    while time.perf_counter() < deadline:
        if await _timed(connection, result, "POST", path, payload) is not None:
            result.decisions += n


async def _open_sessions(connections: list[Connection], result: LoadResult, count: int) -> None:
    rng = np.random.default_rng(0)

    async def worker(connection: Connection, share: int) -> None:
        for _ in range(share):
            started = await _timed(
                connection, result, "POST", "/v1/sessions", {**ENVIVIO_VIDEO, "policy": "dqn"}
            )
            if started is None:
                continue
            path = f"/v1/sessions/{started['session_id']}/chunks"
            if await _timed(connection, result, "POST", path, _report(0, 1, rng)) is not None:
                result.decisions += 2

    shares = [
        count // len(connections) + (i < count % len(connections)) for i in range(len(connections))
    ]
    await asyncio.gather(*(worker(c, s) for c, s in zip(connections, shares, strict=True)))


async def run_load(
    server: str,
    connections: int,
    duration_s: float,
    mode: str = "chunks",
    policy: str = "dqn",
    batch_size: int = 1024,
    sessions: int = 100_000,
    rate: float = 2000.0,
    abandon: float = 0.3,
    server_pid: int | None = None,
) -> LoadResult:
    url = urlsplit(server)
    if url.scheme != "http" or not url.hostname:
        raise ValueError(f"--server must be an http://HOST:PORT URL, got {server!r}")
    port = url.port or 80
    pool = [Connection(url.hostname, port) for _ in range(connections)]
    try:
        await pool[0].request("GET", "/healthz")
    except OSError as exc:
        raise ValueError(f"{server}: the service is not reachable ({exc})") from None
    result = LoadResult()
    start = result.start_s = time.perf_counter()
    deadline = start + duration_s
    sampler = (
        asyncio.ensure_future(_sample_rss(result, server_pid, deadline, max(1.0, duration_s / 60)))
        if server_pid
        else None
    )
    if mode == "chunks":
        await asyncio.gather(
            *(_play_sessions(c, result, policy, deadline, i) for i, c in enumerate(pool))
        )
    elif mode in ("batch", "columns"):
        path, body = (
            ("/v1/decide/batch", _batch_body(batch_size, policy, 0))
            if mode == "batch"
            else ("/v1/decide/columns", _columns_body(batch_size, policy, 0))
        )
        await asyncio.gather(
            *(_send_batches(c, result, path, body, batch_size, deadline) for c in pool)
        )
    elif mode == "sessions":
        await _open_sessions(pool, result, sessions)
    elif mode == "soak":
        interval_s = connections / rate
        await asyncio.gather(
            *(
                _soak_players(c, result, policy, deadline, i, interval_s, abandon)
                for i, c in enumerate(pool)
            )
        )
    else:
        raise ValueError(f"mode must be chunks, batch, columns, sessions or soak, not {mode!r}")
    result.wall_s = time.perf_counter() - start
    if sampler is not None:
        await sampler
    for connection in pool:
        await connection.close()
    return result


def loadtest(**options: Any) -> LoadResult:
    try:
        import uvloop
    except ImportError:  # uvloop is not built for every platform
        return asyncio.run(run_load(**options))
    return uvloop.run(run_load(**options))


def process_rss_mb(pid: int) -> float:
    import psutil

    return float(psutil.Process(pid).memory_info().rss) / 2**20
