"""Trace-replay QoE benchmark under the evaluation protocol (docs/design.md).

Every trace is played once in evaluation mode (from time_s[0], no noise); the first chunk is
fetched at the default level from an empty buffer, the policy chooses the rest; a trace's score
is its mean per-chunk QoE over chunks 2..N, a set's score the mean over its traces.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from abr.media.traces import Trace
from abr.media.video import Video
from abr.player.qoe import SessionSummary, summarize_session
from abr.policies.base import Policy
from abr.sim.config import SimConfig
from abr.sim.env import AbrEnv, FixedVideo


@dataclass(frozen=True)
class PolicyRun:
    """One policy over one trace set: per-chunk logs [K, N] and per-trace summaries."""

    policy: str
    trace_names: list[str]
    levels: np.ndarray
    buffer_s: np.ndarray
    rebuffer_s: np.ndarray
    throughput_kbps: np.ndarray
    download_s: np.ndarray
    summaries: list[SessionSummary]
    seconds: float

    @property
    def qoe_per_trace(self) -> np.ndarray:
        return np.array([s.mean_qoe for s in self.summaries])

    def aggregate(self) -> dict[str, float]:
        qoe = self.qoe_per_trace
        return {
            "mean_qoe": float(qoe.mean()),
            "median_qoe": float(np.median(qoe)),
            "p10_qoe": float(np.percentile(qoe, 10)),
            "avg_bitrate_kbps": float(np.mean([s.avg_bitrate_kbps for s in self.summaries])),
            "rebuffer_ratio": float(np.mean([s.rebuffer_ratio for s in self.summaries])),
            "rebuffer_s": float(np.mean([s.rebuffer_s for s in self.summaries])),
            "switches": float(np.mean([s.switches for s in self.summaries])),
            "traces": len(self.summaries),
            "seconds": self.seconds,
        }


def run_policy(
    policy: Policy,
    traces: Sequence[Trace],
    video: Video,
    qoe: str = "lin",
    config: SimConfig | None = None,
) -> PolicyRun:
    start = time.perf_counter()
    config = config or SimConfig()
    n = len(traces)
    env = AbrEnv(
        traces, FixedVideo(video), None, n, mode="eval", qoe=qoe, sim_config=config, autoreset=False
    )
    policy.reset(n, video, traces)
    k = video.n_chunks
    logs = {name: np.zeros((k, n)) for name in ("buffer", "rebuffer", "throughput", "delay")}
    levels = np.zeros((k, n), dtype=np.int64)
    for chunk in range(k):
        if chunk == 0:
            chosen = np.full(n, config.default_level, dtype=np.int64)
        else:
            chosen = np.asarray(policy.act(env.player_state()), dtype=np.int64)
        result = env.step(chosen).result
        levels[chunk] = chosen
        logs["buffer"][chunk] = result.buffer_s
        logs["rebuffer"][chunk] = result.rebuffer_s
        logs["delay"][chunk] = result.download_s
        logs["throughput"][chunk] = result.throughput_kbps
    summaries = [
        summarize_session(
            env.qoe, levels[:, i], logs["rebuffer"][:, i], video.bitrates_kbps, video.chunk_s
        )
        for i in range(n)
    ]
    return PolicyRun(
        policy.name,
        [t.name for t in traces],
        levels,
        logs["buffer"],
        logs["rebuffer"],
        logs["throughput"],
        logs["delay"],
        summaries,
        time.perf_counter() - start,
    )
