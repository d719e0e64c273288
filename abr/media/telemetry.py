"""Bandwidth traces from player telemetry (the service's `ABR_TELEMETRY` log, one JSON line per
applied chunk report): one cooked trace per session, ready for `abr train`.

What a report tells: the chunk's size and how long its download took, so the network delivered
`size / (download_s - rtt_s)` of payload during the transfer (the request's round trip, which the
simulator adds to every download itself, is taken off; `abr traces from-telemetry` uses the
simulator's 80 ms). The simulator delivers `payload_fraction` of a trace's bandwidth as payload,
so the trace gets that throughput divided by it. Between two downloads the player was idle for
the wall-clock gap between its reports less the next download's time; what the network could
have delivered then was not measured.

The assumption for an idle gap: the network held the mean of the two downloads around it (one
sample spanning the gap). Gaps under `min_gap_s` are dropped. A session with fewer than
`min_chunks` reports gives no trace.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from abr.media.traces import Trace, TraceError, make_trace
from abr.units import BITS_PER_BYTE, BITS_PER_MBIT

FIELDS = ("session", "chunk", "size_bytes", "download_s", "gap_s")
MIN_CHUNKS = 4  # a session with fewer reports gives no trace


@dataclass(frozen=True)
class Report:
    chunk: int
    size_bytes: float
    download_s: float
    gap_s: float | None


def read_telemetry(path: str | Path) -> dict[str, list[Report]]:
    """Each session's reports in chunk order (a chunk logged twice is kept once); a malformed
    line is an error naming the file and line."""
    sessions: dict[str, dict[int, Report]] = defaultdict(dict)
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                missing = [name for name in FIELDS if name not in record]
                if missing:
                    raise ValueError(f"missing {', '.join(missing)}")
                report = Report(
                    int(record["chunk"]),
                    float(record["size_bytes"]),
                    float(record["download_s"]),
                    None if record["gap_s"] is None else float(record["gap_s"]),
                )
            except (ValueError, TypeError) as exc:
                raise TraceError(f"{path}:{number}: not a telemetry record ({exc})") from None
            sessions[str(record["session"])][report.chunk] = report
    return {name: [chunks[k] for k in sorted(chunks)] for name, chunks in sessions.items()}


def rebuild_trace(
    name: str,
    reports: list[Report],
    rtt_s: float,
    payload_fraction: float,
    min_gap_s: float = 1e-3,
    fill_gaps: bool = True,
) -> Trace:
    """One session's trace: each download's throughput over its transfer time, and each idle
    gap at the mean of its two neighbours (see the module's note); without `fill_gaps`, the
    downloads alone, back to back."""
    time_s, mbps = [0.0], []
    previous_mbps: float | None = None
    for report in reports:
        transfer_s = max(report.download_s - rtt_s, 1e-6)
        payload_mbps = report.size_bytes * BITS_PER_BYTE / BITS_PER_MBIT / transfer_s
        delivered_mbps = payload_mbps / payload_fraction
        idle_s = 0.0 if report.gap_s is None else report.gap_s - report.download_s
        if fill_gaps and previous_mbps is not None and idle_s >= min_gap_s:
            time_s.append(time_s[-1] + idle_s)
            mbps.append((previous_mbps + delivered_mbps) / 2)
        time_s.append(time_s[-1] + transfer_s)
        mbps.append(delivered_mbps)
        previous_mbps = delivered_mbps
    # a cooked trace's first sample only marks time 0: its bandwidth is the first interval's
    return make_trace(name, time_s, [mbps[0], *mbps])


def traces_from_telemetry(
    path: str | Path,
    rtt_s: float,
    payload_fraction: float,
    min_chunks: int = MIN_CHUNKS,
    fill_gaps: bool = True,
) -> list[Trace]:
    """One trace per session of at least `min_chunks` reports (`rtt_s` and `payload_fraction`:
    the simulator's, `SimConfig`, for traces it will play)."""
    sessions = read_telemetry(path)
    return [
        rebuild_trace(f"telemetry_{name}", reports, rtt_s, payload_fraction, fill_gaps=fill_gaps)
        for name, reports in sorted(sessions.items())
        if len(reports) >= min_chunks
    ]
