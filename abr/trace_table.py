"""Traces packed into flat arrays for the vectorised simulator, in Pensieve's cycle form.

Pensieve walks a trace from a pointer; at the end it wraps to sample 1 with the clock at time 0.
So one cycle of trace t is the intervals k = 1..n-1, where interval 1 spans (0, time_s[1]] and
interval k spans (time_s[k-1], time_s[k]]. Within a cycle we keep cumulative delivered bytes and
cycle times; a download or a sleep becomes arithmetic on them plus one `searchsorted`, with no
per-session Python loop. Evaluation starts at time_s[0], which is a point inside interval 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from abr.traces import Trace
from abr.units import BITS_PER_BYTE, BITS_PER_MBIT


@dataclass(frozen=True)
class MonotoneIndex:
    """Exact `first i in trace t with local[i] > value` over many traces at once.

    A single `searchsorted` runs over `global_keys` (local values shifted by a per-trace base so
    the whole array is non-decreasing); rounding in `base + value` can land it one run of equal
    values off, which exact comparisons on `local` then correct.
    """

    local: np.ndarray  # [M] non-decreasing within each trace
    global_keys: np.ndarray  # [M] non-decreasing overall
    base: np.ndarray  # [T] added to trace t's local values
    next_run: np.ndarray  # [M] index of the first larger value after i (i itself at the end)
    run_start: np.ndarray  # [M] first index of the run of equal values holding i

    @classmethod
    def build(cls, local: np.ndarray, offsets: np.ndarray, lengths: np.ndarray) -> MonotoneIndex:
        ends = offsets + lengths
        spans = local[ends - 1] - local[offsets]
        base = np.concatenate(([0.0], np.cumsum(spans[:-1] + 1.0))) - local[offsets]
        trace_of = np.repeat(np.arange(len(offsets)), lengths)
        global_keys = local + base[trace_of]
        index = np.arange(len(local))
        is_start = np.ones(len(local), dtype=bool)
        is_start[1:] = local[1:] != local[:-1]
        is_start[offsets] = True
        run_start = np.maximum.accumulate(np.where(is_start, index, 0))
        # next_run[i]: the next run start after i, if it is still in the same trace
        next_start = np.where(is_start, index, len(local))
        next_start = np.minimum.accumulate(next_start[::-1])[::-1]
        following = np.append(next_start[1:], len(local))
        next_run = np.where(following < ends[trace_of], following, index)
        return cls(local, global_keys, base, next_run, run_start)

    def search_right(
        self, trace: np.ndarray, first: np.ndarray, last: np.ndarray, value: np.ndarray
    ) -> np.ndarray:
        """Flat index of the first entry > value, clipped to [first, last] of each trace."""
        i = np.searchsorted(self.global_keys, self.base[trace] + value, side="right")
        i = np.minimum(np.maximum(i, first), last)
        i = np.where(self.local[i] <= value, self.next_run[i], i)
        previous = np.maximum(i - 1, first)
        i = np.where((previous < i) & (self.local[previous] > value), self.run_start[previous], i)
        return np.minimum(np.maximum(i, first), last)


@dataclass(frozen=True)
class TraceTable:
    names: list[str]
    offsets: np.ndarray  # [T] flat index of each trace's sample 0
    lengths: np.ndarray  # [T] samples per trace
    time_s: np.ndarray  # [M] the trace's own times (evaluation starts at time_s[0])
    cycle_time_s: np.ndarray  # [M] like time_s but 0 at each trace's sample 0 (wrap-around clock)
    rate_bytes_per_s: np.ndarray  # [M] payload rate of the interval ending at each sample
    cum_bytes: np.ndarray  # [M] payload delivered from cycle time 0 to each sample
    cycle_bytes: np.ndarray  # [T] payload of one whole cycle (> 0)
    cycle_s: np.ndarray  # [T] duration of one cycle (= last time_s)
    bytes_index: MonotoneIndex
    time_index: MonotoneIndex

    @property
    def n_traces(self) -> int:
        return len(self.offsets)

    @classmethod
    def build(cls, traces: Sequence[Trace], payload_fraction: float) -> TraceTable:
        if not traces:
            raise ValueError("no traces to simulate")
        lengths = np.array([len(t) for t in traces], dtype=np.int64)
        offsets = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
        time_s = np.concatenate([t.time_s for t in traces])
        mbps = np.concatenate([t.mbps for t in traces])
        cycle_time_s = time_s.copy()
        cycle_time_s[offsets] = 0.0
        durations_s = np.diff(cycle_time_s, prepend=0.0)
        durations_s[offsets] = 0.0
        rate = mbps * BITS_PER_MBIT / BITS_PER_BYTE * payload_fraction
        rate[offsets] = 0.0
        delivered = rate * durations_s
        cum_bytes = np.empty_like(delivered)
        for offset, length in zip(offsets, lengths, strict=True):  # per trace, for precision
            cum_bytes[offset : offset + length] = np.cumsum(delivered[offset : offset + length])
        ends = offsets + lengths - 1
        return cls(
            names=[t.name for t in traces],
            offsets=offsets,
            lengths=lengths,
            time_s=time_s,
            cycle_time_s=cycle_time_s,
            rate_bytes_per_s=rate,
            cum_bytes=cum_bytes,
            cycle_bytes=cum_bytes[ends],
            cycle_s=cycle_time_s[ends],
            bytes_index=MonotoneIndex.build(cum_bytes, offsets, lengths),
            time_index=MonotoneIndex.build(cycle_time_s, offsets, lengths),
        )
