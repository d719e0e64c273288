"""`abr bench-neighbour`: can one client hurt the others? Normal per-chunk traffic is measured
alone and again while a noisy neighbour — in a process of its own — sends the worst requests
the API accepts, back to back, and holds idle connections open:

- a RobustMPC decision on the largest ladder (`max_levels` rungs, `max_chunks` chunks),
- the largest RobustMPC batch the planning budget accepts, with the longest histories,
- the largest batch of the model, in rows and in columns (`max_batch` players),
- `idle` connections that never send a byte (reopened when the server closes them).

Both phases run against one real `abr serve` on a local port; the answer is the normal
traffic's p99 beside, and the count of failed requests.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from abr.clients.loadtest import Connection, latency_percentiles_ms, loadtest
from abr.clients.net import running_server
from abr.clients.service_speed import SERVICE_TARGET
from abr.media.video import ENVIVIO_BITRATES_KBPS, ENVIVIO_CHUNK_S, ENVIVIO_CHUNKS


@dataclass(frozen=True)
class NeighbourResult:
    alone_decisions_per_s: float
    alone_p99_ms: float
    beside_decisions_per_s: float
    beside_p99_ms: float
    normal_errors: int  # failed normal requests, both phases
    noisy_requests: int  # the neighbour's requests answered during the second phase
    noisy_statuses: dict[str, int]
    idle_connections: int

    @property
    def p99_ratio(self) -> float:
        return self.beside_p99_ms / self.alone_p99_ms if self.alone_p99_ms else float("inf")

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "p99_ratio": self.p99_ratio}


def worst_requests(max_levels: int, max_chunks: int, max_batch: int, mpc_players: int) -> list:
    """(path, body) of the worst requests the default settings accept."""
    rng = np.random.default_rng(0)
    ladder = [100.0 * (k + 1) for k in range(max_levels)]
    large = {"ladder_kbps": ladder, "chunk_s": 4.0, "n_chunks": max_chunks}
    envivio = {
        "ladder_kbps": list(ENVIVIO_BITRATES_KBPS),
        "chunk_s": ENVIVIO_CHUNK_S,
        "n_chunks": ENVIVIO_CHUNKS,
    }

    def history(n: int, width: int) -> dict[str, Any]:
        return {
            "chunk_index": [10] * n,
            "last_level": [2] * n,
            "buffer_s": [9.5] * n,
            "throughput_kbps": rng.uniform(300, 5000, (n, width)).round(1).tolist(),
            "download_s": rng.uniform(0.5, 5, (n, width)).round(2).tolist(),
        }

    def rows(columns: dict[str, Any]) -> list[dict[str, Any]]:
        players = zip(*columns.values(), strict=True)
        return [dict(zip(columns, values, strict=True)) for values in players]

    one = rows(history(1, 64))[0]
    mpc_rows = rows(history(mpc_players, 64))
    return [
        ("/v1/decide", {**large, "policy": "mpc", **one}),
        ("/v1/decide/batch", {**envivio, "policy": "mpc", "players": mpc_rows}),
        ("/v1/decide/batch", {**envivio, "policy": "dqn", "players": rows(history(max_batch, 8))}),
        ("/v1/decide/columns", {**envivio, "policy": "dqn", **history(max_batch, 8)}),
    ]


def _neighbour(url: str, idle: int, stop: Any, counts: Any) -> None:
    """The noisy client's process: worst requests back to back, and idle sockets held open."""
    from service.settings import ServiceSettings

    settings = ServiceSettings.from_environment()
    mpc_players = settings.max_batch_plans // 6**5
    requests = [
        (path, json.dumps(body).encode())
        for path, body in worst_requests(
            settings.max_levels, settings.max_chunks, settings.max_batch, mpc_players
        )
    ]
    host, port = url.removeprefix("http://").split(":")

    async def hold_idle() -> None:
        sockets: list[asyncio.StreamWriter] = []
        while not stop.is_set():
            sockets = [s for s in sockets if not s.is_closing()]
            while len(sockets) < idle:
                try:
                    _, writer = await asyncio.open_connection(host, int(port))
                except OSError:
                    break
                sockets.append(writer)
            await asyncio.sleep(0.2)
        for writer in sockets:
            writer.close()

    async def send_worst() -> None:
        connection = Connection(host, int(port))
        while not stop.is_set():
            for path, body in requests:
                try:
                    status, _ = await connection.request("POST", path, body)
                except (OSError, RuntimeError, asyncio.IncompleteReadError):
                    status = 0
                    await connection.close()
                counts[str(status)] = counts.get(str(status), 0) + 1

    async def main() -> None:
        await asyncio.gather(hold_idle(), send_worst())

    asyncio.run(main())


