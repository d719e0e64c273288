"""The service's log: uvicorn's, so that its lines share the server's handlers, format and level,
and a limit on lines that requests can repeat without end.

A line that every request could cause (a client's malformed request, a model that fails on every
inference, a session store that cannot be reached) is let through once per interval for each
kind, and the next one let through counts those held back: the log says what happens and how
often, and a stream of requests cannot fill the disk through it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

REPEAT_INTERVAL_S = 60.0

# a child of uvicorn's logger: it writes through uvicorn's handlers at uvicorn's level
log = logging.getLogger("uvicorn.error.abr")

INFERENCE_FAILED = "inference failed"
STORE_UNREACHABLE = "session store unreachable"
STORE_UNREADABLE = "stored session unreadable"
TELEMETRY_FAILED = "telemetry not written"
UNEXPECTED = "unexpected error"


class RepeatLimit(logging.Filter):
    """Lets a record whose message starts with one of `kinds` through once per `interval_s`
    for each kind; the next one let through says how many were held back since the last."""

    def __init__(
        self,
        kinds: tuple[str, ...],
        interval_s: float = REPEAT_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.kinds, self.interval_s, self.clock = kinds, interval_s, clock
        self._logged_at_s: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        kind = next((start for start in self.kinds if message.startswith(start)), None)
        if kind is None:
            return True
        now_s = self.clock()
        logged_at_s = self._logged_at_s.get(kind)
        if logged_at_s is not None and now_s - logged_at_s < self.interval_s:
            self._held[kind] = self._held.get(kind, 0) + 1
            return False
        held = self._held.pop(kind, 0)
        if held and logged_at_s is not None:
            record.msg = f"{message} ({held} more in the last {now_s - logged_at_s:.0f} s)"
            record.args = ()
        self._logged_at_s[kind] = now_s
        return True


log.addFilter(
    RepeatLimit(
        (INFERENCE_FAILED, STORE_UNREACHABLE, STORE_UNREADABLE, TELEMETRY_FAILED, UNEXPECTED)
    )
)
