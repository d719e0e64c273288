"""The fast path: the routes players call once per chunk (session start, chunk report, session
end, stateless and batch decisions), served by a pure ASGI gate in front of FastAPI, and that
gate's other duties for every request: refusing oversized bodies and timing requests by route.

Why not FastAPI routes: on this path FastAPI's and Starlette's machinery (router, Request and
Response objects, exception and body-limit layers) cost about as much CPU as the decision itself
(py-spy under `abr loadtest`: ~45 % of a chunk request). A fast route is declared once, with a
decorator, on a plain async function; its annotations say everything:

    @fast.post("/v1/sessions/{session_id}/chunks", tag="sessions")
    async def report_chunk(service: Service, session_id: str, body: ChunkReport) -> ChunkDecision:

the body model (the `body` parameter, if any), the answer model (the return type) and the path
parameters (every other parameter, by name, matched against the template). The OpenAPI page
documents each route from the same annotations, and errors are the same JSON as everywhere else:
`{"detail": "<field>: <what is wrong>"}` (`service.errors`).
"""

from __future__ import annotations

import inspect
import json
import re
import time
import typing
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from service.errors import NotJson, RequestError, status_of
from service.log import UNEXPECTED, log
from service.schemas import Problem

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
BodyModel = TypeVar("BodyModel", bound=BaseModel)
Handler = TypeVar("Handler", bound=Callable[..., Any])

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "unknown or expired session"},
    409: {"model": Problem, "description": "chunk out of order"},
    413: {"model": Problem, "description": "body or batch too large"},
    415: {"model": Problem, "description": "a body that is not application/json"},
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
class FastRoute:
    template: str  # e.g. "/v1/sessions/{session_id}/chunks": the latency metric's label
    pattern: re.Pattern[str]
    method: str
    handler: Callable[..., Any]  # async: on the event loop; plain: in a decision worker
    body: type[BaseModel] | None
    answer: type[BaseModel]
    status: int
    tag: str
    # FastAPI serves this path's other methods (e.g. GET /v1/sessions/{id}): forward them
    shared: bool

    @classmethod
    def declare(
        cls,
        method: str,
        template: str,
        handler: Callable[..., Any],
        status: int,
        tag: str,
        shared: bool,
    ) -> FastRoute:
        """The route `handler` declares through its annotations; a TypeError at start-up if they
        do not fit the template."""
        hints = typing.get_type_hints(handler)
        names = list(inspect.signature(handler).parameters)[1:]  # after the service
        path_names = [name for name in names if name != "body"]
        if sorted(path_names) != sorted(re.findall(r"{(\w+)}", template)):
            raise TypeError(f"{handler.__name__}: parameters {path_names} do not match {template}")
        answer = hints.get("return")
        if not (isinstance(answer, type) and issubclass(answer, BaseModel)):
            raise TypeError(f"{handler.__name__}: its return type must be a pydantic model")
        regex = re.compile("^" + re.sub(r"{(\w+)}", r"(?P<\1>[^/]+)", template) + "$")
        body = hints["body"] if "body" in names else None
        return cls(template, regex, method, handler, body, answer, status, tag, shared)

    async def respond(self, service: Any, raw: bytes, params: dict[str, str]) -> tuple[int, bytes]:
        """(status, JSON body) of this route's answer to `raw`. An `async def` handler runs here,
        on the event loop; a plain `def` one in a decision worker (`service.workers`), or here
        when the service runs none."""
        workers = getattr(service, "workers", None)
        if inspect.iscoroutinefunction(self.handler) or workers is None:
            kwargs: dict[str, Any] = dict(params)
            if self.body is not None:
                kwargs["body"] = parse(raw, self.body)
            answer = self.handler(service, **kwargs)
            if inspect.isawaitable(answer):
                answer = await answer
            return self.status, answer.model_dump_json().encode()
        served = service.engine.served
        status, data, decision = await workers.run(self.handler, self.body, raw, params, served)
        if decision is not None:
            service.count_levels(*decision)
        elif status >= 400:
            service.metrics.errors.labels(str(status)).inc()
        return (self.status if status == 200 else status), data

    def operation(self) -> dict[str, Any]:
        """This route's OpenAPI operation."""
        errors = {
            str(code): {"description": error["description"], **ref(Problem)}
            for code, error in ERRORS.items()
        }
        doc = (self.handler.__doc__ or "").strip()
        operation: dict[str, Any] = {
            "tags": [self.tag],
            "summary": doc.splitlines()[0] if doc else self.template,
            "description": doc,
            "operationId": self.handler.__name__,
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in self.pattern.groupindex
            ],
            "responses": {
                str(self.status): {"description": "the answer", **ref(self.answer)},
                **errors,
            },
        }
        if self.body is not None:
            operation["requestBody"] = {"required": True, **ref(self.body)}
        return operation


