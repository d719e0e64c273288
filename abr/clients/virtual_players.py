"""`abr replay`: virtual players against a running service. Each trace is a player that plays
the video chunk by chunk under the simulator's semantics (evaluation mode: from the trace's
start, no noise) and asks the service over HTTP for every decision.

Pacing: `max` asks again as soon as an answer arrives; `realtime` waits, after each chunk, for
as long as the simulated download (and any buffer-full sleep) took; `xK` waits 1/K of that.
Requests time out; 5xx answers and connection errors are retried with exponential backoff, and
every retry and error is counted by kind. A retried chunk report is safe: the service answers an
identical report for a chunk it already applied with the answer it gave then. A player whose
request still fails after its retries gives up its session (counted).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from abr.bench.run import PolicyRun
from abr.clients.loadtest import Connection, HttpError, latency_percentiles_ms, samples
from abr.media.traces import Trace
from abr.media.video import Video
from abr.player.qoe import make_qoe, summarize_session
from abr.sim.config import SimConfig
from abr.sim.reference import ReferenceSession
from abr.units import throughput_kbps


def parse_pace(pace: str) -> float | None:
    """Speed-up over real time: None for `max`, 1 for `realtime`, K for `xK`."""
    if pace == "max":
        return None
    if pace == "realtime":
        return 1.0
    if pace.startswith("x"):
        try:
            speedup = float(pace[1:])
        except ValueError:
            speedup = 0.0
        if speedup > 0:
            return speedup
    raise ValueError(f"--pace must be max, realtime or xK with K > 0, got {pace!r}")


@dataclass
class ReplayLog:
    """What the client saw: one latency per answered request, and every failure by kind."""

    start_s: float = field(default_factory=time.perf_counter)
    latencies_s: array[float] = field(default_factory=samples)
    answered_at_s: array[float] = field(default_factory=samples)
    decisions: int = 0
    fallbacks: int = 0
    retries: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    abandoned: int = 0

    def count(self, table: dict[str, int], kind: str) -> None:
        table[kind] = table.get(kind, 0) + 1

    def service_summary(self, wall_s: float) -> dict[str, Any]:
        return {
            "decisions": self.decisions,
            "decisions_per_s": self.decisions / wall_s if wall_s > 0 else 0.0,
            **latency_percentiles_ms(self.latencies_s),
            "errors": sum(self.errors.values()),
            "errors_by_kind": dict(self.errors),
            "retries": sum(self.retries.values()),
            "retries_by_kind": dict(self.retries),
            "fallbacks": self.fallbacks,
            "abandoned_sessions": self.abandoned,
            "wall_s": wall_s,
        }


class GiveUp(Exception):
    """A request that failed for good (after its retries, or with a 4xx)."""


@dataclass
class Client:
    host: str
    port: int
    log: ReplayLog
    timeout_s: float = 10.0
    retries: int = 5
    backoff_s: float = 0.05  # then twice as long each time: 1.55 s in all over 5 retries

    async def call(self, connection: Connection, method: str, path: str, body: Any = None) -> Any:
        for attempt in range(self.retries + 1):
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self.timeout_s):  # no extra task, unlike wait_for
                    status, answer = await connection.request(method, path, body)
            except (TimeoutError, OSError, HttpError, asyncio.IncompleteReadError) as exc:
                await connection.close()
                kind = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
            else:
                if status < 500:
                    self.log.latencies_s.append(time.perf_counter() - started)
                    self.log.answered_at_s.append(time.perf_counter() - self.log.start_s)
                    if status >= 400:
                        self.log.count(self.log.errors, str(status))
                        raise GiveUp(f"{status}: {answer}")
                    return answer
                kind = str(status)
            if attempt == self.retries:
                self.log.count(self.log.errors, kind)
                raise GiveUp(kind)
            self.log.count(self.log.retries, kind)
            await asyncio.sleep(self.backoff_s * 2**attempt)
        raise AssertionError("unreachable")


@dataclass
class PlayerResult:
    levels: np.ndarray  # [K]
    buffer_s: np.ndarray
    rebuffer_s: np.ndarray
    throughput_kbps: np.ndarray
    download_s: np.ndarray
    complete: bool


def _result(levels: np.ndarray, logs: dict[str, np.ndarray], complete: bool) -> PlayerResult:
    return PlayerResult(
        levels, logs["buffer"], logs["rebuffer"], logs["throughput"], logs["delay"], complete
    )


async def play(
    client: Client,
    connection: Connection,
    trace: Trace,
    video: Video,
    policy: str,
    speedup: float | None,
) -> PlayerResult:
    config = SimConfig()
    # one player, one chunk at a time: the scalar reference (tested equal to the vectorised
    # simulator) costs ~5 us a chunk where a one-session BatchSimulator costs ~90 us
    sim = ReferenceSession(
        trace.time_s.tolist(),
        trace.mbps.tolist(),
        video.chunk_s,
        1,  # evaluation: from the trace's first sample
        config.rtt_s,
        config.payload_fraction,
        config.buffer_cap_s,
        config.sleep_quantum_s,
    )
    sizes_bytes = video.sizes_bytes.tolist()
    k = video.n_chunks
    logs = {name: np.zeros(k) for name in ("buffer", "rebuffer", "throughput", "delay")}
    levels = np.zeros(k, dtype=np.int64)
    description = {
        "ladder_kbps": video.bitrates_kbps.tolist(),
        "chunk_s": video.chunk_s,
        "n_chunks": k,
        "chunk_sizes_bytes": video.sizes_bytes.tolist(),
        "policy": policy,
    }
    try:
        started = await client.call(connection, "POST", "/v1/sessions", description)
    except GiveUp:
        client.log.abandoned += 1
        return _result(levels, logs, complete=False)
    session, level = started["session_id"], int(started["level"])
    for chunk in range(k):
        levels[chunk] = level
        size_bytes = sizes_bytes[level][chunk]
        outcome = sim.fetch(size_bytes)
        logs["buffer"][chunk] = outcome.buffer_s
        logs["rebuffer"][chunk] = outcome.rebuffer_s
        logs["delay"][chunk] = outcome.download_s
        logs["throughput"][chunk] = throughput_kbps(size_bytes, outcome.download_s)
        if speedup is not None:
            await asyncio.sleep((outcome.download_s + outcome.sleep_s) / speedup)
        report = {
            "index": chunk,
            "level": level,
            "size_bytes": size_bytes,
            "download_s": outcome.download_s,
            "buffer_s": outcome.buffer_s,
            "rebuffer_s": outcome.rebuffer_s,
        }
        try:
            answer = await client.call(connection, "POST", f"/v1/sessions/{session}/chunks", report)
        except GiveUp:
            client.log.abandoned += 1
            return _result(levels, logs, complete=False)
        if answer["done"]:
            break
        client.log.decisions += 1
        client.log.fallbacks += int(answer["fallback"])
        level = int(answer["level"])
    with contextlib.suppress(GiveUp):  # else the session expires by TTL; playback is complete
        await client.call(connection, "DELETE", f"/v1/sessions/{session}")
    return _result(levels, logs, complete=True)


async def replay_async(
    server: str,
    traces: Sequence[Trace],
    video: Video,
    policy: str,
    concurrency: int,
    pace: str,
    timeout_s: float = 10.0,
    retries: int = 5,
    on_done: Callable[[], None] | None = None,
) -> tuple[list[PlayerResult], list[Trace], ReplayLog]:
    speedup = parse_pace(pace)
    url = urlsplit(server)
    if url.scheme != "http" or not url.hostname:
        raise ValueError(f"--server must be an http://HOST:PORT URL, got {server!r}")
    host, port = url.hostname, url.port or 80
    probe = Connection(host, port)
    try:
        await asyncio.wait_for(probe.request("GET", "/healthz"), timeout_s)
    except (OSError, TimeoutError, HttpError) as exc:
        raise ValueError(f"{server}: the service is not reachable ({exc or 'timeout'})") from None
    finally:
        await probe.close()
    players = [traces[i % len(traces)] for i in range(max(len(traces), concurrency))]
    log = ReplayLog()
    client = Client(host, port, log, timeout_s, retries)
    results: list[PlayerResult | None] = [None] * len(players)
    queue = iter(range(len(players)))

    async def worker() -> None:
        connection = Connection(host, port)
        for index in queue:  # a shared iterator: each player is taken by one worker
            results[index] = await play(client, connection, players[index], video, policy, speedup)
            if on_done is not None:
                on_done()
        await connection.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return [r for r in results if r is not None], players, log


def as_policy_run(
    name: str, results: Sequence[PlayerResult], players: Sequence[Trace], video: Video, qoe: str
) -> PolicyRun:
    """The completed players as a PolicyRun, so that the bench's tables and files apply."""
    done = [(r, t) for r, t in zip(results, players, strict=True) if r.complete]
    if not done:
        raise ValueError("no virtual player completed its video; see the errors above")
    metric = make_qoe(qoe, video.bitrates_kbps)

    def stack(attribute: str) -> np.ndarray:
        return np.stack([getattr(r, attribute) for r, _ in done], axis=1)

    summaries = [
        summarize_session(metric, r.levels, r.rebuffer_s, video.bitrates_kbps, video.chunk_s)
        for r, _ in done
    ]
    return PolicyRun(
        name,
        [t.name for _, t in done],
        stack("levels"),
        stack("buffer_s"),
        stack("rebuffer_s"),
        stack("throughput_kbps"),
        stack("download_s"),
        summaries,
        0.0,
    )


def replay(**options: Any) -> tuple[list[PlayerResult], list[Trace], ReplayLog]:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(replay_async(**options))
    return uvloop.run(replay_async(**options))
