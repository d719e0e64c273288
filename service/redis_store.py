"""Sessions in Redis (`ABR_STORE=redis://host:port/db`), shared by every worker of every replica.

Each session is one hash, `<prefix>s:<id>` = {next: the chunk index it expects, data: the
encoded session (service/codec.py)}, expiring `session_ttl_s` after its last write; a sorted set
`<prefix>lru` orders the sessions by last use (Redis's own clock), and `<prefix>tlru` those that
uploaded a size table, so that a new session past `max_sessions` evicts the least recently used
one and a new table past `max_table_bytes` the least recently used tables, as the memory store
does. Every change is one Lua script, atomic in Redis: a chunk report is committed only if the
stored session still expects the chunk the report was applied to, so two replicas can never both
apply the same chunk.

One round trip per chunk report: the process keeps the bytes it committed last for each session
(those without a size table, `CACHE_BYTES` in all), and applies the next report to a copy
decoded from them; the commit, which checks the stored chunk index, is the only call to Redis.
When another replica applied a report meanwhile, the commit is refused and the report is checked
again against the session read anew.

A stored session this version cannot read answers 409 (start a new session), never a 500; Redis
unreachable or refusing writes (out of memory) answers 503. The scripts touch keys they compute
from the prefix, so this store needs one Redis, not a Redis Cluster.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from service.codec import SessionFormatError, encode_session
from service.errors import Unavailable, UnreadableSession
from service.log import STORE_UNREACHABLE, STORE_UNREADABLE, log
from service.sessions import PlayerSession
from service.store import check_table_fits

T = TypeVar("T")

# shared by the scripts: forget(prefix, id) drops a session from the LRU set and the table budget;
# now_s() is Redis's clock; reclaim(prefix, ttl_s) drops the sessions idle past the TTL
_LUA_HELPERS = """
local function forget(prefix, sid)
  redis.call('ZREM', prefix .. 'lru', sid)
  redis.call('ZREM', prefix .. 'tlru', sid)
  local bytes = redis.call('HGET', prefix .. 'tables', sid)
  if bytes then
    redis.call('HDEL', prefix .. 'tables', sid)
    redis.call('HINCRBY', prefix .. 'stats', 'table_bytes', -tonumber(bytes))
  end
end
local function now_s()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1e6
end
local function reclaim(prefix, ttl_s)
  local old = redis.call('ZRANGEBYSCORE', prefix .. 'lru', '-inf', now_s() - ttl_s)
  for _, sid in ipairs(old) do
    forget(prefix, sid)
    redis.call('DEL', prefix .. 's:' .. sid)
    redis.call('HINCRBY', prefix .. 'stats', 'expired', 1)
  end
end
"""

# ARGV: prefix, id, next, data, ttl_s, max_sessions, table_bytes, max_table_bytes
_ADD = (
    _LUA_HELPERS
    + """
local prefix, sid = ARGV[1], ARGV[2]
local ttl_s, max_sessions = tonumber(ARGV[5]), tonumber(ARGV[6])
local bytes, max_bytes = tonumber(ARGV[7]), tonumber(ARGV[8])
reclaim(prefix, ttl_s)
local function evict(oldest)
  forget(prefix, oldest)
  redis.call('DEL', prefix .. 's:' .. oldest)
  redis.call('HINCRBY', prefix .. 'stats', 'evicted', 1)
end
while redis.call('ZCARD', prefix .. 'lru') >= max_sessions do
  evict(redis.call('ZRANGE', prefix .. 'lru', 0, 0)[1])
end
while bytes > 0 and redis.call('ZCARD', prefix .. 'tlru') > 0 and
    tonumber(redis.call('HGET', prefix .. 'stats', 'table_bytes') or '0') + bytes > max_bytes do
  evict(redis.call('ZRANGE', prefix .. 'tlru', 0, 0)[1])
