"""`abr bench-redis-memory`: what live sessions cost in Redis. Sessions of the Envivio video,
each halfway through (24 chunk reports applied, RobustMPC's error memory and the last answer
kept), are written by the service's own store into a fresh redis-server; the figure is Redis's
`used_memory` before and after, per session."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from abr.clients.redis_server import running_redis
from abr.media.video import ENVIVIO_BITRATES_KBPS
from service.codec import encode_session
from service.engine import Engine
from service.redis_store import RedisStore
from service.schemas import VideoSpec
from service.settings import ServiceSettings


@dataclass(frozen=True)
class RedisMemory:
    sessions: int
    used_mb_before: float
    used_mb_after: float
    bytes_per_session: float
    record_bytes: int  # one encoded session, as stored

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def bench_redis_memory(n_sessions: int = 100_000, reports: int = 24) -> RedisMemory:
    engine = Engine(ServiceSettings.from_environment())
    with (
        tempfile.TemporaryDirectory(prefix="abr-redis-") as folder,
        running_redis(Path(folder)) as redis,
    ):
        return asyncio.run(_fill(engine, redis.url, n_sessions, reports))


async def _fill(engine: Engine, url: str, n_sessions: int, reports: int) -> RedisMemory:
    store = RedisStore(url, n_sessions, 3600.0, 2**40, engine.session_from_bytes)
    ladder = [float(kbps) for kbps in ENVIVIO_BITRATES_KBPS]
    envivio = VideoSpec(ladder_kbps=ladder, chunk_s=4.0, n_chunks=48, chunk_sizes_bytes=None)
    session, _ = engine.new_session(envivio, "mpc", "lin")
    for index in range(reports):
        report = (index, index % 6, 5e5 + 1e4 * index, 0.5 + 0.05 * index, 8.0 + index, 0.0)
        choice = await engine.apply_report(session, report)
        assert choice is not None
        session.last_answer = {"level": int(choice.levels[0]), "done": False}
    before = await store.client.info("memory")
    for i in range(n_sessions):
        session.session_id = f"bench{i:07d}"
        await store.add(session)
    after = await store.client.info("memory")
    await store.close()
    used_before, used_after = before["used_memory"], after["used_memory"]
    return RedisMemory(
        n_sessions,
        used_before / 2**20,
        used_after / 2**20,
        (used_after - used_before) / n_sessions,
        len(encode_session(session)),
    )
