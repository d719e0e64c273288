"""Sessions in Redis (`ABR_STORE=redis://host:port/db`), shared by every worker of every replica.

Each session is one hash, `<prefix>s:<id>` = {next: the chunk index it expects, data: the
encoded session (service/codec.py)}, expiring `session_ttl_s` after its last write; a sorted set
`<prefix>lru` orders the sessions by last use (Redis's own clock), so that a new session past
`max_sessions`, or past `max_table_bytes` of uploaded size tables, evicts the least recently used
ones, as the memory store does. Every change is one Lua script, atomic in Redis: a chunk report is
committed only if the stored session still expects the chunk the report was applied to, so two
replicas can never both apply the same chunk.

The scripts touch keys they compute from the prefix, so this store needs one Redis, not a
Redis Cluster.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from service.codec import encode_session
from service.errors import Unavailable
from service.log import STORE_UNREACHABLE, log
from service.sessions import PlayerSession

T = TypeVar("T")

# shared by the scripts: forget(prefix, id) drops a session from the LRU set and the table budget;
# now_s() is Redis's clock; reclaim(prefix, ttl_s) drops the sessions idle past the TTL
_LUA_HELPERS = """
local function forget(prefix, sid)
  redis.call('ZREM', prefix .. 'lru', sid)
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
while true do
  local n = redis.call('ZCARD', prefix .. 'lru')
  local total = tonumber(redis.call('HGET', prefix .. 'stats', 'table_bytes') or '0')
  if n == 0 or (n < max_sessions and total + bytes <= max_bytes) then break end
  local oldest = redis.call('ZRANGE', prefix .. 'lru', 0, 0)[1]
  forget(prefix, oldest)
  redis.call('DEL', prefix .. 's:' .. oldest)
  redis.call('HINCRBY', prefix .. 'stats', 'evicted', 1)
end
local key = prefix .. 's:' .. sid
redis.call('HSET', key, 'next', ARGV[3], 'data', ARGV[4])
redis.call('PEXPIRE', key, math.floor(ttl_s * 1000))
redis.call('ZADD', prefix .. 'lru', now_s(), sid)
if bytes > 0 then
  redis.call('HSET', prefix .. 'tables', sid, bytes)
  redis.call('HINCRBY', prefix .. 'stats', 'table_bytes', bytes)
end
return 1
"""
)

# ARGV: prefix, id, applied_on, next, data, ttl_s -> 1 committed, 0 applied elsewhere, -1 gone
_COMMIT = (
    _LUA_HELPERS
    + """
local prefix, sid = ARGV[1], ARGV[2]
local key = prefix .. 's:' .. sid
local current = redis.call('HGET', key, 'next')
if not current then return -1 end
if tonumber(current) ~= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', key, 'next', ARGV[4], 'data', ARGV[5])
redis.call('PEXPIRE', key, math.floor(tonumber(ARGV[6]) * 1000))
redis.call('ZADD', prefix .. 'lru', now_s(), sid)
return 1
"""
)

# ARGV: prefix, id -> the session's data, or nil
_POP = (
    _LUA_HELPERS
    + """
local prefix, sid = ARGV[1], ARGV[2]
local key = prefix .. 's:' .. sid
local data = redis.call('HGET', key, 'data')
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

    async def get(self, session_id: str) -> PlayerSession | None:
        data = await _reach(self.client.hget(self._key(session_id), "data"))
        return None if data is None else self.decode(data)

    async def add(self, session: PlayerSession) -> None:
        await self._run(
            self._add,
            args=[
                self.prefix,
                session.session_id,
                session.next_index,
                encode_session(session),
                self.ttl_s,
                self.max_sessions,
                session.table_bytes,
                self.max_table_bytes,
            ],
        )

    async def commit(self, session: PlayerSession, applied_on: int) -> bool:
        answer = await self._run(
            self._commit,
            [
                self.prefix,
                session.session_id,
                applied_on,
                session.next_index,
                encode_session(session),
                self.ttl_s,
            ],
        )
        return int(answer) == 1

    async def pop(self, session_id: str) -> PlayerSession | None:
        data = await self._run(self._pop, [self.prefix, session_id])
        return None if data is None else self.decode(data)

    async def count(self) -> int:
        return int(await self._run(self._count, [self.prefix, self.ttl_s]))

    async def reclaimed(self) -> tuple[int, int]:
        stats = await _reach(self.client.hmget(self.prefix + "stats", "expired", "evicted"))
        return int(stats[0] or 0), int(stats[1] or 0)

    async def close(self) -> None:
        await self.client.aclose()

    def _key(self, session_id: str) -> str:
        return f"{self.prefix}s:{session_id}"

    async def _run(self, script: Any, args: list[Any]) -> Any:
        return await _reach(script(args=args))


async def _reach(call: Awaitable[T]) -> T:
    """A Redis call; a 503 the player may retry when Redis cannot be reached."""
    try:
        return await call
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        log.warning("%s: %s; answering 503", STORE_UNREACHABLE, exc)
        raise Unavailable(
            "", f"the session store (Redis) is unreachable now ({exc}); retry"
        ) from None