end
local key = prefix .. 's:' .. sid
redis.call('HSET', key, 'next', ARGV[3], 'data', ARGV[4])
redis.call('PEXPIRE', key, math.floor(ttl_s * 1000))
local now = now_s()
redis.call('ZADD', prefix .. 'lru', now, sid)
if bytes > 0 then
  redis.call('ZADD', prefix .. 'tlru', now, sid)
  redis.call('HSET', prefix .. 'tables', sid, bytes)
  redis.call('HINCRBY', prefix .. 'stats', 'table_bytes', bytes)
end
return 1
"""
)

# ARGV: prefix, id, applied_on, next, data, ttl_s
# -> COMMITTED, APPLIED_ELSEWHERE, GONE, or DAMAGED (the stored index is not a number)
_COMMIT = (
    _LUA_HELPERS
    + """
local prefix, sid = ARGV[1], ARGV[2]
local key = prefix .. 's:' .. sid
local current = redis.call('HGET', key, 'next')
if not current then return -1 end
if not tonumber(current) then return -2 end
if tonumber(current) ~= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', key, 'next', ARGV[4], 'data', ARGV[5])
redis.call('PEXPIRE', key, math.floor(tonumber(ARGV[6]) * 1000))
local now = now_s()
redis.call('ZADD', prefix .. 'lru', now, sid)
redis.call('ZADD', prefix .. 'tlru', 'XX', now, sid)
return 1
"""
)
COMMITTED, APPLIED_ELSEWHERE, GONE, DAMAGED = 1, 0, -1, -2
CACHE_BYTES = 32 * 2**20

# ARGV: prefix, id -> the session's data, or nil
_POP = (
    _LUA_HELPERS
    + """
local prefix, sid = ARGV[1], ARGV[2]
local key = prefix .. 's:' .. sid
local data = redis.pcall('HGET', key, 'data')  -- a damaged record is deleted all the same
if type(data) == 'table' and data.err then data = false end
redis.call('DEL', key)
forget(prefix, sid)
return data
"""
)

# ARGV: prefix, ttl_s -> live sessions
_COUNT = (
    _LUA_HELPERS
    + """