class FastRouter:
    """A resource's fast routes, declared with `@router.post(...)` / `@router.delete(...)`."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.routes: list[FastRoute] = []

    def post(self, template: str, status: int = 200) -> Callable[[Handler], Handler]:
        return self._route("POST", template, status, shared=False)

    def delete(self, template: str, shared: bool = False) -> Callable[[Handler], Handler]:
        return self._route("DELETE", template, 200, shared)

    def _route(
        self, method: str, template: str, status: int, shared: bool
    ) -> Callable[[Handler], Handler]:
        def declare(handler: Handler) -> Handler:
            route = FastRoute.declare(method, template, handler, status, self.tag, shared)
            self.routes.append(route)
            return handler

        return declare


@dataclass(frozen=True)
class WrongMethod:
    allowed: list[str]


class FastRoutes:
    """Every fast route of the app: what the gate serves and the OpenAPI page adds."""

    def __init__(self, routers: list[FastRouter]) -> None:
        self.routes = [route for router in routers for route in router.routes]

    @property
    def models(self) -> list[type[BaseModel]]:
        bodies = [route.body for route in self.routes if route.body is not None]
        return [*bodies, *(route.answer for route in self.routes)]

    @property
    def operations(self) -> dict[str, dict[str, Any]]:
        operations: dict[str, dict[str, Any]] = {}
        for route in self.routes:
            operations.setdefault(route.template, {})[route.method.lower()] = route.operation()
        return operations

    def match(
        self, method: str, path: str
    ) -> tuple[FastRoute, dict[str, str]] | WrongMethod | None:
        """The route to serve; `WrongMethod` for a fast path asked with another method that
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


class ClientGone(Exception):
    """The client disconnected (or was timed out) before its request's body was complete."""


def check_json(headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    """A body must say it is JSON: a browser sends forms and text/plain from any page without a
    CORS check, and those must not start sessions."""
    if not body:
        return
    content_type = dict(headers).get(b"content-type", b"").decode("latin-1")
    if content_type.partition(";")[0].strip().lower() != "application/json":
        raise NotJson(content_type)


class ServiceGate:
    """Pure ASGI middleware, outside FastAPI's own: refuses bodies over the limit (413) before
    they are read whole, serves the fast routes, and records each request's latency by route."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, routes: FastRoutes) -> None:
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
        fast = self.routes.match(scope["method"], scope["path"])
        if isinstance(fast, WrongMethod):
            message = (
                f"method: {scope['method']} is not allowed here; use {' or '.join(fast.allowed)}"
            )
            await self._error(
                send, service, 405, message, [(b"allow", ", ".join(fast.allowed).encode())]
            )
            name = "other"
        elif fast is not None:
            route, params = fast
            await self._serve(route, params, scope, receive, send, service)
            name = route.template
        else:
            await self._forward(scope, receive, send, service)
            name = str(getattr(scope.get("route"), "path", "other"))
        if service is not None:
            service.metrics.observe_latency(name, time.perf_counter() - start)

    async def _serve(
        self,
        route: FastRoute,
        params: dict[str, str],
        scope: Scope,
        receive: Receive,
        send: Send,
        service: Any,
    ) -> None:
        try:
            body = await self._read_body(scope, receive)
            status, answer = await route.respond(service, body, params)
        except BodyTooLarge:
            await self._too_large(send, service)
            return
        except ClientGone:
            return
        except RequestError as exc:
            await self._error(send, service, status_of(exc), str(exc))
            return
        except RequestValidationError as exc:
            await self._error(send, service, 422, validation_detail(exc.errors()))
            return
        except Exception as exc:  # a bug or a fault of ours: a JSON 500, counted, logged
            log.exception("%s on %s %s: %r", UNEXPECTED, route.method, route.template, exc)
            await self._error(send, service, 500, "internal error; it is logged")
            return
        await _send_json(send, status, answer)

    async def _forward(self, scope: Scope, receive: Receive, send: Send, service: Any) -> None:
        """To FastAPI, with the body read here first (up to the limit): an oversized body is
        our 413 before any route sees it, whatever route it was sent to."""
        try:
            body = await self._read_body(scope, receive)
        except BodyTooLarge:
            await self._too_large(send, service)
            return
        except ClientGone:
            return
        except NotJson as exc:
            await self._error(send, service, status_of(exc), str(exc))
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: the disconnect, when it comes

        await self.app(scope, replay, send)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        """The request's whole body, refused past the limit or when it is not JSON."""
        parts, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            part = message.get("body", b"")
            size += len(part)
            if size > self.max_body_bytes:
                raise BodyTooLarge
            parts.append(part)
            more = message.get("more_body", False)
        body = b"".join(parts)
        check_json(scope["headers"], body)
        return body

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
