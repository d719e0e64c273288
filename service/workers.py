"""Stateless decisions in worker processes of their own, at a lower CPU priority, so that one
client's heavy requests (the largest batches, RobustMPC on the largest ladders) cannot stall the
event loop that serves every other player.

A fast route declared with a plain `def` (not `async def`) runs here: the event loop hands the
request's raw body to a worker and awaits the answer's JSON, so the body is parsed, decided and
serialised away from it. A worker has its own `Service` (model, fallback); each request carries
the digest of the model the server serves and a private copy of its bytes, and a worker whose
model differs loads that copy first (or answers 503): one model version everywhere, whatever
happens to the user's file after a reload. With `ABR_DECISION_WORKERS=0` the same handlers run
on the event loop instead.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from service.engine import ServedModel
from service.errors import RequestError, Unavailable, status_of
from service.schemas import BatchDecision, Decision
from service.settings import ServiceSettings

# (status, JSON body, the decision's (policy, levels, fallback) for the server's metrics)
Outcome = tuple[int, bytes, tuple[str, list[int], bool] | None]

_service: Any = None  # the worker's own Service


class DecisionWorkers:
    """`decision_workers` worker processes (spawned, niced), started on first use."""

    def __init__(self, settings: ServiceSettings, make_service: Callable[[ServiceSettings], Any]):
        """`make_service`: what each worker builds its own service with (the app's `Service`,
        handed in rather than imported, so this module does not import the one that uses it)."""
        self.settings, self.make_service = settings, make_service
        self._pool: ProcessPoolExecutor | None = None

    async def run(
        self,
        handler: Callable[..., BaseModel],
        body: Any,
        raw: bytes,
        params: dict[str, str],
        model: ServedModel | None,
    ) -> Outcome:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._executor(), _decide, handler, body, raw, params, model
            )
        except BrokenProcessPool:  # a worker died: start afresh for the next request
            self.close(wait=False)
            raise Unavailable("", "the decision worker stopped; retry the request") from None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.settings.decision_workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(
                    self.make_service,
                    self.settings.model_dump(mode="json"),
                    self.settings.decision_nice,
                ),
            )
        return self._pool

    def close(self, wait: bool = True) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool = None


def _start_worker(
    make_service: Callable[[ServiceSettings], Any], settings: dict[str, Any], nice: int
) -> None:
    os.nice(nice)
    _exit_with_the_server(os.getppid())
    global _service
    _service = make_service(ServiceSettings(**{**settings, "decision_workers": 0}))


def _exit_with_the_server(server_pid: int) -> None:
    """A worker outlives no server, however the server ends (a SIGKILL runs no shutdown)."""

    def watch() -> None:
        while os.getppid() == server_pid:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="abr-server-watch", daemon=True).start()


def _decide(
    handler: Callable[..., BaseModel],
    body: Any,
    raw: bytes,
    params: dict[str, str],
    model: ServedModel | None,
) -> Outcome:
    """In a worker: parse, decide and serialise one request; errors become their status."""
    from service.fastpath import parse, validation_detail

    try:
        _service.engine.follow(model)
        answer = (
            handler(_service, body=parse(raw, body), **params)
            if body
            else handler(_service, **params)
        )
    except RequestError as exc:
        return status_of(exc), _detail(str(exc)), None
    except RequestValidationError as exc:
        return 422, _detail(validation_detail(exc.errors())), None
    return 200, answer.model_dump_json().encode(), _decision_of(answer)


def _detail(message: str) -> bytes:
    import json

    return json.dumps({"detail": message}).encode()


def _decision_of(answer: BaseModel) -> tuple[str, list[int], bool] | None:
    """What the server's metrics count of an answer: its policy, levels and fallback."""
    if isinstance(answer, BatchDecision):
        return answer.policy, answer.levels, answer.fallback
    if isinstance(answer, Decision) and answer.level is not None:
        return answer.policy, [answer.level], answer.fallback
    return None
