"""The offline optimum: with the whole trace known and no noise, the level sequence that
maximises a trace's QoE under the simulator's exact semantics and the evaluation protocol.

Dynamic programming over chunks. A DP state is a real simulated session after chunk k (its trace
clock, buffer, last level) with its QoE so far. Every state is expanded with every level through
the simulator itself (`BatchSimulator.load_state` + `step`), so every value the DP holds is the
exact QoE of a playable sequence, and its answer is a lower bound on the true optimum.

The discretisation: states are grouped in cells of (trace, last level, elapsed trace time //
`time_bin_s`). Within a cell a state is dropped when another has at least its QoE so far and at
least its QoE + mu * buffer_s (mu: the rebuffer penalty): a second of extra buffer saves at most
one second of future rebuffering, so from the same trace position the other state does at least
as well with the same actions. That argument is exact but for two gaps, which are the whole
discretisation error: states in one cell may stand up to `time_bin_s` apart on the trace, and
extra buffer can change later sleeps (and so the trace position). Neither has a closed-form
bound; we bound it empirically: the DP matches exhaustive search on small instances
(tests/policies/test_optimal.py), and docs/design.md gives the set's mean as `time_bin_s` goes
from 4 s to 1 s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from abr.media.traces import Trace
from abr.media.video import Video
from abr.player.qoe import make_qoe
from abr.player.state import PlayerState
from abr.sim.config import SimConfig
from abr.sim.simulator import Backend, BatchSimulator
from abr.sim.trace_table import TraceTable


@dataclass(frozen=True)
class OptimalPlan:
    levels: np.ndarray  # [T, K] int64: the best sequence per trace (chunk 0 at the default level)
    qoe_sum: np.ndarray  # [T] the DP's QoE over chunks 2..K (exact for that sequence)
    states_per_stage: int  # the largest number of DP states kept at one stage


def plan_optimal(
    traces: Sequence[Trace] | TraceTable,
    video: Video,
    qoe: str = "lin",
    config: SimConfig | None = None,
    time_bin_s: float = 2.0,
    backend: Backend = "auto",
) -> OptimalPlan:
    config = config or SimConfig()
    table = (
        traces
        if isinstance(traces, TraceTable)
        else TraceTable.build(traces, config.payload_fraction)
    )
    metric = make_qoe(qoe, video.bitrates_kbps)
    n_traces, n_levels = table.n_traces, video.n_levels
    # stage 0: chunk 0 at the default level, from an empty buffer (not scored)
    sim = BatchSimulator(table, video, n_traces, "eval", config, backend=backend)
    first = sim.step(np.full(n_traces, config.default_level))
    trace = np.arange(n_traces)
    ptr, clock_s, buffer_s = sim.ptr.copy(), sim.clock_s.copy(), sim.buffer_s.copy()
    last = np.full(n_traces, config.default_level, dtype=np.int64)
    value = np.zeros(n_traces)
    elapsed_s = first.transfer_s + first.sleep_s
    parents: list[np.ndarray] = []
    chosen: list[np.ndarray] = []
    largest = n_traces
    for chunk in range(1, video.n_chunks):
        m = len(trace)
        levels = np.tile(np.arange(n_levels), m)
        origin = np.repeat(np.arange(m), n_levels)
        step_sim = BatchSimulator(
            table, video, m * n_levels, "eval", config, backend=backend, start=False
        )
        step_sim.load_state(
            trace[origin],
            ptr[origin],
            clock_s[origin],
            buffer_s[origin],
            np.full(m * n_levels, chunk),
            last[origin],
        )
        result = step_sim.step(levels)
        gained = metric.per_chunk(levels, last[origin], result.rebuffer_s)
        candidates = _Candidates(
            trace[origin],
            step_sim.ptr,
            step_sim.clock_s,
            step_sim.buffer_s,
            levels,
            value[origin] + gained,
            elapsed_s[origin] + result.transfer_s + result.sleep_s,
            origin,
        )
        keep = candidates.best_per_cell(time_bin_s, metric.rebuffer_penalty)
        trace, ptr, clock_s = candidates.trace[keep], candidates.ptr[keep], candidates.clock_s[keep]
        buffer_s, last, value = (
            candidates.buffer_s[keep],
            candidates.level[keep],
            candidates.value[keep],
        )
        elapsed_s = candidates.elapsed_s[keep]
        parents.append(candidates.origin[keep])
        chosen.append(last)
        largest = max(largest, len(trace))
    return _backtrack(trace, value, parents, chosen, n_traces, video.n_chunks, config, largest)


@dataclass(frozen=True)
class _Candidates:
    trace: np.ndarray
    ptr: np.ndarray
    clock_s: np.ndarray
    buffer_s: np.ndarray
    level: np.ndarray
    value: np.ndarray
    elapsed_s: np.ndarray
    origin: np.ndarray

    def best_per_cell(self, time_bin_s: float, rebuffer_penalty: float) -> np.ndarray:
        """Indices of the candidates kept for the next stage.

        Candidates in the same (trace, level, time bin) cell are compared on two numbers: the
        QoE so far, and the QoE so far plus `mu * buffer_s`. One is dropped when another is at
        least as high on both: extra buffer can save at most `mu` per second of it in future
        rebuffering (from the same trace position, with the same actions), so the other is at
        least as good whatever comes next, up to the width of the time bin and a difference in
        later sleeps.
        """
        time_cell = np.floor(self.elapsed_s / time_bin_s).astype(np.int64)
        n_levels = int(self.level.max()) + 1
        cell = (self.trace * n_levels + self.level) * (int(time_cell.max()) + 1) + time_cell
        potential = self.value + rebuffer_penalty * self.buffer_s
        order = np.lexsort((-self.value, -potential, cell))
        starts = np.ones(len(order), dtype=bool)
        starts[1:] = cell[order][1:] != cell[order][:-1]
        best_before = _group_running_max(self.value[order], np.cumsum(starts) - 1, starts)
        return order[self.value[order] > best_before]


def _group_running_max(values: np.ndarray, group_id: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """For each position, the max of earlier values in its group (-inf for a group's first)."""
    span = float(values.max() - values.min()) + 1.0
    shifted = values + group_id * span  # later groups lie entirely above earlier ones
    running = np.maximum.accumulate(shifted)
    previous = np.concatenate(([-np.inf], running[:-1]))
    previous[starts] = -np.inf
    return previous - group_id * span


def _backtrack(
    trace: np.ndarray,
    value: np.ndarray,
    parents: list[np.ndarray],
    chosen: list[np.ndarray],
    n_traces: int,
    n_chunks: int,
    config: SimConfig,
    largest: int,
) -> OptimalPlan:
    best_state = np.full(n_traces, -1, dtype=np.int64)
    best_value = np.full(n_traces, -np.inf)
    order = np.lexsort((-value, trace))
    first = np.ones(len(order), dtype=bool)
    first[1:] = trace[order][1:] != trace[order][:-1]
    best_state[trace[order[first]]] = order[first]
    best_value[trace[order[first]]] = value[order[first]]
    levels = np.full((n_traces, n_chunks), config.default_level, dtype=np.int64)
    index = best_state
    for stage in range(len(chosen) - 1, -1, -1):
        levels[:, stage + 1] = chosen[stage][index]
        index = parents[stage][index]
    return OptimalPlan(levels, best_value, largest)


class OfflineOptimal:
    """The optimum as a policy: it plans every trace at reset and replays the plan."""

    name = "optimal"

    def __init__(
        self, qoe: str = "lin", time_bin_s: float = 2.0, config: SimConfig | None = None
    ) -> None:
        self.qoe, self.time_bin_s, self.config = qoe, time_bin_s, config

    def reset(self, n_sessions: int, video: Video, traces: Sequence[Trace] | None = None) -> None:
        if traces is None or len(traces) != n_sessions:
            raise ValueError("the offline optimum needs the trace of every session at reset")
        self.plan = plan_optimal(traces, video, self.qoe, self.config, self.time_bin_s)

    def act(self, state: PlayerState) -> np.ndarray:
        return self.plan.levels[np.arange(state.n_sessions), state.chunk_index]
