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
from service.errors import TooLarge, Unavailable, UnreadableSession, status_of
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
    port = free_port()
    store = RedisStore(f"redis://127.0.0.1:{port}/0", 10, 60.0, 10**6, _decode)
    refusals: list[Unavailable] = []

    async def run() -> None:
        for _ in range(3):
            with pytest.raises(
                Unavailable, match=r"^the session store is unreachable now; retry$"
            ) as refused:
                await store.get("some-session")
            refusals.append(refused.value)
        await store.close()

    with caplog.at_level(logging.WARNING, logger=log.name):
        asyncio.run(run())
    assert {status_of(refusal) for refusal in refusals} == {503}
    lines = [r.getMessage() for r in caplog.records if r.name == log.name]
    assert len(lines) == 1 and lines[0].startswith(f"{STORE_UNREACHABLE}: "), lines
    assert str(port) in lines[0]  # the operator's log names the address; the client's answer not


def test_a_new_table_evicts_only_sessions_that_hold_tables(make_store) -> None:
    """Sessions without a table free nothing: a flood of tables must not evict them."""

    async def run() -> None:
        store = make_store(100, 60.0, 3 * TABLE_BYTES)
        for i in range(10):
            await store.add(_session(f"player{i}"))
        for i in range(6):
            await store.add(_session(f"table{i}", own_table_chunks=1000))
        assert all([await store.get(f"player{i}") is not None for i in range(10)])
        assert [await store.get(f"table{i}") is not None for i in range(6)] == [False] * 3 + [
            True
        ] * 3
        assert await store.count() == 13 and await store.reclaimed() == (0, 3)
        await store.close()

    asyncio.run(run())


def test_a_table_over_the_whole_budget_is_refused_and_evicts_nothing(make_store) -> None:
    async def run() -> None:
        store = make_store(100, 60.0, 3 * TABLE_BYTES)
        await store.add(_session("table", own_table_chunks=1000))
        with pytest.raises(TooLarge, match="chunk_sizes_bytes: .*ABR_MAX_TABLE_BYTES") as refused:
            await store.add(_session("huge", own_table_chunks=4000))
        assert status_of(refused.value) == 413
        assert await store.get("table") is not None and await store.get("huge") is None
        await store.close()

    asyncio.run(run())


def test_the_end_of_a_session_waits_for_the_report_being_applied() -> None:
    """A DELETE that races a report: the summary holds the chunk exactly when its report is
    answered (the memory store hands out the session itself, changed before the decision)."""

    async def run() -> None:
        store = MemoryStore(10, 60.0)
        await store.add(_session("s"))
        session = await store.get("s")
        assert session is not None
        session.pending = asyncio.get_running_loop().create_future()
        ending = asyncio.create_task(store.pop("s"))
        await asyncio.sleep(0.01)
        assert not ending.done()  # the report's decision is still being made
        session.pending.set_result({"level": 1})
        assert await ending is session and await store.get("s") is None

    asyncio.run(run())


def _counting(store: RedisStore) -> list[object]:
    """Every command the store sends to Redis, from now on."""
    sent: list[object] = []
    execute = store.client.execute_command

    async def counted(*args: object, **options: object) -> object:
        sent.append(args[0])
        return await execute(*args, **options)

    store.client.execute_command = counted
    return sent


def test_redis_applies_a_report_in_one_round_trip_and_sees_other_replicas(redis_url) -> None:
    async def run() -> None:
        prefix = f"trip{time.time_ns()}:"
        here = RedisStore(redis_url, 10, 60.0, 2**30, _decode, prefix=prefix)
        there = RedisStore(redis_url, 10, 60.0, 2**30, _decode, prefix=prefix)
        await here.add(_session("s"))
        sent = _counting(here)
        session = await here.get("s", latest=False)
        assert session is not None
        session.next_index += 1
        assert await here.commit(session, 0) and len(sent) == 1, sent
        # another replica applies chunk 1: this process's copy is behind, and its commit refused
        elsewhere = await there.get("s")
        assert elsewhere is not None and elsewhere.next_index == 1
        elsewhere.next_index += 1
        assert await there.commit(elsewhere, 1)
        behind = await here.get("s", latest=False)
        assert behind is not None and behind.next_index == 1
        behind.next_index += 1
        assert not await here.commit(behind, 1)
        latest = await here.get("s", latest=False)  # read anew after the refusal
        assert latest is not None and latest.next_index == 2
        await here.close()
        await there.close()

    asyncio.run(run())


