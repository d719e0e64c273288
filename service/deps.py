"""What the routes share, and how they get it: the `Service` (settings, the decision engine, the
session store, the telemetry log, the metrics), built in the app's lifespan; `ServiceDep` for
FastAPI routes (the fast routes get it as their first argument)."""

from __future__ import annotations

import hmac
from typing import Annotated

import numpy as np
from fastapi import Depends, Request

from service.engine import Choice, Engine
from service.errors import AdminDisabled, NotAuthorized, UnknownSession
from service.metrics import ServiceMetrics
from service.sessions import PlayerSession
from service.settings import ServiceSettings
from service.store import MemoryStore, SessionStore
from service.telemetry import Telemetry
from service.workers import DecisionWorkers


class Service:
    def __init__(self, settings: ServiceSettings, store: SessionStore | None = None) -> None:
        self.settings = settings
        self.engine = Engine(settings)
        self.store = store or make_store(settings, self.engine)
        self.telemetry = Telemetry.from_settings(settings)
        self.metrics = ServiceMetrics()
        self.workers = DecisionWorkers(settings, Service) if settings.decision_workers else None
        self.metrics.model_loaded.set(1 if self.engine.model is not None else 0)

    async def session(self, session_id: str, latest: bool = True) -> PlayerSession:
        session = await self.store.get(session_id, latest)
        if session is None:
            raise UnknownSession(session_id)
        return session

    def count_levels(self, policy: str, levels: list[int], fallback: bool) -> None:
        """A decision made elsewhere (a decision worker), counted in this process's metrics."""
        self.count(Choice(np.array(levels, dtype=np.int64), policy, None, fallback))

    async def close(self) -> None:
        if self.workers is not None:
            self.workers.close()
        if self.telemetry is not None:
            self.telemetry.close()
        self.engine.close()
        await self.store.close()

    def count(self, choice: Choice) -> None:
        if len(choice.levels) == 1:  # the common case, kept cheap
            self.metrics.count_decisions(choice.policy, int(choice.levels[0]))
        else:
            for level, count in enumerate(np.bincount(choice.levels).tolist()):
                if count:
                    self.metrics.count_decisions(choice.policy, level, count)
        if choice.fallback:
            self.metrics.fallbacks.inc(len(choice.levels))


def make_store(settings: ServiceSettings, engine: Engine) -> SessionStore:
    """The store ABR_STORE names: this process's memory, or a Redis shared by processes."""
    if settings.store == "memory":
        return MemoryStore(
            settings.max_sessions, settings.session_ttl_s, max_table_bytes=settings.max_table_bytes
        )
    from service.redis_store import RedisStore  # redis is needed only where it is used

    return RedisStore(
        settings.store,
        settings.max_sessions,
        settings.session_ttl_s,
        settings.max_table_bytes,
        engine.session_from_bytes,
    )


def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


ServiceDep = Annotated[Service, Depends(get_service)]


def check_admin(settings: ServiceSettings, authorization: str | None) -> None:
    if settings.admin_token is None:
        raise AdminDisabled()
    if not is_admin(settings, authorization):
        raise NotAuthorized()


def is_admin(settings: ServiceSettings, authorization: str | None) -> bool:
    if settings.admin_token is None:
        return False
    scheme, _, token = (authorization or "").partition(" ")
    expected = settings.admin_token.encode()
    return scheme.lower() == "bearer" and hmac.compare_digest(token.encode(), expected)
