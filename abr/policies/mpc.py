"""RobustMPC (Yin et al., SIGCOMM 2015), as defined in docs/design.md.

Throughput prediction: the harmonic mean of the last 5 chunk throughputs, divided by
1 + the largest relative prediction error of the last 5 decisions (an error is
|previous prediction - throughput then observed| / observed; the first decision of a session
records 0). Planning: every combination of levels for the next `horizon` chunks (fewer near the
end), played through a buffer model without RTT or cap, scored with the session's QoE; the first
level of the best combination is chosen, ties going to the last combination in
`itertools.product` order. Unlike Pensieve's `test/mpc.py`, the lookahead reads the sizes of the
chunks it plans (not one chunk further on) and errors start afresh with each session.

The lookahead shrinks with the ladder so that a decision never plans more than `MAX_PLANS`
combinations: `horizon` chunks while L^horizon <= 6^5, else the largest h with L^h <= 6^5 (one
chunk at least). Ladders of up to 6 rungs plan 5 chunks as Pensieve does; 7-9 rungs plan 4,
10-19 plan 3, 20-88 plan 2, more plan 1.

Vectorised over sessions and combinations: the combinations are a tree expanded level by level,
so the buffer after a prefix is computed once for all combinations that share it. As in Pensieve's
mpc.py, bitrate and switch terms are summed exactly (in kbps for `lin`, on a 2^-20 grid for the
other QoEs) and combined at the end as `sum_q / scale - mu * rebuffer - sum_switch / scale`, so
combinations with the same sums tie exactly (5,5,4,5,5 and 4,5,5,5,5) whatever their order, and
the tie rule decides between them rather than rounding noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from abr.media.traces import Trace
from abr.media.video import Video
from abr.player.qoe import Qoe, make_qoe
from abr.player.state import PlayerState
from abr.player.throughput import harmonic_mean_kbps
from abr.units import BITS_PER_BYTE, BITS_PER_KBIT

SESSION_BLOCK = 256  # sessions planned at once: bounds memory at [256, MAX_PLANS] floats
# The most level combinations planned per decision: 6^5, the full 5-chunk lookahead on a 6-rung
# ladder. Larger ladders plan fewer chunks ahead (planning_horizon), so a decision's work and
# memory stay bounded whatever the ladder.
MAX_PLANS = 6**5
UTILITY_GRID = 2.0**20  # utility units per 1; sums of grid values are exact in float64


class RobustMpc:
    name = "mpc"
    # what it keeps per session between decisions (a session store saves and restores these)
    session_state = ("last_prediction_kbps", "errors", "error_count")

    def __init__(self, horizon: int = 5, qoe: str = "lin", window: int = 5) -> None:
        self.horizon, self.qoe_name, self.window = horizon, qoe, window

    def reset(self, n_sessions: int, video: Video, traces: Sequence[Trace] | None = None) -> None:
        self.video = video
        self.plan_horizon = planning_horizon(self.horizon, video.n_levels)
        self.qoe: Qoe = make_qoe(self.qoe_name, video.bitrates_kbps)
        # lin utilities are kbps / 1000: summing kbps is exact, as Pensieve's mpc.py does
        self.utility_scale = 1000.0 if self.qoe_name == "lin" else UTILITY_GRID
        self.last_prediction_kbps = np.full(n_sessions, np.nan)
        self.errors = np.zeros((n_sessions, self.window))  # most recent last
        self.error_count = np.zeros(n_sessions, dtype=np.int64)

    def predict_kbps(self, state: PlayerState) -> np.ndarray:
        observed = state.throughput_kbps[:, -1]
        has_prediction = ~np.isnan(self.last_prediction_kbps)
        error = np.where(
            has_prediction & (observed > 0),
            np.abs(self.last_prediction_kbps - observed) / np.where(observed > 0, observed, 1.0),
            0.0,
        )
        self.errors[:, :-1] = self.errors[:, 1:]
        self.errors[:, -1] = error
        self.error_count = np.minimum(self.error_count + 1, self.window)
        recent = np.arange(self.window)[None, :] >= self.window - self.error_count[:, None]
        max_error = np.where(recent, self.errors, 0.0).max(axis=1)
        harmonic = harmonic_mean_kbps(state, self.window)
        self.last_prediction_kbps = harmonic
        return harmonic / (1.0 + max_error)

    def act(self, state: PlayerState) -> np.ndarray:
        bytes_per_s = self.predict_kbps(state) * BITS_PER_KBIT / BITS_PER_BYTE
        levels = np.empty(state.n_sessions, dtype=np.int64)
        for start in range(0, state.n_sessions, SESSION_BLOCK):
            block = slice(start, start + SESSION_BLOCK)
            levels[block] = self._plan(
                state.buffer_s[block],
                state.last_level[block],
                state.chunk_index[block],
                np.maximum(bytes_per_s[block], 1e-9),
            )
        return levels

    def _plan(
        self,
        buffer_s: np.ndarray,
        last_level: np.ndarray,
        chunk_index: np.ndarray,
        bytes_per_s: np.ndarray,
    ) -> np.ndarray:
        video, qoe = self.video, self.qoe
        n, n_levels = len(buffer_s), video.n_levels
        scale = self.utility_scale
        grid_utility = np.round(qoe.utility * scale)  # [L], exact integers
        buffer = buffer_s[:, None]  # [n, C] with C = L^p after p positions
        utility_sum = np.zeros((n, 1))  # grid units
        switch_sum = np.zeros((n, 1))  # grid units
        rebuffer = np.zeros((n, 1))  # seconds
        previous = grid_utility[last_level][:, None]
        for position in range(self.plan_horizon):
            chunk = chunk_index + position
            active = (chunk < video.n_chunks)[:, None, None]  # positions past the end count 0
            sizes = video.sizes_bytes[:, np.minimum(chunk, video.n_chunks - 1)].T  # [n, L]
            download_s = (sizes / bytes_per_s[:, None])[:, None, :]  # [n, 1, L]
            buffer_before = buffer[:, :, None]  # [n, C, 1]
            utility = grid_utility[None, None, :]
            step_switch = np.abs(utility - previous[:, :, None])
            step_rebuffer = np.maximum(download_s - buffer_before, 0.0)
            utility_sum = utility_sum[:, :, None] + np.where(active, utility, 0.0)  # [n, C, L]
            switch_sum = switch_sum[:, :, None] + np.where(active, step_switch, 0.0)
            rebuffer = rebuffer[:, :, None] + np.where(active, step_rebuffer, 0.0)
            buffer = np.where(
                active, np.maximum(buffer_before - download_s, 0.0) + video.chunk_s, buffer_before
            )
            previous = np.where(active, utility, previous[:, :, None])
            utility_sum, switch_sum = utility_sum.reshape(n, -1), switch_sum.reshape(n, -1)
            rebuffer, buffer = rebuffer.reshape(n, -1), buffer.reshape(n, -1)
            previous = previous.reshape(n, -1)
        reward = utility_sum / scale - qoe.rebuffer_penalty * rebuffer - switch_sum / scale
        combos = reward.shape[1]
        best = combos - 1 - np.argmax(reward[:, ::-1], axis=1)  # the last of equal maxima
        return (best // n_levels ** (self.plan_horizon - 1)).astype(np.int64)


def planning_horizon(horizon: int, n_levels: int) -> int:
    """The chunks planned ahead on a ladder of `n_levels`: at most `horizon`, and no more than
    `MAX_PLANS` level combinations."""
    planned = 1
    while planned < horizon and n_levels ** (planned + 1) <= MAX_PLANS:
        planned += 1
    return planned


def plans_per_decision(horizon: int, n_levels: int) -> int:
    """Level combinations scored for one decision (its work, in plans)."""
    return int(n_levels ** planning_horizon(horizon, n_levels))


def robust_mpc_from_history(state: PlayerState, video: Video, qoe: str = "lin") -> np.ndarray:
    """RobustMPC with its prediction-error memory rebuilt from each player's history, as if it
    had decided every chunk of it: exact when the history reaches back to the first chunk.
    All players at once: step k replays every player's k-th decision, and a player whose
    history is shorter keeps the memory it had."""
    counts = state.history_count
    mpc = RobustMpc(qoe=qoe)
    mpc.reset(state.n_sessions, video)
    for seen in range(1, int(counts.max(initial=0))):  # the decisions made before this one
        replaying = counts > seen
        kept = (mpc.errors.copy(), mpc.error_count.copy(), mpc.last_prediction_kbps.copy())
        mpc.predict_kbps(_prefix_state(state, np.minimum(counts, seen)))
        mpc.errors[~replaying], mpc.error_count[~replaying] = (
            kept[0][~replaying],
            kept[1][~replaying],
        )
        mpc.last_prediction_kbps[~replaying] = kept[2][~replaying]
    return mpc.act(_prefix_state(state, counts))


def _prefix_state(state: PlayerState, seen: np.ndarray) -> PlayerState:
    """Every player's state when only the first `seen[i]` of its history entries existed: those
    entries, most recent last, after zeros."""
    width = state.throughput_kbps.shape[1]
    column = np.arange(width)[None, :]  # [1, W]
    start = (width - state.history_count)[:, None]  # where each player's real entries begin
    shown = column >= width - seen[:, None]  # the last `seen` columns hold the first entries
    source = np.clip(start + column - (width - seen[:, None]), 0, width - 1)
    throughput = np.where(shown, np.take_along_axis(state.throughput_kbps, source, 1), 0.0)
    return replace(state, throughput_kbps=throughput, history_count=seen.astype(np.int64))
