"""For operators: the policies offered, the loaded model, health, readiness and metrics."""

from __future__ import annotations

import json

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from abr.policies.onnx import OnnxModel
from abr.policies.registry import POLICIES
from service.deps import ServiceDep
from service.engine import POLICY_DESCRIPTIONS
from service.schemas import ModelInfo, PolicyInfo, Problem

router = APIRouter(tags=["operations"])


@router.get("/v1/policies")
async def policies() -> list[PolicyInfo]:
    return [
        PolicyInfo(name=name, description=text, stateless=name == "dqn" or POLICIES[name].stateless)
        for name, text in POLICY_DESCRIPTIONS.items()
    ]


@router.get("/v1/model")
async def model(service: ServiceDep) -> ModelInfo:
    engine = service.engine
    return model_info(engine.model, str(engine.model_path), engine.model_error)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up and answering."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"model": Problem}})
async def readyz(service: ServiceDep) -> JSONResponse:
    """Ready when the DQN model is loaded; 503 if not (the fallback answers meanwhile)."""
    engine = service.engine
    if engine.model is None:
        return JSONResponse(
            {
                "status": "model not loaded",
                "detail": engine.model_error,
                "fallback": engine.fallback_name,
            },
            status_code=503,
        )
    return JSONResponse({"status": "ready", "model_version": engine.model_version})


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(service: ServiceDep) -> PlainTextResponse:
    store = service.store
    service.metrics.active_sessions.set(await store.count())  # expired ones reclaimed first
    expired, evicted = await store.reclaimed()
    service.metrics.sessions_reclaimed.labels("ttl").set(expired)
    service.metrics.sessions_reclaimed.labels("limit").set(evicted)
    body = generate_latest(service.metrics.registry)
    return PlainTextResponse(body, media_type=CONTENT_TYPE_LATEST)


def model_info(loaded: OnnxModel | None, path: str, error: str | None) -> ModelInfo:
    metadata = json.loads(loaded.metadata.to_json()) if loaded is not None else None
    return ModelInfo(
        loaded=loaded is not None,
        path=path,
        version=loaded.metadata.version if loaded is not None else None,
        error=error,
        providers=loaded.providers if loaded is not None else [],
        metadata=metadata,
    )
