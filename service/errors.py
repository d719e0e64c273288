"""What can go wrong with a request, in the service's own terms, and the HTTP status of each.

The decision code raises these; the HTTP layer (the fast-path gate and FastAPI's handlers) turns
them into `{"detail": "<field>: <what is wrong>"}` with the status from `STATUS`, in one place.
"""

from __future__ import annotations


class RequestError(Exception):
    """A client mistake. `field` names what is wrong ("" when it is the request as a whole)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class InvalidField(RequestError):
    """A value that is well-formed but not acceptable (outside the ladder, over a limit)."""


class UnknownSession(RequestError):
    def __init__(self, session_id: str) -> None:
        super().__init__("session_id", f"{session_id!r} is unknown or expired")


class UnreadableSession(RequestError):
    """A stored session this version cannot read (another version's format, a damaged record)."""

    def __init__(self, session_id: str, reason: str) -> None:
        super().__init__(
            "session_id",
            f"{session_id!r} is stored in a form this service cannot read ({reason}); "
            "start a new session",
        )


class OutOfOrder(RequestError):
    """A chunk report for another chunk than the one the session expects."""


class TooLarge(RequestError):
    """A body or a batch over the service's limits."""


class AdminDisabled(RequestError):
    def __init__(self) -> None:
        super().__init__("", "admin endpoints are disabled (set ABR_ADMIN_TOKEN)")


class NotAuthorized(RequestError):
    def __init__(self) -> None:
        super().__init__("authorization", "a valid 'Bearer <admin token>' header is required")


class Missing(RequestError):
    """A file the service would serve is not installed."""


class NotJson(RequestError):
    """A body sent as anything but application/json (a form or text/plain: what a browser may
    post from any web page without asking the service first)."""

    def __init__(self, content_type: str) -> None:
        super().__init__("content-type", f"{content_type or 'none'}: send application/json")


class Unavailable(RequestError):
    """The service cannot answer now; the same request may succeed later."""


STATUS: dict[type[RequestError], int] = {
    InvalidField: 422,
    UnknownSession: 404,
    OutOfOrder: 409,
    UnreadableSession: 409,
    TooLarge: 413,
    NotJson: 415,
    AdminDisabled: 403,
    NotAuthorized: 401,
    Missing: 404,
    Unavailable: 503,
}


def status_of(error: RequestError) -> int:
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 400
