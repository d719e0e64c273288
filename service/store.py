"""Where sessions live. `SessionStore` is the interface; `MemoryStore` keeps them in this
process, `RedisStore` (service/redis_store.py) in Redis, shared by workers and replicas.

Memory stays bounded: a session idle for longer than the TTL is gone (reclaimed as later requests
arrive), and at `max_sessions` a new session evicts the least recently used one. A new session
whose uploaded size table would take the tables over `max_table_bytes` evicts the least recently
used sessions *that hold a table* (the others free nothing, so they stay); a table larger than
the whole budget is refused with a 413 that says so. An evicted or expired session answers 404,
and its player starts a new one. Evictions and expiries are counted.

A chunk report is applied by reading the session, applying the report to that copy and
committing it back with the index it was applied on top of (`commit`): a store shared by
replicas refuses the commit when another writer applied a report there first, so no chunk is
ever applied twice.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from service.errors import TooLarge
from service.sessions import PlayerSession


class SessionStore(Protocol):
    async def get(self, session_id: str, latest: bool = True) -> PlayerSession | None:
        """The session, None if unknown or expired. `latest=False`: a copy of what this process
        committed last may do (a report's commit checks that it was the latest)."""
        ...

    async def add(self, session: PlayerSession) -> None: ...

    async def commit(self, session: PlayerSession, applied_on: int) -> bool:
        """Save `session` after a report applied on top of chunk index `applied_on`; False when
        the stored session no longer stands there (another writer applied it, or it is gone)."""
        ...

    async def pop(self, session_id: str) -> PlayerSession | None: ...

    async def count(self) -> int: ...

    async def reclaimed(self) -> tuple[int, int]:
        """(expired, evicted) sessions so far."""
        ...

    async def close(self) -> None: ...


class MemoryStore:
    def __init__(
        self,
        max_sessions: int,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
        max_table_bytes: int | None = None,
    ) -> None:
        self.max_sessions, self.ttl_s, self.clock = max_sessions, ttl_s, clock
        self.max_table_bytes = max_table_bytes
        self.table_bytes = 0  # the uploaded size tables of the sessions kept
        self._sessions: OrderedDict[str, tuple[PlayerSession, float]] = OrderedDict()  # LRU first
        self._tables: OrderedDict[str, int] = OrderedDict()  # table bytes of those with one
        self.evicted = 0
        self.expired = 0

    async def get(self, session_id: str, latest: bool = True) -> PlayerSession | None:
        """The session (the stored object itself, always the latest), marked as just used;
        None if unknown or expired."""
        now = self.clock()
        self.reclaim(now)
        entry = self._sessions.get(session_id)
        if entry is None:
            return None
        self._sessions[session_id] = (entry[0], now)
        self._sessions.move_to_end(session_id)
        if session_id in self._tables:
            self._tables.move_to_end(session_id)
        return entry[0]

    async def add(self, session: PlayerSession) -> None:
        now = self.clock()
        self.reclaim(now)
        sid, table_bytes = session.session_id, session.table_bytes
        if sid not in self._sessions:
            check_table_fits(table_bytes, self.max_table_bytes)
            while self._sessions and len(self._sessions) >= self.max_sessions:
                self._drop(next(iter(self._sessions)))
                self.evicted += 1
            while self._tables and self._over_table_budget(table_bytes):
                self._drop(next(iter(self._tables)))
                self.evicted += 1
            self.table_bytes += table_bytes
            if table_bytes:
                self._tables[sid] = table_bytes
        self._sessions[sid] = (session, now)
        self._sessions.move_to_end(sid)

    async def commit(self, session: PlayerSession, applied_on: int) -> bool:
        # `get` handed out the stored object, which the report changed in place; one process
        # orders its own reports (the engine checks the index before its first wait)
        return session.session_id in self._sessions

    async def pop(self, session_id: str) -> PlayerSession | None:
        self.reclaim(self.clock())
        entry = self._sessions.get(session_id)
        if entry is None:
            return None
        pending = entry[0].pending
        if pending is not None:  # a report being applied ends in the summary, as it is answered
            await asyncio.shield(pending)
        return self._drop(session_id) if session_id in self._sessions else None

    async def count(self) -> int:
        self.reclaim(self.clock())
        return len(self._sessions)

    async def reclaimed(self) -> tuple[int, int]:
        return self.expired, self.evicted

    async def close(self) -> None:
        return None

    def __len__(self) -> int:
        return len(self._sessions)

    def reclaim(self, now: float) -> None:
        """Drop expired sessions; the least recently used are first, so this stops early."""
        while self._sessions:
            _, (_, used_s) = next(iter(self._sessions.items()))
            if now - used_s <= self.ttl_s:
                return
            self._drop(next(iter(self._sessions)))
            self.expired += 1

    def _over_table_budget(self, table_bytes: int) -> bool:
        budget = self.max_table_bytes
        return budget is not None and self.table_bytes + table_bytes > budget

    def _drop(self, session_id: str) -> PlayerSession:
        session, _ = self._sessions.pop(session_id)
        self.table_bytes -= self._tables.pop(session_id, 0)
        return session


def check_table_fits(table_bytes: int, max_table_bytes: int | None) -> None:
    """A 413 for a size table that alone is over every session's tables' budget."""
    if max_table_bytes is not None and table_bytes > max_table_bytes:
        raise TooLarge(
            "chunk_sizes_bytes",
            f"the size table takes {table_bytes / 2**20:.1f} MiB here, over the "
            f"{max_table_bytes / 2**20:.1f} MiB the service keeps for all sessions' tables "
            "(ABR_MAX_TABLE_BYTES); start the session without chunk_sizes_bytes",
        )
