import numpy as np
import pytest

from abr.media.trace_stats import trace_set_stats, weighted_median, zero_runs_s
from abr.media.traces import load_traces, make_trace
from tests.conftest import PENSIEVE_TRAIN, require_shared


def test_stats_by_hand():
    a = make_trace("a", [0, 1, 3, 4, 6], [9, 2, 0, 0, 4])  # intervals: 1s@2, 2s@0, 1s@0, 2s@4
    b = make_trace("b", [10, 12], [0, 1])
    stats = trace_set_stats([a, b])
    assert stats["files"] == 2
    assert stats["total_hours"] == pytest.approx(8 / 3600)
    assert stats["time_weighted_mean_mbps"] == pytest.approx((2 + 8 + 2) / 8)
    assert stats["zero_runs"] == 1 and stats["longest_zero_run_s"] == 3.0
    assert stats["files_with_zero_runs"] == 1
    np.testing.assert_array_equal(zero_runs_s(a), [3.0])


def test_weighted_median():
    assert weighted_median(np.array([1.0, 5.0, 2.0]), np.array([1.0, 3.0, 1.0])) == 5.0


def test_pensieve_train_matches_provenance():
    stats = trace_set_stats(load_traces([require_shared(PENSIEVE_TRAIN)]))
    # PROVENANCE.md: 127 files, 41.7 h, time-weighted mean 1.293 Mbps, longest zero run 75 s
    assert stats["files"] == 127
    assert stats["total_hours"] == pytest.approx(41.7, abs=0.05)
    assert stats["time_weighted_mean_mbps"] == pytest.approx(1.293, abs=0.0005)
    assert stats["longest_zero_run_s"] == 75.0