reclaim(ARGV[1], tonumber(ARGV[2]))
return redis.call('ZCARD', ARGV[1] .. 'lru')
"""
)


class RedisStore:
    def __init__(
        self,
        url: str,
        max_sessions: int,
        ttl_s: float,
        max_table_bytes: int,
        decode: Callable[[bytes], PlayerSession],
        prefix: str = "abr:",
    ) -> None:
        # a connection Redis dropped (a restart) is retried on a new one; a script whose answer
        # was lost is safe to run again: its commit then finds the chunk applied (see commit)
        self.client: Any = redis.from_url(
            url,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.02), retries=4),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
        )
        self.max_sessions, self.ttl_s, self.max_table_bytes = max_sessions, ttl_s, max_table_bytes
        self.decode, self.prefix = decode, prefix
        self._add = self.client.register_script(_ADD)
        self._commit = self.client.register_script(_COMMIT)
        self._pop = self.client.register_script(_POP)
        self._count = self.client.register_script(_COUNT)
        self._committed = CommittedBytes(CACHE_BYTES)

    async def get(self, session_id: str, latest: bool = True) -> PlayerSession | None:
        """The stored session; with `latest=False` a copy of what this process committed last
        may do (no round trip): the commit of a report applied to it checks the chunk index."""
        data = None if latest else self._committed.get(session_id)
        if data is None:
            key = self._key(session_id)
            data, stored_next = await _reach(self.client.hmget(key, "data", "next"), session_id)
            if data is None:
                return None
            session = self._decoded(session_id, data)
            if stored_next != str(session.next_index).encode():
                self._unreadable(session_id, "its chunk index and its record disagree")
            return session
        return self._decoded(session_id, data)

    async def add(self, session: PlayerSession) -> None:
        check_table_fits(session.table_bytes, self.max_table_bytes)
        data = encode_session(session)
        await self._run(
            self._add,
            [
                self.prefix,
                session.session_id,
                session.next_index,
                data,
                self.ttl_s,
                self.max_sessions,
                session.table_bytes,
                self.max_table_bytes,
            ],
            session.session_id,
        )
        self._remember(session, data)

    async def commit(self, session: PlayerSession, applied_on: int) -> bool:
        sid, data = session.session_id, encode_session(session)
        answer = int(
            await self._run(
                self._commit,
                [self.prefix, sid, applied_on, session.next_index, data, self.ttl_s],
                sid,
            )
        )
        if answer == DAMAGED:
            self._unreadable(sid, "its chunk index is not a number")
        if answer != COMMITTED:
            self._committed.forget(sid)
            return False
        self._remember(session, data)
        return True

    async def pop(self, session_id: str) -> PlayerSession | None:
        self._committed.forget(session_id)
        data = await self._run(self._pop, [self.prefix, session_id], session_id)
        return None if data is None else self._decoded(session_id, data)

    async def count(self) -> int:
        return int(await self._run(self._count, [self.prefix, self.ttl_s]))

    async def reclaimed(self) -> tuple[int, int]:
        stats = await _reach(self.client.hmget(self.prefix + "stats", "expired", "evicted"))
        return int(stats[0] or 0), int(stats[1] or 0)

    async def close(self) -> None:
        await self.client.aclose()

    def _key(self, session_id: str) -> str:
        return f"{self.prefix}s:{session_id}"

    async def _run(self, script: Any, args: list[Any], session_id: str | None = None) -> Any:
        return await _reach(script(args=args), session_id)

    def _remember(self, session: PlayerSession, data: bytes) -> None:
        if session.table_bytes == 0:  # a table may be megabytes: read those anew each time
            self._committed.put(session.session_id, data)

    def _decoded(self, session_id: str, data: bytes) -> PlayerSession:
        try:
            return self.decode(data)
        except SessionFormatError as exc:
            self._unreadable(session_id, str(exc))

    def _unreadable(self, session_id: str, reason: str) -> NoReturn:
        self._committed.forget(session_id)
        raise _unreadable(session_id, reason)


class CommittedBytes:
    """The bytes this process committed last for each session, least recently used out first,
    `max_bytes` in all."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes, self.bytes = max_bytes, 0
        self._data: OrderedDict[str, bytes] = OrderedDict()

    def get(self, session_id: str) -> bytes | None:
        data = self._data.get(session_id)
        if data is not None:
            self._data.move_to_end(session_id)
        return data

    def put(self, session_id: str, data: bytes) -> None:
        self.forget(session_id)
        self._data[session_id] = data
        self.bytes += len(data)
        while self.bytes > self.max_bytes:
            _, dropped = self._data.popitem(last=False)
            self.bytes -= len(dropped)

    def forget(self, session_id: str) -> None:
        data = self._data.pop(session_id, None)
        if data is not None:
            self.bytes -= len(data)


async def _reach(call: Awaitable[T], session_id: str | None = None) -> T:
    """A Redis call; a 503 the player may retry when Redis cannot be reached or refuses to
    write; a 409 when what it holds for `session_id` is not a session (a key of another type)."""
    try:
        return await call
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        log.warning("%s: %s; answering 503", STORE_UNREACHABLE, exc)
        raise Unavailable("", "the session store is unreachable now; retry") from None
    except ResponseError as exc:
        if session_id is not None and str(exc).startswith("WRONGTYPE"):
            raise _unreadable(session_id, "not a session record") from None
        log.warning("%s: %s; answering 503", STORE_UNREACHABLE, exc)  # e.g. OOM, read-only
        raise Unavailable("", "the session store refused the request now; retry") from None


def _unreadable(session_id: str, reason: str) -> UnreadableSession:
    """The 409 for a stored session this version cannot read, logged (once a minute)."""
    log.warning("%s: %s: %s", STORE_UNREADABLE, session_id, reason)
    return UnreadableSession(session_id, reason)
