"""RobustMPC (`abr/policies/mpc.py`) in torch, for a trainer whose sessions live on a device:
`robust_mpc_from_history` — the error memory rebuilt from each player's history, then the plan
over every level combination — as tensor operations over sessions × combinations, with the same
exact sums and the same tie rule. Equal to the numpy policy on the same states
(tests/policies/test_torch_mpc.py)."""

from __future__ import annotations

import torch

from abr.media.video import Video
from abr.player.qoe import Qoe
from abr.player.torch_observation import robust_throughputs_kbps
from abr.policies.mpc import SESSION_BLOCK, UTILITY_GRID, planning_horizon
from abr.sim.device_arrays import on_device
from abr.units import BITS_PER_BYTE, BITS_PER_KBIT


def torch_robust_mpc_from_history(
    throughput_kbps: torch.Tensor,
    history_count: torch.Tensor,
    buffer_s: torch.Tensor,
    last_level: torch.Tensor,
    chunk: torch.Tensor,
    video: Video,
    qoe: Qoe,
    horizon: int = 5,
    window: int = 5,
) -> torch.Tensor:
    """Levels [N]: RobustMPC's decision for every player, its error memory rebuilt from the
    player's history (throughputs [N, W], most recent last) as if it had decided every chunk of
    it — exact when the history reaches back to the first chunk."""
    n, width = throughput_kbps.shape
    device, dtype = throughput_kbps.device, throughput_kbps.dtype
    memory = _ErrorMemory(n, window, device, dtype)
    for seen in range(1, width):  # the decisions made before this one
        replaying = history_count > seen
        seen_now = torch.clamp(history_count, max=seen)
        memory.predict(_prefix(throughput_kbps, history_count, seen_now), seen_now, replaying)
    everyone = torch.ones(n, dtype=torch.bool, device=device)
    predicted_kbps = memory.predict(
        _prefix(throughput_kbps, history_count, history_count), history_count, everyone
    )
    bytes_per_s = torch.clamp(predicted_kbps * BITS_PER_KBIT / BITS_PER_BYTE, min=1e-9)
    levels = torch.empty(n, dtype=torch.int64, device=device)
    for start in range(0, n, SESSION_BLOCK):
        block = slice(start, start + SESSION_BLOCK)
        levels[block] = _plan(
            buffer_s[block],
            last_level[block],
            chunk[block],
            bytes_per_s[block],
            video,
            qoe,
            horizon,
        )
    return levels


class _ErrorMemory:
    """RobustMPC's per-player prediction errors (the last `window`) and last prediction."""

    def __init__(self, n: int, window: int, device: torch.device, dtype: torch.dtype) -> None:
        self.window = window
        self.errors = torch.zeros((n, window), dtype=dtype, device=device)  # most recent last
        self.count = torch.zeros(n, dtype=torch.int64, device=device)
        self.last_prediction_kbps = torch.full((n,), float("nan"), dtype=dtype, device=device)

    def predict(
        self, throughput_kbps: torch.Tensor, history_count: torch.Tensor, update: torch.Tensor
    ) -> torch.Tensor:
        """The robust prediction [N]; the memory moves on only where `update`."""
        observed = throughput_kbps[:, -1]
        has_prediction = ~torch.isnan(self.last_prediction_kbps)
        safe_observed = torch.where(observed > 0, observed, 1.0)
        error = torch.where(
            has_prediction & (observed > 0),
            torch.abs(self.last_prediction_kbps - observed) / safe_observed,
            0.0,
        )
        errors = torch.cat([self.errors[:, 1:], error[:, None]], dim=1)
        count = torch.clamp(self.count + 1, max=self.window)
        column = torch.arange(self.window, device=errors.device)[None, :]
        recent = column >= self.window - count[:, None]
        max_error = torch.where(recent, errors, 0.0).max(dim=1).values
        harmonic, _ = robust_throughputs_kbps(throughput_kbps, history_count, self.window)
        self.errors = torch.where(update[:, None], errors, self.errors)
        self.count = torch.where(update, count, self.count)
        self.last_prediction_kbps = torch.where(update, harmonic, self.last_prediction_kbps)
        return harmonic / (1.0 + max_error)


def _prefix(
    throughput_kbps: torch.Tensor, history_count: torch.Tensor, seen: torch.Tensor
) -> torch.Tensor:
    """Every player's throughputs when only the first `seen[i]` of its history existed: those
    entries, most recent last, after zeros."""
    width = throughput_kbps.shape[1]
    column = torch.arange(width, device=throughput_kbps.device)[None, :]
    start = (width - history_count)[:, None]  # where each player's real entries begin
    shown = column >= width - seen[:, None]
    source = torch.clamp(start + column - (width - seen[:, None]), 0, width - 1)
    return torch.where(shown, torch.gather(throughput_kbps, 1, source), 0.0)


def _plan(
    buffer_s: torch.Tensor,
    last_level: torch.Tensor,
    chunk_index: torch.Tensor,
    bytes_per_s: torch.Tensor,
    video: Video,
    qoe: Qoe,
    horizon: int,
) -> torch.Tensor:
    """The first level of the best combination (ties to the last), as `RobustMpc._plan`."""
    device, dtype = buffer_s.device, buffer_s.dtype
    n, n_levels = len(buffer_s), video.n_levels
    scale = 1000.0 if qoe.name == "lin" else UTILITY_GRID
    grid_utility = torch.round(on_device(qoe.utility, device, dtype) * scale)
    sizes_bytes = on_device(video.sizes_bytes, device, dtype)  # [L, K]
    buffer = buffer_s[:, None]  # [n, C] with C = L^p after p positions
    utility_sum = torch.zeros((n, 1), dtype=dtype, device=device)
    switch_sum = torch.zeros_like(utility_sum)
    rebuffer = torch.zeros_like(utility_sum)
    previous = grid_utility[last_level][:, None]
    planned = planning_horizon(horizon, n_levels)
    for position in range(planned):
        chunk = chunk_index + position
        active = (chunk < video.n_chunks)[:, None, None]  # positions past the end count 0
        sizes = sizes_bytes[:, torch.clamp(chunk, max=video.n_chunks - 1)].T  # [n, L]
        download_s = (sizes / bytes_per_s[:, None])[:, None, :]  # [n, 1, L]
        buffer_before = buffer[:, :, None]  # [n, C, 1]
        utility = grid_utility[None, None, :]
        step_switch = torch.abs(utility - previous[:, :, None])
        step_rebuffer = torch.clamp(download_s - buffer_before, min=0.0)
        utility_sum = utility_sum[:, :, None] + torch.where(active, utility, 0.0)
        switch_sum = switch_sum[:, :, None] + torch.where(active, step_switch, 0.0)
        rebuffer = rebuffer[:, :, None] + torch.where(active, step_rebuffer, 0.0)
        buffer = torch.where(
            active,
            torch.clamp(buffer_before - download_s, min=0.0) + video.chunk_s,
            buffer_before,
        )
        previous = torch.where(active, utility, previous[:, :, None])
        utility_sum, switch_sum = utility_sum.reshape(n, -1), switch_sum.reshape(n, -1)
        rebuffer, buffer = rebuffer.reshape(n, -1), buffer.reshape(n, -1)
        previous = previous.reshape(n, -1)
    reward = utility_sum / scale - qoe.rebuffer_penalty * rebuffer - switch_sum / scale
    combos = reward.shape[1]
    best = combos - 1 - torch.argmax(torch.flip(reward, dims=[1]), dim=1)  # the last maximum
    return best // n_levels ** (planned - 1)
