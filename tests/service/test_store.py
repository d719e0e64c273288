"""The session stores, in this process and in a real Redis: bounded by count, idle time and
uploaded size tables, and (Redis) a report committed at most once."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time

import numpy as np
import pytest

from abr.clients.net import free_port
from abr.media.video import make_video, nominal_video
from service.codec import decode_session
from service.engine import _policy_for
from service.errors import Unavailable, status_of
from service.log import STORE_UNREACHABLE, log
from service.redis_store import RedisStore
from service.sessions import PlayerSession
from service.store import MemoryStore, SessionStore

LADDER = [300.0, 750.0]
TABLE_BYTES = 2 * 1000 * 8  # one session's [2 levels][1000 chunks] float64 table
_prefixes = itertools.count()


def _session(name: str, own_table_chunks: int = 0) -> PlayerSession:
    if own_table_chunks:
        video = make_video(LADDER, 4.0, np.full((2, own_table_chunks), 1e5), "own")
    else:
        video = nominal_video(LADDER, 4.0, 100_000)
    return PlayerSession(name, "bb", "lin", video, _policy_for("bb", video))


def _decode(data: bytes) -> PlayerSession:
    return decode_session(data, lambda *key: nominal_video(*key), _policy_for, "bb")


@pytest.fixture(params=["memory", "redis"])
def make_store(request: pytest.FixtureRequest):
    """A factory of empty stores of one kind: (max_sessions, ttl_s, max_table_bytes) -> store."""

    def memory(max_sessions: int, ttl_s: float, max_table_bytes: int) -> SessionStore:
        return MemoryStore(max_sessions, ttl_s, max_table_bytes=max_table_bytes)

    def redis(max_sessions: int, ttl_s: float, max_table_bytes: int) -> SessionStore:
        url = request.getfixturevalue("redis_url")
        prefix = f"test{next(_prefixes)}-{time.time_ns()}:"  # a fresh key space per store
        return RedisStore(url, max_sessions, ttl_s, max_table_bytes, _decode, prefix=prefix)

    return memory if request.param == "memory" else redis


def test_uploaded_size_tables_are_bounded_in_bytes(make_store) -> None:
    async def run() -> None:
        store = make_store(100, 60.0, 3 * TABLE_BYTES)
        for i in range(5):
            await store.add(_session(f"s{i}", own_table_chunks=1000))
        assert await store.count() == 3
        assert await store.get("s0") is None and await store.get("s4") is not None  # LRU out
        assert await store.reclaimed() == (0, 2)
        await store.add(_session("nominal"))  # a shared nominal video costs no table bytes
        assert await store.count() == 4
        await store.pop("s4")
        await store.add(_session("s5", own_table_chunks=1000))  # fits again: nothing evicted
        assert await store.count() == 4 and (await store.reclaimed())[1] == 2
        await store.close()

    asyncio.run(run())


def test_the_session_count_is_bounded_least_recently_used_out(make_store) -> None:
    async def run() -> None:
        store = make_store(3, 60.0, 2**30)
        for i in range(3):
            await store.add(_session(f"s{i}"))
        s0 = await store.get("s0")
        assert s0 is not None
        assert await store.commit(s0, s0.next_index)  # s0 used: s1 is now the oldest
        await store.add(_session("s3"))
        assert await store.get("s1") is None and await store.get("s0") is not None
        assert await store.count() == 3
        await store.close()

    asyncio.run(run())


def test_idle_sessions_expire(make_store) -> None:
    async def run() -> None:
        store = make_store(100, 0.3, 2**30)
        await store.add(_session("old"))
        await asyncio.sleep(0.5)
        await store.add(_session("new"))
        assert await store.get("old") is None and await store.get("new") is not None
        assert await store.count() == 1 and (await store.reclaimed())[0] == 1
        await store.close()

    asyncio.run(run())


def test_redis_commits_a_report_once_whoever_applies_it(redis_url: str) -> None:
    """Two replicas read the same session and both apply chunk 0: only one commit lands."""

    async def run() -> None:
        store = RedisStore(redis_url, 10, 60.0, 2**30, _decode, prefix=f"race{time.time_ns()}:")
        await store.add(_session("s"))
        first, second = await store.get("s"), await store.get("s")
        assert first is not None and second is not None
        for copy in (first, second):
            copy.next_index += 1
        assert await store.commit(first, 0)
        assert not await store.commit(second, 0)
        stored = await store.get("s")
        assert stored is not None and stored.next_index == 1
        assert not await store.commit(_session("gone"), 0)  # an unknown session: refused
        await store.close()

    asyncio.run(run())


def test_an_unreachable_redis_is_a_503_to_retry_and_logged_once(caplog, fresh_log_minute):
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", 10, 60.0, 10**6, _decode)
    refusals: list[Unavailable] = []

    async def run() -> None:
        for _ in range(3):
            with pytest.raises(Unavailable, match=r"unreachable now \(.*\); retry") as refused:
                await store.get("some-session")
            refusals.append(refused.value)
        await store.close()

    with caplog.at_level(logging.WARNING, logger=log.name):
        asyncio.run(run())
    assert {status_of(refusal) for refusal in refusals} == {503}
    lines = [r.getMessage() for r in caplog.records if r.name == log.name]
    assert len(lines) == 1 and lines[0].startswith(f"{STORE_UNREACHABLE}: "), lines
