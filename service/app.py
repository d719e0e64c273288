"""The decision service: `create_app(settings)` builds the FastAPI app. See the README's HTTP API
section for the endpoints; the OpenAPI page is at /docs."""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

import abr
from abr.model_meta import ModelError
from abr.onnx_policy import OnnxModel
from service.engine import (
    POLICY_DESCRIPTIONS,
    SESSION_ONLY_POLICIES,
    Choice,
    ClientError,
    Engine,
    PlayerSession,
)
from service.hot_routes import (
    ERRORS,
    ASGIApp,
    HotRoutes,
    Receive,
    Scope,
    Send,
    ServiceGate,
    parse,
    ref,
    validation_detail,
)
from service.metrics import ServiceMetrics
from service.schemas import (
    BatchDecideRequest,
    BatchDecision,
    ChunkDecision,
    ChunkReport,
    ColumnsDecideRequest,
    DecideRequest,
    Decision,
    ModelInfo,
    PolicyInfo,
    Problem,
    ReloadRequest,
    SessionStart,
    SessionStarted,
    SessionSummaryOut,
)
from service.settings import ServiceSettings
from service.store import MemoryStore, SessionStore


class Service:
    """What the routes share: settings, engine (model + decisions), session store, metrics."""

    def __init__(self, settings: ServiceSettings, store: SessionStore | None = None) -> None:
        self.settings = settings
        self.engine = Engine(settings)
        self.store = store or MemoryStore(settings.max_sessions, settings.session_ttl_s)
        self.metrics = ServiceMetrics()
        self.metrics.model_loaded.set(1 if self.engine.model is not None else 0)

    def count(self, choice: Choice) -> None:
        if len(choice.levels) == 1:  # the common case, kept cheap
            self.metrics.count_decisions(choice.policy, int(choice.levels[0]))
        else:
            for level, count in enumerate(np.bincount(choice.levels).tolist()):
                if count:
                    self.metrics.count_decisions(choice.policy, level, count)
        if choice.fallback:
            self.metrics.fallbacks.inc(len(choice.levels))


