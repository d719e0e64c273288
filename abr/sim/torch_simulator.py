"""The batched simulator in torch, on any torch device: `BatchSimulator`'s semantics and state
(abr/sim/simulator.py has the contract), with every array a tensor that stays on the device, so
that a trainer on a GPU steps thousands of sessions without a round trip to the host.

The one method that differs is the search "first sample of trace t whose cumulative bytes (or
cycle time) exceed x": torch has no complex-number `searchsorted` (the numpy path's way to search
all traces at once), so each session bisects its own trace's range, a fixed number of halvings
for all (as the numba kernel bisects). Held equal to the numpy simulator and the scalar reference
by tests/sim/test_torch_simulator.py (float64, rel 1e-9).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

from abr.media.traces import Trace
from abr.media.video import Video
from abr.player.state import PlayerState, player_state
from abr.player.torch_observation import TorchEncoder
from abr.sim.config import SimConfig
from abr.sim.device_arrays import on_device, restore_tensors
from abr.sim.simulator import Mode
from abr.sim.trace_table import TraceTable
from abr.units import BITS_PER_BYTE, BITS_PER_KBIT


class TorchStepResult(NamedTuple):
    """As `StepResult`, in tensors on the simulator's device. All [N]."""

    level: torch.Tensor
    size_bytes: torch.Tensor
    transfer_s: torch.Tensor
    download_s: torch.Tensor
    rebuffer_s: torch.Tensor
    sleep_s: torch.Tensor
    buffer_s: torch.Tensor
    noise: torch.Tensor
    done: torch.Tensor


class DeviceSearch:
    """Exact `first flat index i in [first, last] with values[i] > x` (else `last`), for many
    sessions at once: a bisection within each session's own trace, a fixed number of halvings
    (enough for the longest trace), so nothing is read back to the host."""

    def __init__(self, values: torch.Tensor, lengths: torch.Tensor) -> None:
        self.values = values
        self.halvings = max(1, int(lengths.max().item()).bit_length())

    def search_right(
        self, trace: torch.Tensor, first: torch.Tensor, last: torch.Tensor, x: torch.Tensor
    ) -> torch.Tensor:
        lo, hi = first.clone(), last.clone()
        for _ in range(self.halvings):
            open_ = lo < hi
            mid = (lo + hi) // 2
            above = torch.take(self.values, mid) > x
            hi = torch.where(open_ & above, mid, hi)
            lo = torch.where(open_ & ~above, mid + 1, lo)
        return lo


class DeviceTable:
    """A `TraceTable`'s arrays as tensors on one device, with its two searches: built once and
    shared by every simulator over those traces (planners make many)."""

    def __init__(self, table: TraceTable, device: torch.device, dtype: torch.dtype) -> None:
        def tensor(array: np.ndarray, kind: torch.dtype) -> torch.Tensor:
            return torch.as_tensor(array, dtype=kind, device=device)

        self.table, self.device, self.dtype = table, device, dtype
        self.offsets = tensor(table.offsets, torch.int64)
        self.lengths = tensor(table.lengths, torch.int64)
        self.time_s = tensor(table.time_s, dtype)
        self.cycle_time_s = tensor(table.cycle_time_s, dtype)
        self.rate_bytes_per_s = tensor(table.rate_bytes_per_s, dtype)
        self.cum_bytes = tensor(table.cum_bytes, dtype)
        self.cycle_bytes = tensor(table.cycle_bytes, dtype)
        self.cycle_s = tensor(table.cycle_s, dtype)
        self.bytes_search = DeviceSearch(self.cum_bytes, self.lengths)
        self.time_search = DeviceSearch(self.cycle_time_s, self.lengths)


