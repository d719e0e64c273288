"""Summary statistics of a trace set, with Pensieve's convention: mbps[i] on (t[i-1], t[i]]."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from abr.media.traces import Trace


def _intervals(trace: Trace) -> tuple[np.ndarray, np.ndarray]:
    """(durations_s, mbps) of the intervals the simulator uses within the trace's own span."""
    return np.diff(trace.time_s), trace.mbps[1:]


def mean_mbps(trace: Trace) -> float:
    """The trace's time-weighted mean bandwidth over its own span (0 for a span of no time)."""
    durations_s, mbps = _intervals(trace)
    total_s = durations_s.sum()
    return float((durations_s * mbps).sum() / total_s) if total_s > 0 else 0.0


def zero_runs_s(trace: Trace) -> np.ndarray:
    """Durations of the maximal stretches of consecutive zero-bandwidth intervals."""
    durations_s, mbps = _intervals(trace)
    is_zero = (mbps == 0).astype(np.int8)
    edges = np.diff(np.concatenate(([0], is_zero, [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    cum = np.concatenate(([0.0], np.cumsum(durations_s)))
    return cum[ends] - cum[starts]


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    if weights.sum() <= 0:
        return float("nan")
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, cum[-1] / 2)])


def trace_set_stats(traces: Sequence[Trace]) -> dict[str, float | int]:
    if not traces:
        raise ValueError("no traces")
    durations = np.array([t.duration_s for t in traces])
    all_dt = np.concatenate([_intervals(t)[0] for t in traces])
    all_mbps = np.concatenate([_intervals(t)[1] for t in traces])
    runs = [zero_runs_s(t) for t in traces]
    run_lengths = np.concatenate(runs) if runs else np.zeros(0)
    total_s = float(all_dt.sum())
    return {
        "files": len(traces),
        "samples": int(sum(len(t) for t in traces)),
        "total_hours": float(durations.sum() / 3600),
        "duration_min_s": float(durations.min()),
        "duration_median_s": float(np.median(durations)),
        "duration_max_s": float(durations.max()),
        "time_weighted_mean_mbps": float((all_dt * all_mbps).sum() / total_s) if total_s else 0.0,
        "time_weighted_median_mbps": weighted_median(all_mbps, all_dt),
        "min_mbps": float(all_mbps.min()),
        "max_mbps": float(all_mbps.max()),
        "zero_runs": len(run_lengths),
        "files_with_zero_runs": sum(1 for r in runs if len(r)),
        "longest_zero_run_s": float(run_lengths.max()) if len(run_lengths) else 0.0,
        "zero_time_fraction": float(run_lengths.sum() / total_s) if total_s else 0.0,
    }
