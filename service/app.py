"""The decision service: `create_app(settings)` builds the FastAPI app (routes per resource in
`service/routes/`, the per-chunk ones on the fast path of `service/fastpath.py`). The endpoints
are described in docs/http-api.md; the OpenAPI page is at /docs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel

import abr
from service.deps import Service
from service.errors import RequestError, status_of
from service.fastpath import (
    ERRORS,
    ASGIApp,
    FastRoutes,
    Receive,
    Scope,
    Send,
    ServiceGate,
    ref,
    validation_detail,
)
from service.routes import admin, decisions, demo, operations, sessions
from service.schemas import Problem, ReloadRequest
from service.settings import ServiceSettings
from service.store import SessionStore


def create_app(
    settings: ServiceSettings | None = None, store: SessionStore | None = None
) -> FastAPI:
    settings = settings or ServiceSettings.from_environment()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.service = Service(settings, store)  # the model is loaded here
        yield
        await app.state.service.close()

    app = ServiceApp(
        title="abr decision service",
        version=abr.__version__,
        description="Chooses the bitrate of each next video chunk for streaming players.",
        lifespan=lifespan,
        # our metrics are Prometheus (/metrics); FastAPI's OpenTelemetry hooks only cost time here
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    fast_routes = app.state.fast_routes = FastRoutes([sessions.fast, decisions.fast])
    for router in (sessions.router, operations.router, admin.router):
        app.include_router(router)
    if settings.demo:
        app.include_router(demo.router)
    front: ASGIApp = ServiceGate(app.fastapi, settings.max_body_bytes, fast_routes)
    if settings.cors_origins:
        front = CORSMiddleware(
            front,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Content-Type", "Authorization"],
        )
    app.front = front
    _add_error_handlers(app)
    app.openapi = _openapi(app, fast_routes)  # type: ignore[method-assign]
    return app


class ServiceApp(FastAPI):
    """FastAPI behind our front: `ServiceGate` (and CORS when configured) see every request
    first, outside FastAPI's own middleware, which the fast routes do not need."""

    front: ASGIApp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        await self.front(scope, receive, send)

    async def fastapi(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)


def _openapi(app: FastAPI, fast_routes: FastRoutes) -> Callable[[], dict[str, Any]]:
    """FastAPI's schema, plus the fast routes (served by `ServiceGate`, not by FastAPI)."""

    def schema() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            components = document.setdefault("components", {}).setdefault("schemas", {})
            models: list[type[BaseModel]] = [*fast_routes.models, Problem, ReloadRequest]
            for model in models:
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(schema.pop("$defs", {}))
                components[model.__name__] = schema
            for path, operations in fast_routes.operations.items():
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


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestError)
    async def request_error(request: Request, exc: RequestError) -> JSONResponse:
        status = status_of(exc)
        _count_error(request, status)
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        _count_error(request, 422)
        return JSONResponse({"detail": validation_detail(exc.errors())}, status_code=422)


def _count_error(request: Request, status: int) -> None:
    service = getattr(request.app.state, "service", None)
    if service is not None:
        service.metrics.errors.labels(str(status)).inc()
