"""Administration, behind a bearer token: swapping the model in without a restart."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Header, Request

from abr.policies.model_meta import ModelError
from service.deps import ServiceDep
from service.errors import AdminDisabled, InvalidField, NotAuthorized
from service.fastpath import parse, ref
from service.routes.operations import model_info
from service.schemas import ModelInfo, Problem, ReloadRequest
from service.settings import ServiceSettings

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
    """Load a model (the configured one by default) and swap it in atomically; on any error
    the old model keeps serving and the answer says what was wrong."""
    check_admin(service.settings, authorization)
    raw = await request.body()
    body = parse(raw, ReloadRequest) if raw.strip() else None
    try:
        loaded = service.engine.reload(body.path if body else None)
    except ModelError as exc:
        service.metrics.reloads.labels("failed").inc()
        raise InvalidField("path", str(exc)) from None
    service.metrics.reloads.labels("ok").inc()
    service.metrics.model_loaded.set(1)
    return model_info(loaded, str(loaded.path), None)


def check_admin(settings: ServiceSettings, authorization: str | None) -> None:
    if settings.admin_token is None:
        raise AdminDisabled()
    scheme, _, token = (authorization or "").partition(" ")
    expected = settings.admin_token.encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected):
        raise NotAuthorized()
