"""For operators: the policies offered, the loaded model, health, readiness and metrics."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from abr.policies.onnx import OnnxModel
from abr.policies.registry import POLICIES
from service.deps import ServiceDep, is_admin
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
async def model(
    service: ServiceDep,
    authorization: str | None = Header(None, description="Bearer <admin token>: the full answer"),
) -> ModelInfo:
    """The loaded model: its version and what it decides for. With the admin token, also the
    file and how it was trained (paths of this host: not for anonymous clients)."""
    engine = service.engine
    full = is_admin(service.settings, authorization)
    return model_info(engine.model, str(engine.model_path), engine.model_error, full)


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
                "detail": _public(engine.model_error, engine.model_path),
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


# what anonymous clients are not shown of a model's metadata: this host's paths and the recipe
PRIVATE_METADATA = ("train_config", "train_traces")


def model_info(loaded: OnnxModel | None, path: str, error: str | None, full: bool) -> ModelInfo:
    metadata = json.loads(loaded.metadata.to_json()) if loaded is not None else None
    if not full:
        path_given = Path(path)
        path, error = path_given.name, _public(error, path_given)
        if metadata is not None:
            metadata = {k: v for k, v in metadata.items() if k not in PRIVATE_METADATA}
            metadata["ensemble_members"] = [
                {k: v for k, v in member.items() if k != "checkpoint"}
                for member in metadata.get("ensemble_members", [])
            ]
    return ModelInfo(
        loaded=loaded is not None,
        path=path,
        version=loaded.metadata.version if loaded is not None else None,
        error=error,
        providers=loaded.providers if loaded is not None else [],
        metadata=metadata,
    )


def _public(error: str | None, path: Path) -> str | None:
    """A load error with the model's folder left out."""
    return None if error is None else error.replace(str(path), path.name)
