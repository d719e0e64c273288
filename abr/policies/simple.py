"""Fixed, buffer-based (BB) and rate-based (RB) policies."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from abr.media.traces import Trace
from abr.media.video import Video
from abr.player.state import PlayerState
from abr.player.throughput import harmonic_mean_kbps
from abr.policies.base import highest_level_below


class FixedPolicy:
    """Always the same level."""

    def __init__(self, level: int) -> None:
        self.level = level
        self.name = f"fixed:{level}"

    def reset(self, n_sessions: int, video: Video, traces: Sequence[Trace] | None = None) -> None:
        if not 0 <= self.level < video.n_levels:
            raise ValueError(f"fixed level {self.level} is not in [0, {video.n_levels})")

    def act(self, state: PlayerState) -> np.ndarray:
        return np.full(state.n_sessions, self.level, dtype=np.int64)


class BufferBased:
    """Huang et al., SIGCOMM 2014 (BBA-0): lowest below the reservoir, highest above
    reservoir + cushion, linear in between (Pensieve's `bb.py`)."""

    name = "bb"

    def __init__(self, reservoir_s: float = 5.0, cushion_s: float = 10.0) -> None:
        self.reservoir_s, self.cushion_s = reservoir_s, cushion_s

    def reset(self, n_sessions: int, video: Video, traces: Sequence[Trace] | None = None) -> None:
        pass

    def act(self, state: PlayerState) -> np.ndarray:
        top = state.n_levels - 1
        fraction = (state.buffer_s - self.reservoir_s) / self.cushion_s
        levels = np.clip(top * fraction, 0, top).astype(np.int64)  # int() truncation
        return np.where(state.buffer_s >= self.reservoir_s + self.cushion_s, top, levels)


class RateBased:
    """The highest rung at or below the harmonic mean of the last 5 chunk throughputs."""

    name = "rb"

    def __init__(self, window: int = 5) -> None:
        self.window = window

    def reset(self, n_sessions: int, video: Video, traces: Sequence[Trace] | None = None) -> None:
        pass

    def act(self, state: PlayerState) -> np.ndarray:
        return highest_level_below(state.bitrates_kbps, harmonic_mean_kbps(state, self.window))
