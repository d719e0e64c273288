"""BOLA-BASIC (Spiteri, Urgaonkar, Sitaraman, INFOCOM 2016) and a dash.js-style Dynamic rule.

BOLA picks the level maximising `(Vp * (v_m + gp) - buffer_s) / R_m` with utilities
`v_m = ln(R_m / R_0) + 1`. Its two parameters come from the buffer target and the ladder, as in
dash.js's BolaRule: the lowest level is chosen up to `min_buffer_s` and the highest from
`buffer_target_s = max(stable_buffer_s, min_buffer_s + 2 s * levels)`:
    gp = (v_top - 1) / (buffer_target_s / min_buffer_s - 1),   Vp = min_buffer_s / gp.

Dynamic (Spiteri et al., MMSys 2018, dash.js's default strategy): a throughput rule (highest
rung under `safety` times the harmonic-mean throughput) while the buffer is low, BOLA once the
buffer passes `switch_buffer_s` and BOLA's choice is at least the throughput rule's; back to
throughput when the buffer falls below it and BOLA would pick lower.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from abr.media.traces import Trace
from abr.media.video import Video
from abr.player.state import PlayerState
from abr.player.throughput import harmonic_mean_kbps
from abr.policies.base import highest_level_below

MIN_BUFFER_S = 10.0  # dash.js MINIMUM_BUFFER_S
BUFFER_PER_LEVEL_S = 2.0  # dash.js MINIMUM_BUFFER_PER_BITRATE_LEVEL_S
STABLE_BUFFER_S = 12.0  # dash.js stableBufferTime default


def bola_parameters(
    bitrates_kbps: np.ndarray,
    min_buffer_s: float = MIN_BUFFER_S,
    stable_buffer_s: float = STABLE_BUFFER_S,
) -> tuple[np.ndarray, float, float]:
    """(utilities [L], gp, Vp) derived from the ladder and the buffer target."""
    utilities = np.log(bitrates_kbps / bitrates_kbps[0]) + 1.0
    if len(bitrates_kbps) < 2:
        raise ValueError("BOLA needs at least two levels")
    target_s = max(stable_buffer_s, min_buffer_s + BUFFER_PER_LEVEL_S * len(bitrates_kbps))
    gp = (utilities[-1] - 1.0) / (target_s / min_buffer_s - 1.0)
    return utilities, gp, min_buffer_s / gp


class Bola:
    name = "bola"

    def __init__(
        self, min_buffer_s: float = MIN_BUFFER_S, stable_buffer_s: float = STABLE_BUFFER_S
    ) -> None:
        self.min_buffer_s, self.stable_buffer_s = min_buffer_s, stable_buffer_s

    def reset(self, n_sessions: int, video: Video, traces: Sequence[Trace] | None = None) -> None:
        self.utilities, self.gp, self.vp = bola_parameters(
            video.bitrates_kbps, self.min_buffer_s, self.stable_buffer_s
        )

    def act(self, state: PlayerState) -> np.ndarray:
        scores = (
            self.vp * (self.utilities[None, :] + self.gp) - state.buffer_s[:, None]
        ) / state.bitrates_kbps[None, :]  # [N, L]
        top_first = scores[:, ::-1]  # ties go to the higher level, as dash.js's `s >= score`
        return (state.n_levels - 1 - np.argmax(top_first, axis=1)).astype(np.int64)


class Dynamic:
    name = "dynamic"
    session_state = ("using_bola",)  # what it keeps per session between decisions

    def __init__(self, switch_buffer_s: float = 10.0, safety: float = 0.9) -> None:
        self.switch_buffer_s, self.safety = switch_buffer_s, safety
        self.bola = Bola()

    def reset(self, n_sessions: int, video: Video, traces: Sequence[Trace] | None = None) -> None:
        self.bola.reset(n_sessions, video)
        self.using_bola = np.zeros(n_sessions, dtype=bool)

    def act(self, state: PlayerState) -> np.ndarray:
        bola = self.bola.act(state)
        throughput = highest_level_below(
            state.bitrates_kbps, self.safety * harmonic_mean_kbps(state)
        )
        low = state.buffer_s < self.switch_buffer_s
        leave = self.using_bola & low & (bola < throughput)
        enter = ~self.using_bola & ~low & (bola >= throughput)
        self.using_bola = (self.using_bola & ~leave) | enter
        return np.where(self.using_bola, bola, throughput)
