"""A chunk-level, trace-driven ABR simulator, vectorised over sessions (Pensieve-exact).

STATE   per session: the trace, the trace clock (and the sample it falls in), the buffer, the next
        chunk index, and histories of chunk throughput and download time. `player_state()` gives
        what a player can observe, as a batched `PlayerState`.
ACTION  per session: the level (0 = lowest bitrate) of the next chunk.
STEP    for each session, Pensieve's `get_video_chunk` (docs/design.md, "Simulator semantics"):
        1. the chunk downloads along the trace from the session clock, each interval delivering
           `mbps * 1e6 / 8 * dt * payload_fraction` bytes, the last one cut at the fraction needed;
           at the trace's end the clock wraps to sample 1, time 0. `download_s = transfer + rtt`,
           times U(noise_low, noise_high) in training mode;
        2. `rebuffer = max(download_s - buffer, 0)`;
           `buffer = max(buffer - download_s, 0) + chunk_s`;
        3. above `buffer_cap_s` the player sleeps `ceil((buffer - cap) / quantum) * quantum`, which
           leaves the buffer and advances the clock through the trace (not part of download_s);
        4. buffers start at 0, so the first chunk's whole download is rebuffering.
MODES   evaluation: session i plays the trace given at reset once from time_s[0], sample 1, no
        noise. Training: a random trace from a random sample, with noise.
RESET   explicit: `step` never resets. A finished session (`done`) keeps its last state until
        `reset(mask=done)` starts it again ("same-step" autoreset when called right after step).
REFERENCE  Mao et al., "Neural Adaptive Video Streaming with Pensieve", SIGCOMM 2017, sim/env.py
        and sim/fixed_env.py; abr/sim/reference.py is the scalar twin this is checked against.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np

from abr.media.traces import Trace
from abr.media.video import Video
from abr.player.state import PlayerState, player_state
from abr.sim import kernel as sim_kernel
from abr.sim.config import SimConfig
from abr.sim.trace_table import TraceTable
from abr.units import throughput_kbps

Mode = Literal["eval", "train"]
Backend = Literal["auto", "numpy", "numba"]


class StepResult(NamedTuple):
    """What happened to the chunk each session just fetched. All [N]."""

    level: np.ndarray  # int64
    size_bytes: np.ndarray
    transfer_s: np.ndarray  # transfer time along the trace, without RTT or noise
    download_s: np.ndarray  # what the player measures: (transfer + rtt) * noise
    rebuffer_s: np.ndarray
    sleep_s: np.ndarray
    buffer_s: np.ndarray  # after the chunk arrived and any sleep
    noise: np.ndarray  # the delay factor drawn (1.0 in evaluation mode)
    done: np.ndarray  # bool: that was the video's last chunk
    throughput_kbps: np.ndarray  # what the player measures: size over download_s


class BatchSimulator:
    def __init__(
        self,
        traces: Sequence[Trace] | TraceTable,
        video: Video,
        n_sessions: int,
        mode: Mode = "eval",
        config: SimConfig | None = None,
        seed: int | None = None,
        backend: Backend = "auto",
        start: bool = True,
    ) -> None:
        """`start` False: the sessions are left unplaced, for `load_state` to put them (a
        planner's simulators, built per lookahead step: the reset would be thrown away)."""
        if backend == "numba" and not sim_kernel.HAVE_NUMBA:
            raise ValueError("backend 'numba' needs numba: pip install 'abr[fast]'")
        if backend not in ("auto", "numpy", "numba"):
            raise ValueError(f"backend must be auto, numpy or numba, got {backend!r}")
        self.backend = "numba" if backend == "auto" and sim_kernel.HAVE_NUMBA else backend
        if mode not in ("eval", "train"):
            raise ValueError(f"mode must be 'eval' or 'train', got {mode!r}")
        if n_sessions < 1:
            raise ValueError(f"n_sessions must be >= 1, got {n_sessions}")
        self.config = config or SimConfig()
        if not 0 <= self.config.default_level < video.n_levels:
            raise ValueError(f"default_level {self.config.default_level} is not a ladder level")
        self.table = (
            traces
            if isinstance(traces, TraceTable)
            else TraceTable.build(traces, self.config.payload_fraction)
        )
        self.video = video
        self.n_sessions = n_sessions
        self.mode: Mode = mode
        self.rng = np.random.default_rng(seed)
        # training: the probability of each trace for a new session (None: uniform)
        self.trace_weights: np.ndarray | None = None
        n, h = n_sessions, self.config.history_len
        self.trace = np.zeros(n, dtype=np.int64)
        # flat index (into the trace table) of the sample whose interval holds the clock
        self.ptr = np.zeros(n, dtype=np.int64)
        self.clock_s = np.zeros(n)  # trace clock, cycle form
        self.buffer_s = np.zeros(n)
        self.chunk = np.zeros(n, dtype=np.int64)  # index of the next chunk to fetch
        self.last_level = np.full(n, self.config.default_level, dtype=np.int64)
        # histories are rings over steps, [H, N]; every step writes row `_ring_pos` for all sessions
        self._throughput_ring_kbps = np.zeros((h, n))
        self._download_ring_s = np.zeros((h, n))
        self._ring_pos = 0
        self.history_count = np.zeros(n, dtype=np.int64)
        self._sizes_bytes = np.ascontiguousarray(video.sizes_bytes)
        if start:
            self.reset()

    def set_video(self, video: Video) -> None:
        """Play `video` from now on; every session must be at its start (just reset)."""
        if np.any(self.chunk != 0):
            raise RuntimeError("the video can change only when every session is at its start")
        if not 0 <= self.config.default_level < video.n_levels:
            raise ValueError(f"default_level {self.config.default_level} is not a ladder level")
        self.video = video
        self._sizes_bytes = np.ascontiguousarray(video.sizes_bytes)
        self.last_level = np.full(self.n_sessions, self.config.default_level, dtype=np.int64)

    # ---------------------------------------------------------------- reset
    def reset(
        self, mask: np.ndarray | None = None, trace_indices: np.ndarray | None = None
    ) -> None:
        """Start sessions again: all, or those in `mask` (bool [N]).

        Evaluation: session i plays trace `trace_indices[i]` (default i mod T) from time_s[0].
        Training: a random trace (uniform, or by `trace_weights`) from a random sample, drawn
        from the simulator's generator.
        """
        sessions = np.arange(self.n_sessions) if mask is None else np.flatnonzero(mask)
        if len(sessions) == 0:
            return
        table = self.table
        if self.mode == "eval":
            chosen = sessions % table.n_traces if trace_indices is None else trace_indices
            chosen = np.asarray(chosen, dtype=np.int64)
            if chosen.shape != sessions.shape:
                raise ValueError(f"trace_indices must have {len(sessions)} entries")
            if np.any((chosen < 0) | (chosen >= table.n_traces)):
                raise ValueError(f"trace_indices must lie in [0, {table.n_traces})")
            start = np.ones(len(sessions), dtype=np.int64)
        else:
            if self.trace_weights is None:
                chosen = self.rng.integers(0, table.n_traces, size=len(sessions))
            else:
                chosen = self.rng.choice(table.n_traces, size=len(sessions), p=self.trace_weights)
            start = self.rng.integers(1, table.lengths[chosen])
        at = slice(None) if mask is None else sessions  # a slice writes much faster
        self.trace[at] = chosen
        self.ptr[at] = table.offsets[chosen] + start
        self.clock_s[at] = table.time_s[table.offsets[chosen] + start - 1]
        self.buffer_s[at] = 0.0
        self.chunk[at] = 0
        self.last_level[at] = self.config.default_level
        self._throughput_ring_kbps[:, at] = 0.0
        self._download_ring_s[:, at] = 0.0
        self.history_count[at] = 0

    def set_trace_weights(self, weights: np.ndarray | None) -> None:
        """How training sessions draw their traces from now on: probabilities, one per trace
        (None: uniform). Sessions already playing keep their trace."""
        if weights is not None:
            weights = np.array(weights, dtype=np.float64)
            n = self.table.n_traces
            # within numpy's own tolerance for `choice`; kept as given, so a resume is exact
            if weights.shape != (n,) or np.any(weights < 0) or abs(weights.sum() - 1.0) > 1e-8:
                raise ValueError(f"trace_weights must be {n} non-negative numbers summing to 1")
        self.trace_weights = weights

    def load_state(
        self,
        trace: np.ndarray,
        ptr: np.ndarray,
        clock_s: np.ndarray,
        buffer_s: np.ndarray,
        chunk: np.ndarray,
        last_level: np.ndarray,
    ) -> None:
        """Put every session at a given point (for planners that branch from saved states).

        Histories are cleared: a planner that needs them keeps its own.
        """
        self.trace = np.array(trace, dtype=np.int64)
        self.ptr = np.array(ptr, dtype=np.int64)
        self.clock_s = np.array(clock_s, dtype=np.float64)
        self.buffer_s = np.array(buffer_s, dtype=np.float64)
        self.chunk = np.array(chunk, dtype=np.int64)
        self.last_level = np.array(last_level, dtype=np.int64)
        for array in (self.ptr, self.clock_s, self.buffer_s, self.chunk, self.last_level):
            if array.shape != (self.n_sessions,):
                raise ValueError(f"state arrays must have shape ({self.n_sessions},)")
        self._throughput_ring_kbps[:] = 0.0
        self._download_ring_s[:] = 0.0
        self.history_count[:] = 0

    _STATE_ARRAYS = (
        "trace",
        "ptr",
        "clock_s",
        "buffer_s",
        "chunk",
        "last_level",
        "history_count",
        "_throughput_ring_kbps",
        "_download_ring_s",
    )

    def state_dict(self) -> dict[str, object]:
        """Everything needed to go on exactly where this simulator is (for resuming training)."""
        state: dict[str, object] = {name: getattr(self, name).copy() for name in self._STATE_ARRAYS}
        state["ring_pos"] = self._ring_pos
        state["rng"] = self.rng.bit_generator.state
        if self.trace_weights is not None:
            state["trace_weights"] = self.trace_weights.copy()
        return state

    def load_state_dict(self, state: dict[str, object]) -> None:
        for name in self._STATE_ARRAYS:
            value = np.array(state[name])
            if value.shape != getattr(self, name).shape:
                raise ValueError(f"saved simulator state {name!r} has shape {value.shape}")
            setattr(self, name, value.astype(getattr(self, name).dtype))
        self._ring_pos = int(state["ring_pos"])  # type: ignore[call-overload]
        self.rng.bit_generator.state = state["rng"]  # type: ignore[assignment]
        weights = state.get("trace_weights")
        self.set_trace_weights(None if weights is None else np.asarray(weights))

    # ---------------------------------------------------------------- step
    def step(self, levels: np.ndarray) -> StepResult:
        levels = np.array(levels, dtype=np.int64)  # a copy: the simulator keeps it as last_level
        if levels.shape != (self.n_sessions,):
            raise ValueError(f"levels must have shape ({self.n_sessions},), got {levels.shape}")
        if levels.min() < 0 or levels.max() >= self.video.n_levels:
            raise ValueError(f"levels must lie in [0, {self.video.n_levels})")
        if self.chunk.max() >= self.video.n_chunks:
            raise RuntimeError("a finished session was stepped; reset(mask=done) it first")
        cfg = self.config
        if self.mode == "train":
            noise = self.rng.uniform(cfg.noise_low, cfg.noise_high, size=self.n_sessions)
        else:
            noise = np.ones(self.n_sessions)
        step = self._step_compiled if self.backend == "numba" else self._step_numpy
        size_bytes, transfer_s, download_s, rebuffer_s, sleep_s = step(levels, noise)
        throughput = self._throughput_ring_kbps[self._ring_pos].copy()
        self.last_level = levels
        self.history_count = np.minimum(self.history_count + 1, cfg.history_len)
        self._ring_pos = (self._ring_pos + 1) % cfg.history_len
        done = self.chunk >= self.video.n_chunks
        return StepResult(
            levels,
            size_bytes,
            transfer_s,
            download_s,
            rebuffer_s,
            sleep_s,
            self.buffer_s.copy(),
            noise,
            done,
            throughput,
        )

    def _step_numpy(self, levels: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, ...]:
        cfg = self.config
        size_bytes = self._sizes_bytes[levels, self.chunk]
        transfer_s = self._download(size_bytes)
        download_s = (transfer_s + cfg.rtt_s) * noise
        rebuffer_s = np.maximum(download_s - self.buffer_s, 0.0)
        buffer_s = np.maximum(self.buffer_s - download_s, 0.0) + self.video.chunk_s
        excess_s = buffer_s - cfg.buffer_cap_s
        sleep_s = np.where(
            excess_s > 0, np.ceil(excess_s / cfg.sleep_quantum_s) * cfg.sleep_quantum_s, 0.0
        )
        self.buffer_s = buffer_s - sleep_s
        if np.any(sleep_s > 0):
            self._sleep(sleep_s)
        self.chunk += 1
        pos = self._ring_pos
        self._throughput_ring_kbps[pos] = throughput_kbps(size_bytes, download_s)
        self._download_ring_s[pos] = download_s
        return size_bytes, transfer_s, download_s, rebuffer_s, sleep_s

    def _step_compiled(self, levels: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, ...]:
        cfg, t = self.config, self.table
        outputs = tuple(np.empty(self.n_sessions) for _ in range(5))
        pos = self._ring_pos
        sim_kernel.step_sessions(  # updates ptr, clock_s, buffer_s and chunk in place
            self.trace,
            self.ptr,
            self.clock_s,
            self.buffer_s,
            self.chunk,
            levels,
            self._sizes_bytes,
            noise,
            t.offsets,
            t.lengths,
            t.cycle_time_s,
            t.rate_bytes_per_s,
            t.cum_bytes,
            t.cycle_bytes,
            t.cycle_s,
            cfg.rtt_s,
            self.video.chunk_s,
            cfg.buffer_cap_s,
            cfg.sleep_quantum_s,
            *outputs,
            self._throughput_ring_kbps[pos],
        )
        self._download_ring_s[pos] = outputs[2]
        return outputs

    def _download(self, size_bytes: np.ndarray) -> np.ndarray:
        """Advance each session's clock past `size_bytes` of payload; return the time taken."""
        t = self.table
        trace, ptr, clock_s = self.trace, self.ptr, self.clock_s
        first = t.offsets[trace] + 1
        last = t.offsets[trace] + t.lengths[trace] - 1
        cycle_bytes, cycle_s = t.cycle_bytes[trace], t.cycle_s[trace]
        position_bytes = t.cum_bytes[ptr - 1] + t.rate_bytes_per_s[ptr] * (
            clock_s - t.cycle_time_s[ptr - 1]
        )
        target_bytes = position_bytes + size_bytes
        cycles = np.floor(target_bytes / cycle_bytes)
        residual_bytes = target_bytes - cycles * cycle_bytes
        wrapped = residual_bytes >= cycle_bytes  # rounding can leave the residual at the edges
        cycles = np.where(wrapped, cycles + 1, cycles)
        residual_bytes = np.where(wrapped, residual_bytes - cycle_bytes, residual_bytes)
        negative = residual_bytes < 0
        cycles = np.where(negative, cycles - 1, cycles)
        residual_bytes = np.where(negative, residual_bytes + cycle_bytes, residual_bytes)
        end = t.bytes_search.search_right(trace, first, last, residual_bytes)
        end_clock_s = (
            t.cycle_time_s[end - 1]
            + (residual_bytes - t.cum_bytes[end - 1]) / (t.rate_bytes_per_s[end])
        )
        transfer_s = cycles * cycle_s + end_clock_s - clock_s
        self.ptr, self.clock_s = end, end_clock_s
        return transfer_s

    def _sleep(self, sleep_s: np.ndarray) -> None:
        """Advance clocks by `sleep_s` through the trace (Pensieve skips that bandwidth)."""
        t = self.table
        trace = self.trace
        first = t.offsets[trace] + 1
        last = t.offsets[trace] + t.lengths[trace] - 1
        cycle_s = t.cycle_s[trace]
        target_s = self.clock_s + sleep_s
        target_s = target_s - np.floor(target_s / cycle_s) * cycle_s
        target_s = np.where(target_s >= cycle_s, target_s - cycle_s, target_s)
        end = t.time_search.search_right(trace, first, last, target_s)
        sleeping = sleep_s > 0
        self.ptr = np.where(sleeping, end, self.ptr)
        self.clock_s = np.where(sleeping, target_s, self.clock_s)

    def _unroll(self, ring: np.ndarray) -> np.ndarray:
        """[H, N] ring -> [N, H] with the most recent entry last."""
        h = self.config.history_len
        order = (self._ring_pos + np.arange(h)) % h
        return ring[order].T.copy()

    # ---------------------------------------------------------------- observation
    def player_state(self) -> PlayerState:
        """What the players can observe now (copies; safe to keep)."""
        return player_state(
            self.video,
            chunk_index=self.chunk.copy(),
            last_level=self.last_level.copy(),
            buffer_s=self.buffer_s.copy(),
            throughput_kbps=self._unroll(self._throughput_ring_kbps),
            download_s=self._unroll(self._download_ring_s),
            history_count=self.history_count.copy(),
        )
