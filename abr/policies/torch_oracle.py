"""The future-aware teacher's lookahead (`abr/policies/oracle.py`) in torch, on the simulator's
device: every plan of the next `horizon` chunks for every session expanded as one batch of
simulated downloads per chunk (sessions x L^k plans), so a GPU labels thousands of states in a
few large tensor operations. The same plans, the same exact semantics and the same scores as the
numpy planner (tests/policies/test_torch_oracle.py)."""

from __future__ import annotations

import torch

from abr.player.qoe import Qoe
from abr.sim.device_arrays import on_device
from abr.sim.torch_simulator import TorchSimulator


def torch_lookahead_values(
    sim: TorchSimulator, metric: Qoe, horizon: int, buffer_value: float
) -> torch.Tensor:
    """[N, L]: for every session of `sim` (each below the video's last chunk) and every first
    level, the score of the best plan that starts with it (QoE over the planned chunks, fewer
    near the video's end, plus `buffer_value` per second of buffer left); `sim` is left as it
    is. Every session plans `horizon` positions; those past the video's end change nothing,
    so each plan scores as the numpy planner's shorter one, with no read back to the host."""
    n_levels, n_chunks = sim.video.n_levels, sim.video.n_chunks
    utility = on_device(metric.utility, sim.device, sim.dtype)
    state = {
        name: getattr(sim, name)
        for name in ("trace", "ptr", "clock_s", "buffer_s", "chunk", "last_level")
    }
    value = torch.zeros(sim.n_sessions, dtype=sim.dtype, device=sim.device)
    for _ in range(horizon):
        m = len(value)
        level = torch.arange(n_levels, device=sim.device).repeat(m)  # [m * L], prefix-major
        parent = torch.arange(m, device=sim.device).repeat_interleave(n_levels)
        before = {name: array[parent] for name, array in state.items()}
        active = before["chunk"] < n_chunks
        branch = TorchSimulator(sim.tables, sim.video, m * n_levels, "eval", sim.config)
        branch.load_state(**{**before, "chunk": torch.clamp(before["chunk"], max=n_chunks - 1)})
        result = branch.step(level)
        quality = utility[level]
        gain = (
            quality
            - metric.rebuffer_penalty * result.rebuffer_s
            - torch.abs(quality - utility[before["last_level"]])
        )
        value = value[parent] + torch.where(active, gain, 0.0)
        after = {
            "ptr": branch.ptr,
            "clock_s": branch.clock_s,
            "buffer_s": branch.buffer_s,
            "chunk": before["chunk"] + 1,
            "last_level": level,
        }
        state = {
            name: torch.where(active, after[name], array) if name in after else array
            for name, array in before.items()
        }
    score = value + buffer_value * state["buffer_s"]
    return score.reshape(sim.n_sessions, n_levels, -1).max(dim=2).values
