"""Where sessions live. `SessionStore` is the interface a shared store (e.g. Redis) would
implement; `MemoryStore` keeps them in this process.

Memory stays bounded: a session idle for longer than the TTL is gone (reclaimed as later requests
arrive), and at `max_sessions` a new session evicts the least recently used one; so does a new
session whose uploaded size table would take the sessions' tables over `max_table_bytes`. An
evicted or expired session answers 404, and its player starts a new one. Evictions and expiries
are counted.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from service.sessions import PlayerSession


class SessionStore(Protocol):
    def get(self, session_id: str) -> PlayerSession | None: ...

    def put(self, session: PlayerSession) -> None: ...

    def pop(self, session_id: str) -> PlayerSession | None: ...

    def __len__(self) -> int: ...


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
        self.evicted = 0
        self.expired = 0

    def get(self, session_id: str) -> PlayerSession | None:
        """The session, marked as just used; None if unknown or expired."""
        now = self.clock()
        self.reclaim(now)
        entry = self._sessions.get(session_id)
        if entry is None:
            return None
        self._sessions[session_id] = (entry[0], now)
        self._sessions.move_to_end(session_id)
        return entry[0]

    def put(self, session: PlayerSession) -> None:
        now = self.clock()
        self.reclaim(now)
        if session.session_id not in self._sessions:
            while self._sessions and (
                len(self._sessions) >= self.max_sessions or self._over_table_budget(session)
            ):
                self._drop_oldest()
                self.evicted += 1
            self.table_bytes += session.table_bytes
        self._sessions[session.session_id] = (session, now)
        self._sessions.move_to_end(session.session_id)

    def pop(self, session_id: str) -> PlayerSession | None:
        self.reclaim(self.clock())
        entry = self._sessions.pop(session_id, None)
        if entry is None:
            return None
        self.table_bytes -= entry[0].table_bytes
        return entry[0]

    def __len__(self) -> int:
        return len(self._sessions)

    def reclaim(self, now: float) -> None:
        """Drop expired sessions; the least recently used are first, so this stops early."""
        while self._sessions:
            _, (_, used_s) = next(iter(self._sessions.items()))
            if now - used_s <= self.ttl_s:
                return
            self._drop_oldest()
            self.expired += 1

    def _over_table_budget(self, session: PlayerSession) -> bool:
        budget = self.max_table_bytes
        return budget is not None and self.table_bytes + session.table_bytes > budget

    def _drop_oldest(self) -> None:
        _, (session, _) = self._sessions.popitem(last=False)
        self.table_bytes -= session.table_bytes
