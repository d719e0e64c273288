"""The batched policy protocol, and helpers the classic policies share.

A policy sees what a player sees (`PlayerState`) and answers one level per session. Planners that
need the future (the offline optimum) also get the traces at reset; online policies ignore them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from abr.state import PlayerState
from abr.traces import Trace
from abr.video import Video


class Policy(Protocol):
    name: str

    def reset(
        self, n_sessions: int, video: Video, traces: Sequence[Trace] | None = None
    ) -> None: ...

    def act(self, state: PlayerState) -> np.ndarray:
        """Levels [N] (int64) for the next chunk of every session."""
        ...


def recent_throughputs_kbps(state: PlayerState, window: int) -> tuple[np.ndarray, np.ndarray]:
    """The last `window` chunk throughputs [N, W] and which of them exist (bool [N, W]): a
    session's first chunks have less history than the window."""
    recent = state.throughput_kbps[:, -window:]
    exists = (
        np.arange(recent.shape[1])[None, :]
        >= recent.shape[1] - np.minimum(state.history_count, window)[:, None]
    )
    return recent, exists


def harmonic_mean_kbps(state: PlayerState, window: int = 5) -> np.ndarray:
    """Harmonic mean of the last `window` chunk throughputs that exist; 0 where none does. [N]"""
    return harmonic_mean_of(*recent_throughputs_kbps(state, window))


def harmonic_mean_of(recent: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Harmonic mean over the `valid` entries of each row of `recent`; 0 where none is. [N]"""
    # A throughput so small that its reciprocal overflows gives inf here, so a harmonic mean of
    # 0 (the lowest rung): the right answer, not an error worth a warning.
    with np.errstate(over="ignore"):
        inverse_sum = np.where(valid, 1.0 / np.where(valid, recent, 1.0), 0.0).sum(axis=1)
    count = valid.sum(axis=1)
    return np.where(count > 0, count / np.where(inverse_sum > 0, inverse_sum, 1.0), 0.0)


def highest_level_below(bitrates_kbps: np.ndarray, kbps: np.ndarray) -> np.ndarray:
    """The highest level whose bitrate is <= kbps, and level 0 where none is. [N]"""
    return np.maximum(np.searchsorted(bitrates_kbps, kbps, side="right") - 1, 0).astype(np.int64)
