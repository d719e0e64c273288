"""A future-aware teacher (`oracle`): from any simulator state, the level whose best
continuation over the next `horizon` chunks scores the most QoE, given the true future trace.

Every sequence of levels for the next `horizon` chunks (L^horizon of them, fewer near the end of
the video) is played through the simulator itself from the session's exact state — trace clock
and sample, buffer, last level, chunk — with its semantics (trace walk, RTT, buffer cap and
sleep) and no noise; a sequence scores its per-chunk QoE plus `buffer_value` QoE per second of
buffer left at its end (a terminal term: a myopic plan would otherwise drain the buffer it does
not see the use of). The first level of the best sequence is the decision; ties go to the first
sequence. The plans are a prefix tree expanded chunk by chunk, vectorised over sessions and
sequences, so one decision costs about L + L^2 + … + L^horizon simulated chunk downloads.

Why an exhaustive short lookahead rather than a full-horizon search: it labels any state the
learner visits, in any mode, at a cost that does not depend on the video's length, and with a
terminal buffer term it scores close to the offline optimum on the protocol's traces.

As a policy it tracks each session's simulator state with a shadow simulator of its own (it gets
the traces at reset, like `optimal`), which is exact in evaluation mode; `lookahead_levels`
labels the sessions of any simulator, training mode included.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from abr.media.traces import Trace
from abr.media.video import Video
from abr.player.qoe import Qoe, make_qoe
from abr.player.state import PlayerState
from abr.sim.config import SimConfig
from abr.sim.simulator import BatchSimulator
from abr.sim.trace_table import TraceTable

DEFAULT_HORIZON = 5  # chunks (chosen on validation folders; docs/results.md)
DEFAULT_BUFFER_VALUE = 0.1  # QoE per second of buffer left at the end of a plan


def lookahead_levels(
    sim: BatchSimulator,
    metric: Qoe,
    horizon: int = DEFAULT_HORIZON,
    buffer_value: float | np.ndarray = DEFAULT_BUFFER_VALUE,
) -> np.ndarray:
    """The best first level [N] for every session of `sim` at its current state (each below the
    video's last chunk); `sim` itself is left as it is. Ties go to the lower level."""
    values = lookahead_values(sim, metric, horizon, buffer_value)
    return np.argmax(values, axis=1).astype(np.int64)


def lookahead_values(
    sim: BatchSimulator,
    metric: Qoe,
    horizon: int = DEFAULT_HORIZON,
    buffer_value: float | np.ndarray = DEFAULT_BUFFER_VALUE,
) -> np.ndarray:
    """[N, L]: for every session of `sim` and every first level, the score of the best plan
    that starts with that level (QoE over the planned chunks plus the terminal buffer term;
    `buffer_value` one for all sessions or [N], one each)."""
    values = np.empty((sim.n_sessions, sim.video.n_levels))
    per_session = np.broadcast_to(np.asarray(buffer_value, dtype=np.float64), (sim.n_sessions,))
    steps = np.minimum(horizon, sim.video.n_chunks - sim.chunk)  # fewer chunks near the end
    for planned in np.unique(steps):
        group = np.flatnonzero(steps == planned)
        at = (sim.trace, sim.ptr, sim.clock_s, sim.buffer_s, sim.chunk)
        values[group] = _plan(
            sim.table,
            sim.video,
            metric,
            sim.config,
            tuple(array[group] for array in at),
            sim.last_level[group],
            int(planned),
            per_session[group],
        )
    return values


def _plan(
    table: TraceTable,
    video: Video,
    metric: Qoe,
    config: SimConfig,
    at: tuple[np.ndarray, ...],
    last_level: np.ndarray,
    planned: int,
    buffer_value: np.ndarray,  # [n] each session's QoE per second of buffer left
) -> np.ndarray:
    n, n_levels = len(last_level), video.n_levels
    trace, ptr, clock_s, buffer_s, chunk = at
    value = np.zeros(n)  # [m] the QoE of each prefix so far
    origin = np.arange(n)  # [m] the session each prefix plans for
    last = last_level
    for _ in range(planned):
        m = len(origin)
        level = np.tile(np.arange(n_levels), m)  # [m * L], prefix-major
        parent = np.repeat(np.arange(m), n_levels)
        sim = BatchSimulator(table, video, m * n_levels, "eval", config, start=False)
        sim.load_state(
            trace[parent],
            ptr[parent],
            clock_s[parent],
            buffer_s[parent],
            chunk[parent],
            last[parent],
        )
        result = sim.step(level)
        value = value[parent] + metric.per_chunk(level, last[parent], result.rebuffer_s)
        origin, last = origin[parent], level
        trace, ptr, clock_s = sim.trace, sim.ptr, sim.clock_s
        buffer_s, chunk = sim.buffer_s, sim.chunk
    score = value + buffer_value[origin] * buffer_s
    score = score.reshape(n, n_levels, n_levels ** (planned - 1))
    return score.max(axis=2)  # [n, L]: the best continuation of each first level


class FutureAwareOracle:
    """`oracle[:H[:V]]` on the command line: the lookahead teacher as a batched policy."""

    def __init__(
        self,
        horizon: int = DEFAULT_HORIZON,
        buffer_value: float = DEFAULT_BUFFER_VALUE,
        qoe: str = "lin",
        config: SimConfig | None = None,
    ) -> None:
        if horizon < 1:
            raise ValueError(f"oracle horizon must be at least 1 chunk, got {horizon}")
        if not buffer_value >= 0.0:
            raise ValueError(f"oracle buffer value must be at least 0, got {buffer_value}")
        self.horizon, self.buffer_value, self.qoe_name = horizon, buffer_value, qoe
        self.config = config or SimConfig()
        self.name = _name(horizon, buffer_value)

    def reset(self, n_sessions: int, video: Video, traces: Sequence[Trace] | None = None) -> None:
        if traces is None or len(traces) != n_sessions:
            raise ValueError("the oracle needs each session's trace (session i plays trace i)")
        self.video = video
        self.metric = make_qoe(self.qoe_name, video.bitrates_kbps)
        self.table = TraceTable.build(traces, self.config.payload_fraction)
        self.shadow = BatchSimulator(self.table, video, n_sessions, "eval", self.config)

    def act(self, state: PlayerState) -> np.ndarray:
        shadow = self.shadow
        behind = state.chunk_index - shadow.chunk
        if not (np.all(behind == 0) or np.all(behind == 1)):
            raise ValueError("the oracle must be asked for every chunk after the first, in step")
        if behind[0] == 1:  # replay the chunk the sessions just fetched, exactly
            shadow.step(state.last_level)
        return lookahead_levels(shadow, self.metric, self.horizon, self.buffer_value)


def _name(horizon: int, buffer_value: float) -> str:
    """As `abr bench` is asked for it: `oracle`, `oracle:H` or `oracle:H:V`."""
    if buffer_value != DEFAULT_BUFFER_VALUE:
        return f"oracle:{horizon}:{buffer_value:g}"
    return "oracle" if horizon == DEFAULT_HORIZON else f"oracle:{horizon}"
