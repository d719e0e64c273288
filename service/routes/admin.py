"""Administration, behind a bearer token: swapping the model in without a restart."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Header, Request

from abr.policies.model_meta import ModelError
from service.deps import ServiceDep, check_admin
from service.errors import InvalidField
from service.fastpath import parse, ref
from service.log import log
from service.routes.operations import model_info
from service.schemas import ModelInfo, Problem, ReloadRequest

router = APIRouter(tags=["admin"])


@router.post(
    "/v1/admin/reload",
    responses={401: {"model": Problem}, 403: {"model": Problem}, 422: {"model": Problem}},
    openapi_extra={"requestBody": {"required": False, **ref(ReloadRequest)}},
)
async def reload(
    request: Request,
    service: ServiceDep,
    authorization: str | None = Header(None, description="Bearer <admin token>"),
) -> ModelInfo:
    """Load a model (the configured one by default, or a file in the model folder) and swap it
    in atomically, decision workers included; on any error the old model keeps serving and the
    answer says what was wrong."""
    check_admin(service.settings, authorization)
    raw = await request.body()
    body = parse(raw, ReloadRequest) if raw.strip() else None
    engine = service.engine
    try:  # reading and checking a model takes long: off the event loop, then one swap on it
        loaded = await asyncio.to_thread(engine.load_requested, body.path if body else None)
    except ModelError as exc:
        service.metrics.reloads.labels("failed").inc()
        serving = engine.model_path if engine.model is not None else engine.fallback_name
        log.warning("reload refused: %s; %s goes on serving", exc, serving)
        raise InvalidField("path", str(exc)) from None
    engine.swap(loaded)
    service.metrics.reloads.labels("ok").inc()
    service.metrics.model_loaded.set(1)
    return model_info(loaded.model, str(loaded.path), None, full=True)
