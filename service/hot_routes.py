"""The hot routes — session start, chunk report, session end, stateless and batch decisions —
served by a pure ASGI gate in front of FastAPI, and that gate's other duties for every request:
refusing oversized bodies and timing requests by route.

Why not FastAPI routes: players call these once per chunk (or once per session), and on this
path FastAPI's and Starlette's machinery (router, Request and Response objects, exception and
body-limit layers) cost about as much CPU as the decision itself (py-spy under `abr loadtest`:
~45 % of a chunk request). Here a route is a method, a regex and a plain function from body
bytes to a pydantic answer. The OpenAPI page still documents each one (`HotRoutes.operations`),
and errors are the same JSON as everywhere else: `{"detail": "<field>: <what is wrong>"}`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from service.engine import ClientError
from service.schemas import Problem

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
BodyModel = TypeVar("BodyModel", bound=BaseModel)
# (the service, the body bytes, the path parameters) -> the answer
Handler = Callable[[Any, bytes, dict[str, str]], Awaitable[BaseModel]]

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "unknown or expired session"},
    409: {"model": Problem, "description": "chunk out of order"},
    413: {"model": Problem, "description": "body or batch too large"},
    422: {"model": Problem, "description": "a field is invalid; the message names it"},
}
JSON_HEADERS = [(b"content-type", b"application/json")]


def parse(body: bytes, model: type[BodyModel]) -> BodyModel:
    """The body as `model`; a 422 naming the field otherwise (FastAPI's error, our message)."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        raise RequestValidationError(errors) from None


def validation_detail(errors: Any) -> str:
    """One message naming each bad field (the first five)."""
    messages = [
        f"body: not valid JSON ({error['ctx']['error']})"
        if error["type"] == "json_invalid"
        else f"{_field_name(error['loc'])}: {error['msg']}"
        for error in errors
    ]
    return "; ".join(messages[:5])


def _field_name(location: tuple[object, ...]) -> str:
    return ".".join(str(part) for part in location if part != "body") or "body"


@dataclass(frozen=True)
class HotRoute:
    template: str  # e.g. "/v1/sessions/{session_id}/chunks": the latency metric's label
    pattern: re.Pattern[str]
    method: str
    handler: Handler
    status: int
    # FastAPI serves this path's other methods (e.g. GET /v1/sessions/{id}): forward them
    shared: bool


@dataclass(frozen=True)
class WrongMethod:
    allowed: list[str]


class HotRoutes:
    """The routes the gate serves, and their OpenAPI operations and schemas."""

    def __init__(self) -> None:
        self.routes: list[HotRoute] = []
        self.operations: dict[str, dict[str, Any]] = {}
        self.models: list[type[BaseModel]] = []

    def add(
        self,
        template: str,
        handler: Handler,
        body: type[BaseModel] | None,
        answer: type[BaseModel],
        tag: str,
        status: int = 200,
        method: str = "POST",
        shared: bool = False,
    ) -> None:
        names = re.findall(r"{(\w+)}", template)
        regex = re.compile("^" + re.sub(r"{(\w+)}", r"(?P<\1>[^/]+)", template) + "$")
        self.routes.append(HotRoute(template, regex, method, handler, status, shared))
        errors = {
            str(code): {"description": error["description"], **ref(Problem)}
            for code, error in ERRORS.items()
        }
        doc = (handler.__doc__ or "").strip()
        operation: dict[str, Any] = {
            "tags": [tag],
            "summary": doc.splitlines()[0] if doc else template,
            "description": doc,
            "operationId": handler.__name__,
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in names
            ],
            "responses": {str(status): {"description": "the answer", **ref(answer)}, **errors},
        }
        if body is not None:
            operation["requestBody"] = {"required": True, **ref(body)}
            self.models.append(body)
        self.operations.setdefault(template, {})[method.lower()] = operation
        self.models.append(answer)

    def match(self, method: str, path: str) -> tuple[HotRoute, dict[str, str]] | WrongMethod | None:
        """The route to serve; `WrongMethod` for a hot path asked with another method that
        FastAPI does not serve either; None for everything FastAPI serves."""
        allowed, shared = [], False
        for route in self.routes:
            found = route.pattern.match(path)
            if found:
                if route.method == method:
                    return route, found.groupdict()
                allowed.append(route.method)
                shared = shared or route.shared
        return WrongMethod(allowed) if allowed and not shared else None


def ref(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
        }
    }


class BodyTooLarge(Exception):
    pass


class ServiceGate:
    """Pure ASGI middleware, outside FastAPI's own: refuses bodies over the limit (413) before
    they are read whole, serves the hot routes, and records each request's latency by route."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, routes: HotRoutes) -> None:
        self.app, self.max_body_bytes, self.routes = app, max_body_bytes, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        service = getattr(scope["app"].state, "service", None)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            await self._too_large(send, service)
            return
        hot = self.routes.match(scope["method"], scope["path"])
        if isinstance(hot, WrongMethod):
            message = (
                f"method: {scope['method']} is not allowed here; use {' or '.join(hot.allowed)}"
            )
            await self._error(
                send, service, 405, message, [(b"allow", ", ".join(hot.allowed).encode())]
            )
            name = "other"
        elif hot is not None:
            route, params = hot
            await self._serve(route, params, receive, send, service)
            name = route.template
        else:
            await self._forward(scope, receive, send, service)
            name = str(getattr(scope.get("route"), "path", "other"))
        if service is not None:
            service.metrics.observe_latency(name, time.perf_counter() - start)

    async def _serve(
        self,
        route: HotRoute,
        params: dict[str, str],
        receive: Receive,
        send: Send,
        service: Any,
    ) -> None:
        try:
            body = await self._read_body(receive)
        except BodyTooLarge:
            await self._too_large(send, service)
            return
        try:
            answer = await route.handler(service, body, params)
        except ClientError as exc:
            await self._error(send, service, exc.status, str(exc))
            return
        except RequestValidationError as exc:
            await self._error(send, service, 422, validation_detail(exc.errors()))
            return
        await _send_json(send, route.status, answer.model_dump_json().encode())

    async def _forward(self, scope: Scope, receive: Receive, send: Send, service: Any) -> None:
        """To FastAPI, with the body limit enforced as the body arrives."""
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                raise BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except BodyTooLarge:
            await self._too_large(send, service)

    async def _read_body(self, receive: Receive) -> bytes:
        parts, size, more = [], 0, True
        while more:
            message = await receive()
            part = message.get("body", b"")
            size += len(part)
            if size > self.max_body_bytes:
                raise BodyTooLarge
            parts.append(part)
            more = message.get("more_body", False)
        return b"".join(parts)

    async def _too_large(self, send: Send, service: Any) -> None:
        await self._error(send, service, 413, f"body: larger than {self.max_body_bytes} bytes")

    @staticmethod
    async def _error(
        send: Send,
        service: Any,
        status: int,
        message: str,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        if service is not None:
            service.metrics.errors.labels(str(status)).inc()
        await _send_json(send, status, json.dumps({"detail": message}).encode(), headers)


async def _send_json(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    length = [(b"content-length", str(len(body)).encode())]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": JSON_HEADERS + length + (headers or []),
        }
    )
    await send({"type": "http.response.body", "body": body})
