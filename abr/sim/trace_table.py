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

from abr.media.traces import Trace
from abr.units import BITS_PER_BYTE, BITS_PER_MBIT


@dataclass(frozen=True)
class TraceSearch:
    """Exact `first i of trace t with values[i] > x`, for many sessions in one `searchsorted`.

    The keys are complex numbers `t + 1j * values[i]`, which numpy orders lexicographically (by
    trace, then by value; see `numpy.sort`), so no per-trace offset has to be added to the values
    and nothing is rounded: the answer is the same as a search within the trace's own array.
    """

    keys: np.ndarray  # [M] complex128, non-decreasing lexicographically

    @classmethod
    def build(cls, values: np.ndarray, lengths: np.ndarray) -> TraceSearch:
        trace_of = np.repeat(np.arange(len(lengths)), lengths)
        return cls(trace_of + 1j * values)

    def search_right(
        self, trace: np.ndarray, first: np.ndarray, last: np.ndarray, value: np.ndarray
    ) -> np.ndarray:
        """Flat index of the first entry > value, clipped to [first, last] of each trace."""
        i = np.searchsorted(self.keys, trace + 1j * value, side="right")
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
    bytes_search: TraceSearch
    time_search: TraceSearch

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
            bytes_search=TraceSearch.build(cum_bytes, lengths),
            time_search=TraceSearch.build(cycle_time_s, lengths),
        )
