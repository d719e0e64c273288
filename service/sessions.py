"""A player's session as the service keeps it: exactly what the simulator keeps for a player
(the last `HISTORY_LEN` chunk throughputs and download times, buffer, last level, next chunk),
so that a trace replayed chunk by chunk through the API gets the levels `abr bench` gives."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from abr.media.video import Video
from abr.player.qoe import make_qoe, summarize_session
from abr.player.state import PlayerState
from abr.policies.base import Policy
from abr.sim.config import SimConfig

# a chunk report: index, level, size_bytes, download_s, buffer_s, rebuffer_s
Report = tuple[int, int, float, float, float, float]
HISTORY_LEN = SimConfig().history_len  # what the simulator keeps, so that decisions match
FIRST_LEVEL = SimConfig().default_level  # the protocol's first chunk


@dataclass
class PlayerSession:
    session_id: str
    policy_name: str
    qoe_name: str
    video: Video
    policy: Policy | None  # None for dqn: the engine's current model decides
    next_index: int = 0  # the chunk the next report must be about
    last_level: int = FIRST_LEVEL
    buffer_s: float = 0.0
    throughput_kbps: np.ndarray = field(default_factory=lambda: np.zeros(HISTORY_LEN))
    download_s: np.ndarray = field(default_factory=lambda: np.zeros(HISTORY_LEN))
    history_count: int = 0
    levels: list[int] = field(default_factory=list)
    rebuffer_s: list[float] = field(default_factory=list)
    fallbacks: int = 0
    fallback_policy: Policy | None = None
    # the last report applied (index, level, size_bytes, download_s, buffer_s, rebuffer_s) and
    # the answer it got: an identical retry gets the same answer (idempotent chunk reports)
    last_report: Report | None = None
    last_answer: dict[str, Any] | None = None
    reported_at_s: float | None = None  # wall clock (Unix time) of the last report applied
    # set while a report's decision is being made (this process only, never stored): an
    # identical retry, or the session's end, waits for it
    pending: asyncio.Future[dict[str, Any] | None] | None = None

    @property
    def table_bytes(self) -> int:
        """Memory of a size table uploaded for this session alone (0 for a shared nominal video)."""
        sizes = self.video.sizes_bytes
        return int(sizes.nbytes) if sizes.base is None else 0

    @property
    def done(self) -> bool:
        return self.next_index >= self.video.n_chunks

    def player_state(self) -> PlayerState:
        """A copy: later reports do not change it (decisions may be made after a wait). What
        `player_state` builds for one session, built from scalars (a third of its time, on
        every chunk report)."""
        video, index = self.video, self.next_index
        done = index >= video.n_chunks
        sizes = video.sizes_bytes[:, min(index, video.n_chunks - 1)]
        return PlayerState(
            last_level=np.array([self.last_level]),
            buffer_s=np.array([self.buffer_s]),
            throughput_kbps=self.throughput_kbps[None, :].copy(),
            download_s=self.download_s[None, :].copy(),
            history_count=np.array([self.history_count]),
            next_sizes_bytes=np.zeros((1, video.n_levels)) if done else sizes[None, :].copy(),
            chunk_index=np.array([index]),
            chunks_left=np.array([video.n_chunks - index]),
            bitrates_kbps=video.bitrates_kbps,
            chunk_s=video.chunk_s,
            n_chunks=video.n_chunks,
        )

    def summary(self) -> dict[str, object]:
        base: dict[str, object] = {
            "session_id": self.session_id,
            "policy": self.policy_name,
            "qoe": self.qoe_name,
            "chunks": len(self.levels),
            "fallbacks": self.fallbacks,
            "note": None,
        }
        keys = (
            "mean_qoe",
            "total_qoe",
            "avg_bitrate_kbps",
            "rebuffer_s",
            "startup_delay_s",
            "rebuffer_ratio",
            "switches",
        )
        if len(self.levels) < 2:  # the protocol scores chunks 2..N: nothing to score yet
            note = (
                f"{len(self.levels)} chunk(s) reported: the QoE figures cover chunks 2..N, "
                "as the benchmark scores a session, so they start with the second report"
            )
            return {**base, **dict.fromkeys(keys), "note": note}
        metric = make_qoe(self.qoe_name, self.video.bitrates_kbps)
        summary = summarize_session(
            metric,
            np.array(self.levels),
            np.array(self.rebuffer_s),
            self.video.bitrates_kbps,
            self.video.chunk_s,
        ).to_dict()
        return {**base, **{key: summary[key] for key in keys}}
