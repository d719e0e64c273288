import numpy as np
import pytest

from abr.media.traces import make_trace
from abr.sim import kernel as sim_kernel
from abr.sim.trace_table import TraceSearch, TraceTable


def brute_first_greater(values: np.ndarray, x: float) -> int:
    return int(np.flatnonzero(values > x)[0])


def test_search_is_exact_next_to_a_huge_trace():
    # Trace 0 delivers 1e15 bytes: any scheme that shifts trace 1's values past it by adding an
    # offset loses everything below 0.125 bytes, and 100 - 1e-9 would land on the wrong side.
    values = np.array([0.0, 1e15, 0.0, 100.0, 100.0, 100.0 + 1e-9, 200.0])
    lengths = np.array([2, 5])
    search = TraceSearch.build(values, lengths)
    trace, first, last = np.ones(5, dtype=np.int64), np.full(5, 3), np.full(5, 6)
    queries = np.array([100.0 - 1e-9, 100.0, 0.0, 100.0 + 1e-9, 199.999999])
    got = search.search_right(trace, first, last, queries)
    assert got.tolist() == [3, 5, 3, 6, 6]


def test_search_matches_per_trace_searchsorted_on_random_tables():
    rng = np.random.default_rng(0)
    lengths = rng.integers(2, 40, 30)
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    steps = rng.choice([0.0, 0.0, 1.0, 2.5, 1e9], size=lengths.sum())
    values = np.concatenate(
        [np.cumsum(steps[o : o + n]) - steps[o] for o, n in zip(offsets, lengths, strict=True)]
    )
    search = TraceSearch.build(values, lengths)
    trace = rng.integers(0, 30, 2000)
    first, last = offsets[trace] + 1, offsets[trace] + lengths[trace] - 1
    queries = rng.random(2000) * values[last]
    queries[::3] = values[rng.integers(first, last + 1)][::3]  # exactly on entries, often in runs
    queries = np.minimum(queries, np.nextafter(values[last], 0))
    got = search.search_right(trace, first, last, queries)
    for i in range(2000):
        segment = values[first[i] : last[i] + 1]
        assert got[i] == first[i] + np.searchsorted(segment, queries[i], side="right")


@pytest.mark.skipif(not sim_kernel.HAVE_NUMBA, reason="numba not installed")
@pytest.mark.parametrize("guess", [1, 2, 4, 5])
def test_compiled_search_is_strictly_greater(guess):
    values = np.array([0.0, 1.0, 1.0, 1.0, 2.0, 3.0])
    assert sim_kernel._first_greater(values, 1, 5, 1.0, guess) == 4
    assert sim_kernel._first_greater(values, 1, 5, 0.5, guess) == 1
    assert sim_kernel._first_greater(values, 1, 5, 2.5, guess) == 5


def test_table_cycle_form():
    trace = make_trace("t", [1.0, 2.0, 4.0], [9, 8, 4])
    table = TraceTable.build([trace], payload_fraction=1.0)
    np.testing.assert_array_equal(table.cycle_time_s, [0.0, 2.0, 4.0])
    # interval 1 spans (0, 2] after the wrap: 2 s at 1e6 B/s, then 2 s at 5e5 B/s
    np.testing.assert_array_equal(table.cum_bytes, [0.0, 2e6, 3e6])
    assert table.cycle_bytes[0] == 3e6 and table.cycle_s[0] == 4.0
