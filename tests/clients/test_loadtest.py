"""The load client's record of a run: compact enough for a long soak, and read back exactly."""

import tracemalloc

import numpy as np
import pytest

from abr.clients.loadtest import LoadResult, latency_percentiles_ms
from abr.clients.virtual_players import ReplayLog

N_REQUESTS = 100_000


@pytest.mark.parametrize("record", [LoadResult, ReplayLog])
def test_a_run_keeps_each_answer_in_under_20_bytes(record) -> None:
    tracemalloc.start()
    try:
        result = record()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(N_REQUESTS):
            result.latencies_s.append(0.001 + i * 1e-9)
            result.answered_at_s.append(i * 1e-4)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 2 * 10 * N_REQUESTS  # a latency and a time each, 8 bytes and some slack
    expected = np.percentile((0.001 + np.arange(N_REQUESTS) * 1e-9) * 1000.0, 99)
    assert latency_percentiles_ms(result.latencies_s)["p99_ms"] == pytest.approx(expected)
