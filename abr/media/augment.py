"""Training-set augmentation: rescaled copies of bandwidth traces.

A learned policy sees only the traces it trains on. Copies with the bandwidth scaled (x0.5: the
same link at half the rate) and the clock scaled (x0.5: the same fluctuations twice as fast) widen
that distribution without inventing a new kind of link. Only training traces are augmented;
validation and benchmarks always replay traces as recorded.
"""

from __future__ import annotations

from collections.abc import Sequence

from abr.media.traces import Trace, make_trace


def rescaled(trace: Trace, mbps_factor: float = 1.0, time_factor: float = 1.0) -> Trace:
    """`trace` with every bandwidth sample times `mbps_factor` and every timestamp times
    `time_factor`; named after both factors. Factors must be positive."""
    for name, factor in (("mbps_factor", mbps_factor), ("time_factor", time_factor)):
        if not factor > 0:
            raise ValueError(f"{name} must be positive, got {factor}")
    if mbps_factor == 1.0 and time_factor == 1.0:
        return trace
    return make_trace(
        f"{trace.name}@bw{mbps_factor:g}t{time_factor:g}",
        trace.time_s * time_factor,
        trace.mbps * mbps_factor,
    )


def augmented(
    traces: Sequence[Trace], mbps_factors: Sequence[float], time_factors: Sequence[float]
) -> list[Trace]:
    """Every trace at every (bandwidth factor, time factor) pair: len(traces) x |mbps| x |time|
    traces. Factors [1.0] and [1.0] give the traces unchanged."""
    if not mbps_factors or not time_factors:
        raise ValueError("augmentation needs at least one bandwidth and one time factor")
    return [
        rescaled(trace, mbps_factor, time_factor)
        for trace in traces
        for mbps_factor in mbps_factors
        for time_factor in time_factors
    ]
