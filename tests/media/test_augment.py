import numpy as np
import pytest

from abr.media.augment import augmented, rescaled
from abr.media.traces import make_trace
from abr.media.video import make_video, nominal_sizes_bytes
from abr.sim.simulator import BatchSimulator

# 2 Mbps for 3 s, then 1 Mbps for 3 s (each sample's rate applies to the interval before it)
STEP_TRACE = make_trace("step", [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 2, 2, 2, 1, 1, 1])


def first_download_s(trace) -> float:
    """Transfer time (no RTT) of one 1-s chunk of 4,000 kbps (500,000 bytes) from time 0."""
    ladder_kbps = np.array([300.0, 4000.0])
    video = make_video(ladder_kbps, 1.0, nominal_sizes_bytes(ladder_kbps, 1.0, 1))
    sim = BatchSimulator([trace], video, 1, "eval")
    return float(sim.step(np.ones(1, dtype=np.int64)).transfer_s[0])


def test_bandwidth_factor_scales_the_rate_and_keeps_the_clock():
    doubled = rescaled(STEP_TRACE, mbps_factor=2.0)
    np.testing.assert_array_equal(doubled.time_s, STEP_TRACE.time_s)
    np.testing.assert_array_equal(doubled.mbps, 2 * STEP_TRACE.mbps)
    # 500,000 bytes at 4 Mbps x 0.95 payload: all inside the first 3 s
    assert first_download_s(doubled) == pytest.approx(500_000 / (4e6 / 8 * 0.95))
    assert first_download_s(STEP_TRACE) == pytest.approx(500_000 / (2e6 / 8 * 0.95))


def test_time_factor_makes_the_same_fluctuations_faster():
    fast = rescaled(STEP_TRACE, time_factor=0.5)  # 2 Mbps for 1.5 s, then 1 Mbps
    np.testing.assert_array_equal(fast.time_s, STEP_TRACE.time_s * 0.5)
    first_part_bytes = 2e6 / 8 * 0.95 * 1.5
    rest_s = (500_000 - first_part_bytes) / (1e6 / 8 * 0.95)
    assert first_download_s(fast) == pytest.approx(1.5 + rest_s)


def test_augmented_makes_every_pair_once_and_names_them():
    traces = [STEP_TRACE, rescaled(STEP_TRACE, 3.0)]
    out = augmented(traces, [1.0, 0.5], [1.0, 2.0])
    assert len(out) == 8
    assert out[0] is STEP_TRACE  # factors 1 and 1: the trace as recorded
    assert [t.name for t in out[:4]] == ["step", "step@bw1t2", "step@bw0.5t1", "step@bw0.5t2"]
    assert len({t.name for t in out}) == 8


@pytest.mark.parametrize("factors", [dict(mbps_factor=0.0), dict(time_factor=-1.0)])
def test_non_positive_factors_are_refused(factors):
    with pytest.raises(ValueError, match=next(iter(factors))):
        rescaled(STEP_TRACE, **factors)
    with pytest.raises(ValueError, match="at least one"):
        augmented([STEP_TRACE], [], [1.0])
