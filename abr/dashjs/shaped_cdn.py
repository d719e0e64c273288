"""A segment server whose link follows a bandwidth trace: `abr cdn --content DIR --trace FILE`.

Every player session gets its own link: the first request under `/s/<session>/` starts the
trace clock, and from then on the bytes of all that session's responses leave no faster than
the trace allows (the trace cycles, like the simulator's). Used by the real-player test and the
demo page, so that dash.js plays over a link shaped by a real trace."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from abr.media.traces import Trace
from abr.units import BITS_PER_BYTE

SLICE_BYTES = 16_384
MEDIA_TYPES = {".mpd": "application/dash+xml", ".m4s": "video/iso.segment", ".mp4": "video/mp4"}


class Link:
    """Cumulative bytes the trace lets through since the link started, and its inverse."""

    def __init__(self, trace: Trace) -> None:
        time_s = trace.time_s - trace.time_s[0]
        bytes_per_s = trace.mbps * 1e6 / BITS_PER_BYTE
        self.cycle_s = float(time_s[-1])
        steps = np.diff(time_s) * bytes_per_s[1:]  # mbps[i] applies to (t[i-1], t[i]]
        self.time_s = time_s
        self.cum_bytes = np.concatenate(([0.0], np.cumsum(steps)))
        self.cycle_bytes = float(self.cum_bytes[-1])
        self.start_s = time.monotonic()
        self.sent_bytes = 0.0
        self.lock = asyncio.Lock()

    def time_for(self, total_bytes: float) -> float:
        """Seconds after the start at which `total_bytes` have been let through."""
        cycles, rest = divmod(total_bytes, self.cycle_bytes)
        i = int(np.searchsorted(self.cum_bytes, rest, side="left"))
        i = min(max(i, 1), len(self.cum_bytes) - 1)
        span = self.cum_bytes[i] - self.cum_bytes[i - 1]
        fraction = (rest - self.cum_bytes[i - 1]) / span if span > 0 else 1.0
        t = self.time_s[i - 1] + fraction * (self.time_s[i] - self.time_s[i - 1])
        return float(cycles * self.cycle_s + t)

    def bytes_at(self, elapsed_s: float) -> float:
        """Bytes the trace has let through `elapsed_s` after the start."""
        cycles, rest = divmod(elapsed_s, self.cycle_s)
        i = min(max(int(np.searchsorted(self.time_s, rest, side="left")), 1), len(self.time_s) - 1)
        span = self.time_s[i] - self.time_s[i - 1]
        fraction = (rest - self.time_s[i - 1]) / span if span > 0 else 1.0
        partial = self.cum_bytes[i - 1] + fraction * (self.cum_bytes[i] - self.cum_bytes[i - 1])
        return float(cycles * self.cycle_bytes + partial)

    async def send(self, data: bytes) -> AsyncIterator[bytes]:
        for start in range(0, len(data), SLICE_BYTES):
            piece = data[start : start + SLICE_BYTES]
            async with self.lock:  # the session's responses share one bottleneck
                # capacity left unused while the link was idle is gone, as on a real link
                now_bytes = self.bytes_at(time.monotonic() - self.start_s)
                self.sent_bytes = max(self.sent_bytes, now_bytes) + len(piece)
                due_s = self.start_s + self.time_for(self.sent_bytes)
            await asyncio.sleep(max(0.0, due_s - time.monotonic()))
            yield piece


def create_cdn(content: str | Path, trace: Trace) -> Starlette:
    content = Path(content).resolve()
    if trace.mbps[1:].max() <= 0:
        raise ValueError(f"{trace.name}: the trace never carries any data")
    links: dict[str, Link] = {}

    async def segment(request: Request) -> Response:
        session, name = request.path_params["session"], request.path_params["name"]
        path = (content / name).resolve()
        if content not in path.parents or not path.is_file():
            return PlainTextResponse(f"no such file: {name}", status_code=404)
        link = links.setdefault(session, Link(trace))
        headers = {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"}
        media_type = MEDIA_TYPES.get(path.suffix, "application/octet-stream")
        data = path.read_bytes()
        headers["Content-Length"] = str(len(data))
        return StreamingResponse(link.send(data), media_type=media_type, headers=headers)

    return Starlette(routes=[Route("/s/{session}/{name:path}", segment)])
