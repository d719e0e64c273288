"""Where sessions live. `SessionStore` is the interface a shared store (e.g. Redis) would
implement; `MemoryStore` keeps them in this process.

Memory stays bounded: a session idle for longer than the TTL is gone (reclaimed as later requests
arrive), and at `max_sessions` a new session evicts the least recently used one. An evicted or
expired session answers 404, and its player starts a new one. Evictions and expiries are counted.
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
    ) -> None:
        self.max_sessions, self.ttl_s, self.clock = max_sessions, ttl_s, clock
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
            while len(self._sessions) >= self.max_sessions:
                self._sessions.popitem(last=False)
                self.evicted += 1
        self._sessions[session.session_id] = (session, now)
        self._sessions.move_to_end(session.session_id)

    def pop(self, session_id: str) -> PlayerSession | None:
        self.reclaim(self.clock())
        entry = self._sessions.pop(session_id, None)
        return entry[0] if entry is not None else None

    def __len__(self) -> int:
        return len(self._sessions)

    def reclaim(self, now: float) -> None:
        """Drop expired sessions; the least recently used are first, so this stops early."""
        while self._sessions:
            _, (_, used_s) = next(iter(self._sessions.items()))
            if now - used_s <= self.ttl_s:
                return
            self._sessions.popitem(last=False)
            self.expired += 1
