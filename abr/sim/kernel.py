"""The simulator's chunk step compiled with numba: the same arithmetic as `BatchSimulator`'s
numpy path, one session per loop iteration, sessions spread over the cores.

Optional: numba comes with the `fast`, `train` and `dev` extras. Without it the simulator runs
its numpy path, which gives the same numbers (tests/sim/test_simulator.py checks both against the
scalar reference). Only the searches differ in method, not in result: here a bisection over the
trace's own arrays, there one `searchsorted` over all traces with an exact correction.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from abr.units import throughput_kbps

try:
    from numba import njit, prange

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised where numba is absent
    HAVE_NUMBA = False
    prange = range  # type: ignore[misc]


def _first_greater(values: np.ndarray, lo: int, hi: int, x: float, guess: int) -> int:
    """First index in [lo, hi] with values[index] > x (hi if none).

    Gallops from `guess` (where the answer usually is, a few samples on), then bisects.
    """
    if guess > lo and values[guess - 1] <= x:
        lo = guess
    step = 1
    while lo < hi and values[lo] <= x:
        probe = min(lo + step, hi)
        if values[probe] > x:
            hi = probe
            lo += 1
            break
        lo = probe
        step *= 2
    while lo < hi:
        mid = (lo + hi) >> 1
        if values[mid] > x:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _step_sessions(
    trace: np.ndarray,
    ptr: np.ndarray,
    clock_s: np.ndarray,
    buffer_s: np.ndarray,
    chunk: np.ndarray,
    levels: np.ndarray,
    sizes_bytes: np.ndarray,
    noise: np.ndarray,
    offsets: np.ndarray,
    lengths: np.ndarray,
    cycle_time_s: np.ndarray,
    rate_bytes_per_s: np.ndarray,
    cum_bytes: np.ndarray,
    cycle_bytes: np.ndarray,
    cycle_s: np.ndarray,
    rtt_s: float,
    chunk_s: float,
    buffer_cap_s: float,
    sleep_quantum_s: float,
    out_size_bytes: np.ndarray,
    out_transfer_s: np.ndarray,
    out_delay_s: np.ndarray,
    out_rebuffer_s: np.ndarray,
    out_sleep_s: np.ndarray,
    out_throughput_kbps: np.ndarray,
) -> None:
    """Advance every session by one chunk; updates ptr, clock_s, buffer_s, chunk in place."""
    for i in prange(len(trace)):
        size = sizes_bytes[levels[i], chunk[i]]
        t = trace[i]
        first = offsets[t] + 1
        last = offsets[t] + lengths[t] - 1
        p = ptr[i]
        clock = clock_s[i]
        # 1. download: cumulative payload, whole cycles, then the interval where it ends
        position = cum_bytes[p - 1] + rate_bytes_per_s[p] * (clock - cycle_time_s[p - 1])
        target = position + size
        cycles = 0.0
        residual = target
        if target >= cycle_bytes[t]:  # wraps: whole cycles (rare, so the division is too)
            cycles = math.floor(target / cycle_bytes[t])
            residual = target - cycles * cycle_bytes[t]
            if residual >= cycle_bytes[t]:
                cycles += 1
                residual -= cycle_bytes[t]
            elif residual < 0:
                cycles -= 1
                residual += cycle_bytes[t]
        end = _first_greater(cum_bytes, first, last, residual, p if cycles == 0 else first)
        end_clock = cycle_time_s[end - 1] + (residual - cum_bytes[end - 1]) / rate_bytes_per_s[end]
        download = cycles * cycle_s[t] + end_clock - clock
        delay = (download + rtt_s) * noise[i]
        # 2. rebuffer and buffer
        rebuffer = max(delay - buffer_s[i], 0.0)
        buffer = max(buffer_s[i] - delay, 0.0) + chunk_s
        # 3. sleep above the cap, moving the clock through the trace
        sleep = 0.0
        if buffer - buffer_cap_s > 0:
            sleep = math.ceil((buffer - buffer_cap_s) / sleep_quantum_s) * sleep_quantum_s
            buffer = buffer - sleep
            wake = end_clock + sleep
            if wake >= cycle_s[t]:
                wake = wake - math.floor(wake / cycle_s[t]) * cycle_s[t]
                if wake >= cycle_s[t]:
                    wake -= cycle_s[t]
            guess = end if wake >= end_clock else first
            end = _first_greater(cycle_time_s, first, last, wake, guess)
            end_clock = wake
        ptr[i] = end
        clock_s[i] = end_clock
        buffer_s[i] = buffer
        chunk[i] += 1
        out_size_bytes[i] = size
        out_throughput_kbps[i] = throughput_kbps(size, delay)
        out_transfer_s[i] = download
        out_delay_s[i] = delay
        out_rebuffer_s[i] = rebuffer
        out_sleep_s[i] = sleep


step_sessions: Any = None
if HAVE_NUMBA:
    _first_greater = njit(cache=True, inline="always")(_first_greater)
    throughput_kbps = njit(cache=True, inline="always")(throughput_kbps)
    step_sessions = njit(cache=True, parallel=True)(_step_sessions)