def bench_neighbour(
    duration_s: float = 10.0, connections: int = 16, idle: int = 500
) -> NeighbourResult:
    """Normal traffic alone, then beside the noisy neighbour, against one `abr serve`."""
    with running_server(SERVICE_TARGET, timeout_s=60.0) as (url, _):
        alone = loadtest(server=url, connections=connections, duration_s=duration_s)
        manager = multiprocessing.Manager()
        stop, counts = manager.Event(), manager.dict()
        noisy = multiprocessing.Process(target=_neighbour, args=(url, idle, stop, counts))
        noisy.start()
        time.sleep(2.0)  # the idle sockets open, the first worst requests arrive
        counts.clear()
        beside = loadtest(server=url, connections=connections, duration_s=duration_s)
        noisy_statuses = dict(counts)
        stop.set()
        noisy.join(timeout=30)
        if noisy.is_alive():
            noisy.kill()
        manager.shutdown()
    return NeighbourResult(
        alone_decisions_per_s=alone.decisions_per_s,
        alone_p99_ms=latency_percentiles_ms(alone.latencies_s)["p99_ms"],
        beside_decisions_per_s=beside.decisions_per_s,
        beside_p99_ms=latency_percentiles_ms(beside.latencies_s)["p99_ms"],
        normal_errors=sum(alone.errors.values()) + sum(beside.errors.values()),
        noisy_requests=sum(noisy_statuses.values()),
        noisy_statuses=noisy_statuses,
        idle_connections=idle,
    )


@dataclass(frozen=True)
class MemoryResult:
    start_mb: float
    after_refused_mb: float
    after_accepted_mb: float
    refused: int
    accepted: int

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def bench_memory(requests: int = 1000, rungs: int = 32, n_chunks: int = 100_000) -> MemoryResult:
    """A real `abr serve`'s resident memory (its decision workers' included) after `requests`
    refused decisions (distinct `rungs`-rung ladders of `n_chunks` chunks, each video built
    and then refused for its player's last rung, past the ladder) and then after `requests`
    sessions started on such ladders."""
    import httpx
    import psutil

    def ladder(i: int) -> list[float]:
        return [100.0 + i + 100.0 * k for k in range(rungs)]

    player = {"chunk_index": 3, "last_level": 2, "buffer_s": 9.5}
    history = {"throughput_kbps": [1500.0], "download_s": [2.0]}
    with running_server(SERVICE_TARGET, timeout_s=60.0) as (url, pid):
        server = psutil.Process(pid)

        def rss_mb() -> float:
            processes = [server, *server.children(recursive=True)]
            return sum(float(p.memory_info().rss) for p in processes) / 2**20

        with httpx.Client(base_url=url, timeout=60) as client:
            envivio = {"ladder_kbps": list(ENVIVIO_BITRATES_KBPS), "chunk_s": 4.0, "n_chunks": 48}
            warm = client.post("/v1/decide", json={**envivio, **player, **history})  # workers up
            warm.raise_for_status()
            start = rss_mb()
            video = {"chunk_s": 4.0, "n_chunks": n_chunks}
            past_the_ladder = {**player, "policy": "dqn", "last_level": rungs}  # one past the top
            refused = sum(
                client.post(
                    "/v1/decide",
                    json={"ladder_kbps": ladder(i), **video, **past_the_ladder, **history},
                ).status_code
                == 422
                for i in range(requests)
            )
            after_refused = rss_mb()
            accepted = sum(
                client.post(
                    "/v1/sessions", json={"ladder_kbps": ladder(i), **video, "policy": "bb"}
                ).status_code
                == 201
                for i in range(requests)
            )
            after_accepted = rss_mb()
    return MemoryResult(start, after_refused, after_accepted, refused, accepted)
