"""Policy speed: decisions per second of `policy.act` (encoding included) at given batch sizes,
on player states taken from the simulator part-way through real traces."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from abr.bench.sim_speed import best_rate
from abr.media.traces import Trace
from abr.media.video import Video
from abr.player.state import PlayerState
from abr.policies.base import Policy
from abr.sim.simulator import BatchSimulator

DEFAULT_BATCH_SIZES = (1, 1024)


def mid_video_state(traces: Sequence[Trace], video: Video, n_sessions: int) -> PlayerState:
    """The players' state after 10 chunks at random levels: full history, a real buffer."""
    sim = BatchSimulator(traces, video, n_sessions, mode="eval", seed=0)
    rng = np.random.default_rng(0)
    for _ in range(10):
        sim.step(rng.integers(0, video.n_levels, n_sessions))
    return sim.player_state()


def decisions_per_s(
    policy: Policy, traces: Sequence[Trace], video: Video, batch_size: int, min_seconds: float
) -> float:
    state = mid_video_state(traces, video, batch_size)
    policy.reset(batch_size, video, None)

    def decide() -> int:
        policy.act(state)
        return batch_size

    return best_rate(decide, min_seconds)