def test_redis_records_it_cannot_read_are_409s_not_500s(redis_url) -> None:
    async def run() -> None:
        prefix = f"bad{time.time_ns()}:"
        store = RedisStore(redis_url, 10, 60.0, 2**30, _decode, prefix=prefix)
        await store.add(_session("good"))
        good = await store.client.hget(f"{prefix}s:good", "data")
        client = store.client
        await client.hset(f"{prefix}s:garbage", mapping={"next": "0", "data": "{not json"})
        old = good.replace(b'"v":1', b'"v":0')
        await client.hset(f"{prefix}s:old", mapping={"next": "0", "data": old})
        await client.hset(f"{prefix}s:nofield", mapping={"next": "0", "data": b'{"v":1}'})
        await client.hset(f"{prefix}s:badnext", mapping={"next": "one", "data": good})
        await client.set(f"{prefix}s:string", "a string, not a hash")
        for sid in ("garbage", "old", "nofield", "badnext", "string"):
            with pytest.raises(UnreadableSession, match="start a new session") as refused:
                await store.get(sid)
            assert status_of(refused.value) == 409, sid
        session = await store.get("good")
        assert session is not None
        await client.hset(f"{prefix}s:good", "next", "one")  # damaged while being applied
        with pytest.raises(UnreadableSession):
            await store.commit(session, 0)
        assert await store.pop("string") is None  # a damaged record can still be ended
        assert await client.exists(f"{prefix}s:string") == 0
        await store.close()

    asyncio.run(run())


def test_redis_out_of_memory_is_a_503_to_retry(redis_url) -> None:
    async def run() -> None:
        store = RedisStore(redis_url, 10, 60.0, 2**30, _decode, prefix=f"oom{time.time_ns()}:")
        await store.add(_session("s"))
        session = await store.get("s")
        assert session is not None
        limit = await store.client.config_get("maxmemory")
        await store.client.config_set("maxmemory", 1)
        try:
            for write in (store.add(_session("new")), store.commit(session, 0)):
                with pytest.raises(Unavailable, match="refused the request now; retry"):
                    await write
        finally:
            await store.client.config_set("maxmemory", limit["maxmemory"])
        await store.close()

    asyncio.run(run())


def test_a_session_state_is_what_the_simulator_builds() -> None:
    from abr.player.state import player_state

    sizes = 1e5 + 1e3 * np.arange(20.0).reshape(2, 10)  # another size at every chunk
    video = make_video(LADDER, 4.0, sizes, "own")
    session = PlayerSession("s", "bb", "lin", video, _policy_for("bb", video))
    session.throughput_kbps[-3:] = [900.0, 1200.0, 700.0]
    session.download_s[-3:] = [1.1, 0.9, 2.0]
    session.history_count, session.buffer_s, session.last_level = 3, 7.5, 1
    for index in (0, 3, 9, 10):  # 10: after the last chunk
        session.next_index = index
        fast = session.player_state()
        built = player_state(
            session.video,
            np.array([index]),
            np.array([1]),
            np.array([7.5]),
            session.throughput_kbps[None, :].copy(),
            session.download_s[None, :].copy(),
            np.array([3]),
        )
        for name in fast.__dataclass_fields__:
            assert np.array_equal(getattr(fast, name), getattr(built, name)), (index, name)
            assert np.asarray(getattr(fast, name)).dtype == np.asarray(getattr(built, name)).dtype
