"""The batched policy protocol, and the ladder helper the classic policies share.

A policy sees what a player sees (`PlayerState`) and answers one level per session. Planners that
need the future (the offline optimum) also get the traces at reset; online policies ignore them.
A policy that keeps state between decisions names its per-session arrays in a class attribute
`session_state` (a tuple of attribute names), so that a session store can save and restore them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from abr.media.traces import Trace
from abr.media.video import Video
from abr.player.state import PlayerState


class Policy(Protocol):
    name: str

    def reset(
        self, n_sessions: int, video: Video, traces: Sequence[Trace] | None = None
    ) -> None: ...

    def act(self, state: PlayerState) -> np.ndarray:
        """Levels [N] (int64) for the next chunk of every session."""
        ...


def highest_level_below(bitrates_kbps: np.ndarray, kbps: np.ndarray) -> np.ndarray:
    """The highest level whose bitrate is <= kbps, and level 0 where none is. [N]"""
    return np.maximum(np.searchsorted(bitrates_kbps, kbps, side="right") - 1, 0).astype(np.int64)