class TorchSimulator:
    def __init__(
        self,
        traces: Sequence[Trace] | TraceTable | DeviceTable,
        video: Video,
        n_sessions: int,
        mode: Mode = "eval",
        config: SimConfig | None = None,
        seed: int | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float64,
    ) -> None:
        if mode not in ("eval", "train"):
            raise ValueError(f"mode must be 'eval' or 'train', got {mode!r}")
        if n_sessions < 1:
            raise ValueError(f"n_sessions must be >= 1, got {n_sessions}")
        self.config = config or SimConfig()
        if isinstance(traces, DeviceTable):
            device, dtype = traces.device, traces.dtype
        self.video, self.n_sessions, self.mode = video, n_sessions, mode
        self.device, self.dtype = torch.device(device), dtype
        if isinstance(traces, DeviceTable):
            self.tables = traces
        else:
            table = (
                traces
                if isinstance(traces, TraceTable)
                else TraceTable.build(traces, self.config.payload_fraction)
            )
            self.tables = DeviceTable(table, self.device, dtype)
        self.table = self.tables.table
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(0 if seed is None else seed)
        t = self.tables
        self.offsets, self.lengths, self.time_s = t.offsets, t.lengths, t.time_s
        self.cycle_time_s, self.rate_bytes_per_s = t.cycle_time_s, t.rate_bytes_per_s
        self.cum_bytes, self.cycle_bytes, self.cycle_s = t.cum_bytes, t.cycle_bytes, t.cycle_s
        self.bytes_search, self.time_search = t.bytes_search, t.time_search
        self.sizes_bytes = on_device(video.sizes_bytes, self.device, dtype)
        n, h = n_sessions, self.config.history_len
        self.trace = torch.zeros(n, dtype=torch.int64, device=self.device)
        self.ptr = torch.zeros_like(self.trace)
        self.clock_s = torch.zeros(n, dtype=dtype, device=self.device)
        self.buffer_s = torch.zeros_like(self.clock_s)
        self.chunk = torch.zeros_like(self.trace)
        self.last_level = torch.full_like(self.trace, self.config.default_level)
        self.throughput_ring_kbps = torch.zeros((h, n), dtype=dtype, device=self.device)
        self.download_ring_s = torch.zeros_like(self.throughput_ring_kbps)
        self.ring_pos = 0
        self.history_count = torch.zeros_like(self.trace)
        self.reset()

    # ---------------------------------------------------------------- reset
    def reset(self, mask: torch.Tensor | None = None) -> None:
        """Start sessions again: all, or those in `mask` (bool [N]). Evaluation: session i plays
        trace i mod T from time_s[0]; training: a random trace from a random sample. Every
        session draws and the mask picks, so the shapes never depend on how many finished."""
        n = self.n_sessions
        every = torch.ones(n, dtype=torch.bool, device=self.device) if mask is None else mask
        if self.mode == "eval":
            chosen = torch.arange(n, device=self.device) % len(self.offsets)
            start = torch.ones(n, dtype=torch.int64, device=self.device)
        else:
            chosen = torch.randint(
                0, len(self.offsets), (n,), generator=self.generator, device=self.device
            )
            # uniform in [1, length): floor of a uniform draw over the length - 1 choices
            u = torch.rand(n, generator=self.generator, device=self.device, dtype=torch.float64)
            start = 1 + (u * (torch.take(self.lengths, chosen) - 1)).long()
        ptr = torch.take(self.offsets, chosen) + start

        def restart(current: torch.Tensor, fresh: torch.Tensor | float | int) -> torch.Tensor:
            return torch.where(every, fresh, current)

        self.trace = restart(self.trace, chosen)
        self.ptr = restart(self.ptr, ptr)
        self.clock_s = restart(self.clock_s, torch.take(self.time_s, ptr - 1))
        self.buffer_s = restart(self.buffer_s, 0.0)
        self.chunk = restart(self.chunk, 0)
        self.last_level = restart(self.last_level, self.config.default_level)
        self.throughput_ring_kbps = torch.where(every, 0.0, self.throughput_ring_kbps)
        self.download_ring_s = torch.where(every, 0.0, self.download_ring_s)
        self.history_count = restart(self.history_count, 0)

    def load_state(self, **state: np.ndarray | torch.Tensor) -> None:
        """Put sessions at given points: any of trace, ptr, clock_s, buffer_s, chunk,
        last_level (histories are cleared, as `BatchSimulator.load_state` does)."""
        for name, value in state.items():
            kept = getattr(self, name)
            setattr(self, name, torch.as_tensor(value, dtype=kept.dtype, device=self.device))
        self.throughput_ring_kbps.zero_()
        self.download_ring_s.zero_()
        self.history_count.zero_()

    # ---------------------------------------------------------------- step
    def step(self, levels: torch.Tensor, noise: torch.Tensor | None = None) -> TorchStepResult:
        """One chunk for every session (no session may have finished: reset those first).
        `noise` overrides training mode's own draw (for alignment tests)."""
        cfg = self.config
        levels = torch.as_tensor(levels, dtype=torch.int64, device=self.device).clone()
        if noise is None:
            noise = (
                cfg.noise_low
                + (cfg.noise_high - cfg.noise_low)
                * torch.rand(
                    self.n_sessions, generator=self.generator, device=self.device, dtype=self.dtype
                )
                if self.mode == "train"
                else torch.ones(self.n_sessions, dtype=self.dtype, device=self.device)
            )
        size_bytes = self.sizes_bytes[levels, self.chunk]
        transfer_s = self._download(size_bytes)
        download_s = (transfer_s + cfg.rtt_s) * noise
        rebuffer_s = torch.clamp(download_s - self.buffer_s, min=0.0)
        buffer_s = torch.clamp(self.buffer_s - download_s, min=0.0) + self.video.chunk_s
        excess_s = buffer_s - cfg.buffer_cap_s
        quantum = cfg.sleep_quantum_s
        sleep_s = torch.where(
            excess_s > 0, torch.ceil(excess_s / quantum) * quantum, torch.zeros_like(excess_s)
        )
        self.buffer_s = buffer_s - sleep_s
        self._sleep(sleep_s)
        self.chunk = self.chunk + 1
        pos = self.ring_pos
        self.throughput_ring_kbps[pos] = size_bytes * BITS_PER_BYTE / BITS_PER_KBIT / download_s
        self.download_ring_s[pos] = download_s
        self.last_level = levels
        self.history_count = torch.clamp(self.history_count + 1, max=cfg.history_len)
        self.ring_pos = (pos + 1) % cfg.history_len
        done = self.chunk >= self.video.n_chunks
        return TorchStepResult(
            levels,
            size_bytes,
            transfer_s,
            download_s,
            rebuffer_s,
            sleep_s,
            self.buffer_s.clone(),
            noise,
            done,
        )

    def _download(self, size_bytes: torch.Tensor) -> torch.Tensor:
        """Advance each session's clock past `size_bytes` of payload; return the time taken."""
        trace, ptr, clock_s = self.trace, self.ptr, self.clock_s
        first = torch.take(self.offsets, trace) + 1
        last = torch.take(self.offsets, trace) + torch.take(self.lengths, trace) - 1
        cycle_bytes, cycle_s = torch.take(self.cycle_bytes, trace), torch.take(self.cycle_s, trace)
        position_bytes = torch.take(self.cum_bytes, ptr - 1) + torch.take(
            self.rate_bytes_per_s, ptr
        ) * (clock_s - torch.take(self.cycle_time_s, ptr - 1))
        target_bytes = position_bytes + size_bytes
        cycles = torch.floor(target_bytes / cycle_bytes)
        residual = target_bytes - cycles * cycle_bytes
        wrapped = residual >= cycle_bytes  # rounding can leave the residual at the edges
        cycles = torch.where(wrapped, cycles + 1, cycles)
        residual = torch.where(wrapped, residual - cycle_bytes, residual)
        negative = residual < 0
        cycles = torch.where(negative, cycles - 1, cycles)
        residual = torch.where(negative, residual + cycle_bytes, residual)
        end = self.bytes_search.search_right(trace, first, last, residual)
        end_clock_s = torch.take(self.cycle_time_s, end - 1) + (
            residual - torch.take(self.cum_bytes, end - 1)
        ) / (torch.take(self.rate_bytes_per_s, end))
        transfer_s = cycles * cycle_s + end_clock_s - clock_s
        self.ptr, self.clock_s = end, end_clock_s
        return transfer_s

    def _sleep(self, sleep_s: torch.Tensor) -> None:
        """Advance clocks by `sleep_s` through the trace (Pensieve skips that bandwidth)."""
        trace = self.trace
        first = torch.take(self.offsets, trace) + 1
        last = torch.take(self.offsets, trace) + torch.take(self.lengths, trace) - 1
        cycle_s = torch.take(self.cycle_s, trace)
        target_s = self.clock_s + sleep_s
        target_s = target_s - torch.floor(target_s / cycle_s) * cycle_s
        target_s = torch.where(target_s >= cycle_s, target_s - cycle_s, target_s)
        end = self.time_search.search_right(trace, first, last, target_s)
        sleeping = sleep_s > 0
        self.ptr = torch.where(sleeping, end, self.ptr)
        self.clock_s = torch.where(sleeping, target_s, self.clock_s)

    # ---------------------------------------------------------------- observation
    def history(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Throughput (kbps) and download (s) histories, [N, H], most recent last."""
        # a roll by a host integer: an index list would be copied to the device every step
        throughput_kbps = torch.roll(self.throughput_ring_kbps, -self.ring_pos, dims=0)
        return throughput_kbps.T, torch.roll(self.download_ring_s, -self.ring_pos, dims=0).T

    def observe(self, encoder: TorchEncoder) -> torch.Tensor:
        """The learner's observation of every session, on the device: [N, D] float32."""
        throughput_kbps, download_s = self.history()
        return encoder.encode(
            self.last_level,
            self.buffer_s,
            self.chunk,
            throughput_kbps,
            download_s,
            self.history_count,
        )

    _STATE = (
        "trace",
        "ptr",
        "clock_s",
        "buffer_s",
        "chunk",
        "last_level",
        "history_count",
        "throughput_ring_kbps",
        "download_ring_s",
    )

    def state_dict(self) -> dict[str, object]:
        """Everything needed to go on exactly where this simulator is (for resuming training)."""
        state: dict[str, object] = {name: getattr(self, name).clone() for name in self._STATE}
        state["ring_pos"] = self.ring_pos
        state["generator"] = self.generator.get_state()
        return state

    def load_state_dict(self, state: dict[str, object]) -> None:
        restore_tensors(self, state, self._STATE, "simulator")
        self.ring_pos = int(state["ring_pos"])  # type: ignore[call-overload]
        generator = state["generator"]
        assert isinstance(generator, torch.Tensor)
        self.generator.set_state(generator.cpu())

    def player_state(self) -> PlayerState:
        """What the players observe, copied to the host as numpy (for policies and tests)."""
        throughput_kbps, download_s = self.history()

        def host(tensor: torch.Tensor) -> np.ndarray:
            return tensor.detach().cpu().numpy().copy()

        return player_state(
            self.video,
            chunk_index=host(self.chunk),
            last_level=host(self.last_level),
            buffer_s=host(self.buffer_s).astype(np.float64),
            throughput_kbps=host(throughput_kbps).astype(np.float64),
            download_s=host(download_s).astype(np.float64),
            history_count=host(self.history_count),
        )
