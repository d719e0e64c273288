"""A player's session: start, a report per chunk (the answer is the next level), its log, end."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter

from service.deps import Service, ServiceDep
from service.engine import Choice
from service.errors import OutOfOrder, UnknownSession
from service.fastpath import ERRORS, FastRouter
from service.schemas import (
    ChunkDecision,
    ChunkReport,
    SessionLog,
    SessionStart,
    SessionStarted,
    SessionSummaryOut,
)
from service.sessions import PlayerSession, Report

fast = FastRouter("sessions")
router = APIRouter(tags=["sessions"])


@fast.post("/v1/sessions", status=201)
async def start_session(service: Service, body: SessionStart) -> SessionStarted:
    """Start a session for one player and video; the answer holds the first chunk's level."""
    session, choice = service.engine.new_session(body, body.policy, body.qoe)
    await service.store.add(session)
    service.count(choice)
    level = int(choice.levels[0])
    return SessionStarted(
        session_id=session.session_id,
        level=level,
        bitrate_kbps=float(session.video.bitrates_kbps[level]),
        policy=choice.policy,
        model_version=choice.model_version,
        fallback=choice.fallback,
        chunk_index=0,
    )


@fast.post("/v1/sessions/{session_id}/chunks")
async def report_chunk(service: Service, session_id: str, body: ChunkReport) -> ChunkDecision:
    """Report the chunk just downloaded; the answer is the next level (null at the end). A retry
    of the last report applied gets the same answer again."""
    report: Report = (
        body.index,
        body.level,
        body.size_bytes,
        body.download_s,
        body.buffer_s,
        body.rebuffer_s,
    )
    session = await service.session(session_id, latest=False)
    try:
        answered = await _earlier_answer(service, session, report)
    except OutOfOrder:  # this process's copy may be behind another replica's: ask the store
        session = await service.session(session_id)
        answered = await _earlier_answer(service, session, report)
    if answered is not None:
        return answered
    applied_on, previous_at_s = session.next_index, session.reported_at_s
    pending = session.pending = asyncio.get_running_loop().create_future()
    try:
        choice = await service.engine.apply_report(session, report)
        session.reported_at_s = time.time()
        answer = _decision(session, choice)
        session.last_answer = answer.model_dump()
        committed = await service.store.commit(session, applied_on)
    finally:  # waiters get the answer, or None (and are told to retry) when it failed
        session.pending = None
        pending.set_result(session.last_answer)
    if not committed:
        return await _settled(service, session_id, report)
    if choice is not None:
        service.count(choice)
    telemetry = service.telemetry
    if telemetry is not None and not telemetry.record(
        session_id, report, session.reported_at_s, previous_at_s
    ):
        service.metrics.telemetry_failures.inc()
    return answer


async def _earlier_answer(
    service: Service, session: PlayerSession, report: Report
) -> ChunkDecision | None:
    """The answer an identical retry of the last report applied gets again (after waiting for
    it, if it is being made); None for a report the session expects (checked: a 409 or 422
    otherwise)."""
    pending = session.pending
    if pending is not None and report == session.last_report:
        await asyncio.shield(pending)
    answered = service.engine.answered_before(session, report)
    if answered is None:
        service.engine.check_report(session, report)
        return None
    service.metrics.retried_reports.inc()
    return ChunkDecision.model_validate(answered)


def _decision(session: PlayerSession, choice: Choice | None) -> ChunkDecision:
    if choice is None:
        return ChunkDecision(
            level=None,
            bitrate_kbps=None,
            policy=session.policy_name,
            model_version=None,
            fallback=False,
            chunk_index=None,
            done=True,
        )
    level = int(choice.levels[0])
    return ChunkDecision(
        level=level,
        bitrate_kbps=float(session.video.bitrates_kbps[level]),
        policy=choice.policy,
        model_version=choice.model_version,
        fallback=choice.fallback,
        chunk_index=session.next_index,
        done=False,
    )


async def _settled(service: Service, session_id: str, report: Report) -> ChunkDecision:
    """Another worker or replica applied a report for this chunk first: its answer if the
    report was this one (a retry that raced the original), else a 409."""
    session = await service.session(session_id)
    answered = await _earlier_answer(service, session, report)
    if answered is None:
        raise OutOfOrder("index", f"expected chunk {session.next_index}, got {report[0]}")
    return answered


# GET on the same path (the session's log, below) is a FastAPI route: shared
@fast.delete("/v1/sessions/{session_id}", shared=True)
async def end_session(service: Service, session_id: str) -> SessionSummaryOut:
    """End the session; the answer is its QoE summary (chunks 2..N, as the benchmark scores)."""
    session = await service.store.pop(session_id)
    if session is None:
        raise UnknownSession(session_id)
    return SessionSummaryOut.model_validate(session.summary())


@router.get("/v1/sessions/{session_id}", responses=ERRORS)
async def session_log(session_id: str, service: ServiceDep) -> SessionLog:
    """The session so far: its QoE summary and the level of every chunk it reported."""
    session = await service.session(session_id)
    return SessionLog.model_validate(
        {**session.summary(), "levels": session.levels, "rebuffer_s_by_chunk": session.rebuffer_s}
    )
