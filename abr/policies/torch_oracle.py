"""The future-aware teacher's lookahead (`abr/policies/oracle.py`) in torch, on the simulator's
device: every plan of the next `horizon` chunks for every session expanded as one batch of
simulated downloads per chunk (sessions x L^k plans), so a GPU labels thousands of states in a
few large tensor operations. The same plans, the same exact semantics and the same scores as the
numpy planner (tests/policies/test_torch_oracle.py)."""

from __future__ import annotations

import torch

from abr.player.qoe import Qoe
from abr.sim.torch_simulator import TorchSimulator


def torch_lookahead_values(
    sim: TorchSimulator, metric: Qoe, horizon: int, buffer_value: float
) -> torch.Tensor:
    """[N, L]: for every session of `sim` and every first level, the score of the best plan that
    starts with it (QoE over the planned chunks, fewer near the video's end, plus
    `buffer_value` per second of buffer left); `sim` is left as it is."""
    n_levels, n_chunks = sim.video.n_levels, sim.video.n_chunks
    utility = torch.as_tensor(metric.utility, dtype=sim.dtype, device=sim.device)
    values = torch.empty((sim.n_sessions, n_levels), dtype=sim.dtype, device=sim.device)
    steps = torch.clamp(n_chunks - sim.chunk, max=horizon)
    for planned in torch.unique(steps).tolist():
        group = torch.nonzero(steps == planned).squeeze(1)
        values[group] = _plan(sim, group, int(planned), utility, metric, buffer_value)
    return values


def _plan(
    sim: TorchSimulator,
    group: torch.Tensor,
    planned: int,
    utility: torch.Tensor,
    metric: Qoe,
    buffer_value: float,
) -> torch.Tensor:
    n, n_levels = len(group), sim.video.n_levels
    state = {
        name: getattr(sim, name)[group]
        for name in ("trace", "ptr", "clock_s", "buffer_s", "chunk", "last_level")
    }
    value = torch.zeros(n, dtype=sim.dtype, device=sim.device)
    for _ in range(planned):
        m = len(value)
        level = torch.arange(n_levels, device=sim.device).repeat(m)  # [m * L], prefix-major
        parent = torch.arange(m, device=sim.device).repeat_interleave(n_levels)
        branch = TorchSimulator(sim.tables, sim.video, m * n_levels, "eval", sim.config)
        branch.load_state(**{name: array[parent] for name, array in state.items()})
        result = branch.step(level)
        previous = state["last_level"][parent]
        quality = utility[level]
        value = (
            value[parent]
            + quality
            - metric.rebuffer_penalty * result.rebuffer_s
            - torch.abs(quality - utility[previous])
        )
        state = {
            "trace": branch.trace,
            "ptr": branch.ptr,
            "clock_s": branch.clock_s,
            "buffer_s": branch.buffer_s,
            "chunk": branch.chunk,
            "last_level": level,
        }
    score = (value + buffer_value * state["buffer_s"]).reshape(n, n_levels, -1)
    return score.max(dim=2).values
