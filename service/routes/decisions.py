"""Decisions without a session: the player sends its own history (one, many, or in columns).
Plain functions: they run in a decision worker, away from the event loop (service/workers.py)."""

from __future__ import annotations

from service.deps import Service
from service.engine import Choice
from service.fastpath import FastRouter
from service.schemas import (
    BatchDecideRequest,
    BatchDecision,
    ColumnsDecideRequest,
    DecideRequest,
    Decision,
)

fast = FastRouter("stateless")


@fast.post("/v1/decide")
def decide(service: Service, body: DecideRequest) -> Decision:
    """One decision from the player's own history (no session)."""
    choice = service.engine.decide_stateless(body, body.policy, [body])
    service.count(choice)
    level = int(choice.levels[0])
    return Decision(
        level=level,
        bitrate_kbps=float(body.ladder_kbps[level]),
        policy=choice.policy,
        model_version=choice.model_version,
        fallback=choice.fallback,
    )


@fast.post("/v1/decide/batch")
def decide_batch(service: Service, body: BatchDecideRequest) -> BatchDecision:
    """Many players of one video at once: one model call for all of them."""
    choice = service.engine.decide_stateless(body, body.policy, body.players)
    service.count(choice)
    return _batch_decision(choice, body.ladder_kbps)


@fast.post("/v1/decide/columns")
def decide_columns(service: Service, body: ColumnsDecideRequest) -> BatchDecision:
    """Many players of one video at once, one array per field: the fastest batch form."""
    choice = service.engine.decide_columns(body)
    service.count(choice)
    return _batch_decision(choice, body.ladder_kbps)


def _batch_decision(choice: Choice, ladder_kbps: list[float]) -> BatchDecision:
    levels = choice.levels.tolist()
    return BatchDecision(
        levels=levels,
        bitrates_kbps=[float(ladder_kbps[level]) for level in levels],
        policy=choice.policy,
        model_version=choice.model_version,
        fallback=choice.fallback,
    )