def create_app(
    settings: ServiceSettings | None = None, store: SessionStore | None = None
) -> FastAPI:
    settings = settings or ServiceSettings.from_environment()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.service = Service(settings, store)  # the model is loaded here
        yield

    app = ServiceApp(
        title="abr decision service",
        version=abr.__version__,
        description="Chooses the bitrate of each next video chunk for streaming players.",
        lifespan=lifespan,
        # our metrics are Prometheus (/metrics); FastAPI's OpenTelemetry hooks only cost time here
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    hot = app.state.hot_routes = HotRoutes()
    front: ASGIApp = ServiceGate(app.fastapi, settings.max_body_bytes, hot)
    if settings.cors_origins:
        front = CORSMiddleware(
            front,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Content-Type", "Authorization"],
        )
    app.front = front
    _add_error_handlers(app)
    _add_session_routes(app, hot)
    _add_stateless_routes(hot)
    _add_operations_routes(app)
    if settings.demo:
        _add_demo_routes(app, settings)
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    return app


class ServiceApp(FastAPI):
    """FastAPI behind our front: `ServiceGate` (and CORS when configured) see every request
    first, outside FastAPI's own middleware, which the hot routes do not need."""

    front: ASGIApp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        await self.front(scope, receive, send)

    async def fastapi(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


# -------------------------------------------------------------------- sessions
def _add_session_routes(app: FastAPI, hot: HotRoutes) -> None:
    async def start_session(service: Service, raw: bytes, params: dict[str, str]) -> SessionStarted:
        """Start a session for one player and video; the answer holds the first chunk's level."""
        body = parse(raw, SessionStart)
        session, choice = service.engine.new_session(body, body.policy, body.qoe)
        service.store.put(session)
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

    async def report_chunk(service: Service, raw: bytes, params: dict[str, str]) -> ChunkDecision:
        """Report the chunk just downloaded; the answer is the next level (null at the end)."""
        body = parse(raw, ChunkReport)
        session = _session(service, params["session_id"])
        service.engine.check_report(session, body.index, body.level)
        choice = await service.engine.apply_report(
            session, body.level, body.size_bytes, body.download_s, body.buffer_s, body.rebuffer_s
        )
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
        service.count(choice)
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

    hot.add("/v1/sessions", start_session, SessionStart, SessionStarted, "sessions", 201)
    hot.add(
        "/v1/sessions/{session_id}/chunks",
        report_chunk,
        ChunkReport,
        ChunkDecision,
        "sessions",
    )

    @app.get("/v1/sessions/{session_id}", responses=ERRORS, tags=["sessions"])
    async def session_log(session_id: str, request: Request) -> dict[str, object]:
        """The session so far: its QoE summary and the level of every chunk it reported."""
        session = _session(_service(request), session_id)
        return {
            **session.summary(),
            "levels": session.levels,
            "rebuffer_s_by_chunk": session.rebuffer_s,
        }

    async def end_session(
        service: Service, raw: bytes, params: dict[str, str]
    ) -> SessionSummaryOut:
        """End the session; the answer is its QoE summary (chunks 2..N, as the benchmark scores)."""
        session = service.store.pop(params["session_id"])
        if session is None:
            raise ClientError(404, f"session_id: {params['session_id']!r} is unknown or expired")
        return SessionSummaryOut(**session.summary())  # type: ignore[arg-type]

    # GET on the same path (the session's log, below) stays a FastAPI route
    hot.add(
        "/v1/sessions/{session_id}",
        end_session,
        None,
        SessionSummaryOut,
        "sessions",
        method="DELETE",
        shared=True,
    )


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """FastAPI's schema, plus the hot routes (served by `ServiceGate`, not by FastAPI)."""

    def schema() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            components = document.setdefault("components", {}).setdefault("schemas", {})
            hot: HotRoutes = app.state.hot_routes
            models: list[type[BaseModel]] = [*hot.models, Problem, ReloadRequest]
            for model in models:
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(schema.pop("$defs", {}))
                components[model.__name__] = schema
            for path, operations in hot.operations.items():
                document["paths"].setdefault(path, {}).update(operations)
            for operation in (op for item in document["paths"].values() for op in item.values()):
                if "422" in operation.get("responses", {}):  # ours: a string that names the field
                    operation["responses"]["422"] = {
                        "description": ERRORS[422]["description"],
                        **ref(Problem),
                    }
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
            app.openapi_schema = document
        return app.openapi_schema

    return schema


def _session(service: Service, session_id: str) -> PlayerSession:
    session = service.store.get(session_id)
    if session is None:
        raise ClientError(404, f"session_id: {session_id!r} is unknown or expired")
    return session


# -------------------------------------------------------------------- stateless
def _add_stateless_routes(hot: HotRoutes) -> None:
    async def decide(service: Service, raw: bytes, params: dict[str, str]) -> Decision:
        """One decision from the player's own history (no session)."""
        body = parse(raw, DecideRequest)
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

    async def decide_batch(service: Service, raw: bytes, params: dict[str, str]) -> BatchDecision:
        """Many players of one video at once: one model call for all of them."""
        body = parse(raw, BatchDecideRequest)
        choice = service.engine.decide_stateless(body, body.policy, body.players)
        service.count(choice)
        return _batch_decision(choice, body.ladder_kbps)

    async def decide_columns(service: Service, raw: bytes, params: dict[str, str]) -> BatchDecision:
        """Many players of one video at once, one array per field: the fastest batch form."""
        body = parse(raw, ColumnsDecideRequest)
        choice = service.engine.decide_columns(body)
        service.count(choice)
        return _batch_decision(choice, body.ladder_kbps)

    hot.add("/v1/decide", decide, DecideRequest, Decision, "stateless")
    hot.add("/v1/decide/batch", decide_batch, BatchDecideRequest, BatchDecision, "stateless")
    hot.add("/v1/decide/columns", decide_columns, ColumnsDecideRequest, BatchDecision, "stateless")


def _batch_decision(choice: Choice, ladder_kbps: list[float]) -> BatchDecision:
    levels = choice.levels.tolist()
    return BatchDecision(
        levels=levels,
        bitrates_kbps=[float(ladder_kbps[level]) for level in levels],
        policy=choice.policy,
        model_version=choice.model_version,
        fallback=choice.fallback,
    )


# -------------------------------------------------------------------- operations
def _add_operations_routes(app: FastAPI) -> None:
    @app.get("/v1/policies", tags=["operations"])
    async def policies() -> list[PolicyInfo]:
        return [
            PolicyInfo(name=name, description=text, stateless=name not in SESSION_ONLY_POLICIES)
            for name, text in POLICY_DESCRIPTIONS.items()
        ]

    @app.get("/v1/model", tags=["operations"])
    async def model(request: Request) -> ModelInfo:
        engine = _service(request).engine
        loaded = engine.model
        return ModelInfo(
            loaded=loaded is not None,
            path=str(engine.model_path),
            version=engine.model_version,
            error=engine.model_error,
            providers=loaded.providers if loaded is not None else [],
            metadata=_metadata_dict(loaded),
        )

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """The process is up and answering."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], responses={503: {"model": Problem}})
    async def readyz(request: Request) -> JSONResponse:
        """Ready when the DQN model is loaded; 503 if not (the fallback answers meanwhile)."""
        engine = _service(request).engine
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

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    async def metrics(request: Request) -> PlainTextResponse:
        service = _service(request)
        store = service.store
        if isinstance(store, MemoryStore):
            store.reclaim(store.clock())
            service.metrics.sessions_reclaimed.labels("ttl").set(store.expired)
            service.metrics.sessions_reclaimed.labels("limit").set(store.evicted)
        service.metrics.active_sessions.set(len(store))
        body = generate_latest(service.metrics.registry)
        return PlainTextResponse(body, media_type=CONTENT_TYPE_LATEST)

    @app.post(
        "/v1/admin/reload",
        tags=["admin"],
        responses={401: {"model": Problem}, 403: {"model": Problem}, 422: {"model": Problem}},
        openapi_extra={"requestBody": {"required": False, **ref(ReloadRequest)}},
    )
    async def reload(
        request: Request,
        authorization: str | None = Header(None, description="Bearer <admin token>"),
    ) -> ModelInfo:
        """Load a model (the configured one by default) and swap it in atomically; on any error
        the old model keeps serving and the answer says what was wrong."""
        service = _service(request)
        _check_admin(service.settings, authorization)
        raw = await request.body()
        body = parse(raw, ReloadRequest) if raw.strip() else None
        try:
            loaded = service.engine.reload(body.path if body else None)
        except ModelError as exc:
            service.metrics.reloads.labels("failed").inc()
            raise ClientError(422, f"path: {exc}") from None
        service.metrics.reloads.labels("ok").inc()
        service.metrics.model_loaded.set(1)
        return ModelInfo(
            loaded=True,
            path=str(loaded.path),
            version=loaded.metadata.version,
            error=None,
            providers=loaded.providers,
            metadata=_metadata_dict(loaded),
        )


def _check_admin(settings: ServiceSettings, authorization: str | None) -> None:
    if settings.admin_token is None:
        raise ClientError(403, "admin endpoints are disabled (set ABR_ADMIN_TOKEN)")
    scheme, _, token = (authorization or "").partition(" ")
    expected = settings.admin_token.encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected):
        raise ClientError(401, "authorization: a valid 'Bearer <admin token>' header is required")


def _metadata_dict(model: OnnxModel | None) -> dict[str, object] | None:
    if model is None:
        return None
    data: dict[str, object] = json.loads(model.metadata.to_json())
    return data


# -------------------------------------------------------------------- demo
STATIC = Path(__file__).resolve().parent / "static"


def _add_demo_routes(app: FastAPI, settings: ServiceSettings) -> None:
    """The dash.js demo page: the player, our ABR rule, and live charts per chunk."""

    @app.get("/demo", include_in_schema=False)
    async def demo_page() -> FileResponse:
        return FileResponse(STATIC / "demo.html", media_type="text/html")

    @app.get("/demo/abr-service-rule.js", include_in_schema=False)
    async def demo_rule() -> FileResponse:
        return FileResponse(STATIC / "abr-service-rule.js", media_type="text/javascript")

    @app.get("/demo/dash.all.min.js", include_in_schema=False, response_model=None)
    async def demo_dashjs() -> Response:
        if not settings.dashjs_path.is_file():
            raise ClientError(
                404,
                f"dashjs_path: {settings.dashjs_path} is missing (npm install in players/dashjs)",
            )
        return FileResponse(settings.dashjs_path, media_type="text/javascript")


# -------------------------------------------------------------------- errors
def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ClientError)
    async def client_error(request: Request, exc: ClientError) -> JSONResponse:
        _count_error(request, exc.status)
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        _count_error(request, 422)
        return JSONResponse({"detail": validation_detail(exc.errors())}, status_code=422)


def _count_error(request: Request, status: int) -> None:
    service = getattr(request.app.state, "service", None)
    if service is not None:
        service.metrics.errors.labels(str(status)).inc()
