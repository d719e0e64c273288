"""`abr bench-telemetry`: does the loop close? Virtual players replay a trace set through a real
server that logs telemetry; `traces_from_telemetry` rebuilds one trace per session; each rebuilt
trace's time-weighted mean bandwidth over its downloads is set beside the original trace's over
the same downloads (what the simulator delivered there, from the players' own records)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from abr.clients.net import running_server
from abr.clients.service_speed import SERVICE_TARGET
from abr.clients.virtual_players import PlayerResult, replay
from abr.media.telemetry import MIN_CHUNKS, read_telemetry, rebuild_trace
from abr.media.traces import Trace
from abr.media.video import Video
from abr.sim.config import SimConfig
from abr.units import BITS_PER_BYTE, BITS_PER_MBIT


@dataclass(frozen=True)
class TelemetryLoop:
    players: int
    sessions_logged: int
    traces_rebuilt: int
    matched: int  # rebuilt traces paired with their player (by the first download's time)
    within_10pct: int
    median_error: float  # |rebuilt / original - 1| over the matched pairs
    max_error: float
    log_lines: int

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def telemetry_loop(
    traces: Sequence[Trace], video: Video, policy: str, folder: Path
) -> tuple[TelemetryLoop, list[Trace]]:
    """The figures, and the rebuilt traces (written by the caller where it wants them)."""
    log = folder / "telemetry.jsonl"
    env = {"ABR_TELEMETRY": str(log), "ABR_TELEMETRY_KEY": secrets.token_hex(16)}
    with running_server(SERVICE_TARGET, env, timeout_s=60.0) as (url, _):
        results, players, _ = replay(
            server=url, traces=traces, video=video, policy=policy, concurrency=16, pace="max"
        )
    config = SimConfig()
    sessions = read_telemetry(log)  # the log, read once
    rebuilt = [
        rebuild_trace(f"telemetry_{name}", reports, config.rtt_s, config.payload_fraction)
        for name, reports in sorted(sessions.items())
        if len(reports) >= MIN_CHUNKS
    ]
    by_first_download = {
        round(float(r.download_s[0]), 9): _delivered_mbps(r, video, config)
        for r in results
        if r.complete
    }
    errors = []
    for reports in sessions.values():
        if len(reports) < MIN_CHUNKS:
            continue
        original = by_first_download.get(round(reports[0].download_s, 9))
        if original is not None:  # the measured intervals alone, back to back
            downloads = rebuild_trace(
                "downloads", reports, config.rtt_s, config.payload_fraction, fill_gaps=False
            )
            errors.append(abs(_time_weighted_mbps(downloads) / original - 1.0))
    error = np.array(errors)
    figures = TelemetryLoop(
        players=len(results),
        sessions_logged=len(sessions),
        traces_rebuilt=len(rebuilt),
        matched=len(errors),
        within_10pct=int(np.sum(error <= 0.10)),
        median_error=float(np.median(error)) if len(error) else float("nan"),
        max_error=float(error.max()) if len(error) else float("nan"),
        log_lines=len(log.read_text(encoding="utf-8").splitlines()),
    )
    return figures, rebuilt


def _delivered_mbps(result: PlayerResult, video: Video, config: SimConfig) -> float:
    """The original trace's time-weighted mean bandwidth over the player's transfers."""
    chunks = np.arange(len(result.levels))
    bits = video.sizes_bytes[result.levels, chunks] * BITS_PER_BYTE
    transfer_s = result.download_s - config.rtt_s
    return float(bits.sum() / transfer_s.sum() / BITS_PER_MBIT / config.payload_fraction)


def _time_weighted_mbps(trace: Trace) -> float:
    durations = np.diff(trace.time_s)
    return float((trace.mbps[1:] * durations).sum() / durations.sum())
