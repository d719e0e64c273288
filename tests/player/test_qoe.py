import math

import numpy as np
import pytest

from abr.player.qoe import make_qoe, summarize_session

LADDER = np.array([300.0, 750.0, 1200.0, 1850.0, 2850.0, 4300.0])


def test_lin_per_chunk_by_hand():
    qoe = make_qoe("lin", LADDER)
    # 2.85 Mbps after 1.2 Mbps with 0.5 s of rebuffering: 2.85 - 4.3*0.5 - 1.65
    got = qoe.per_chunk(np.array([4]), np.array([2]), np.array([0.5]))
    assert got[0] == pytest.approx(2.85 - 2.15 - 1.65)


def test_log_and_hd_utilities():
    log = make_qoe("log", LADDER)
    assert log.utility[0] == 0.0
    assert log.utility[5] == pytest.approx(math.log(4300 / 300))
    assert log.rebuffer_penalty == 2.66
    hd = make_qoe("hd", LADDER)
    np.testing.assert_array_equal(hd.utility, [1, 2, 3, 12, 15, 20])
    got = hd.per_chunk(np.array([3]), np.array([5]), np.array([1.0]))
    assert got[0] == pytest.approx(12 - 8 - 8)
    # off-table bitrates are interpolated in kbps
    assert make_qoe("hd", np.array([1525.0])).utility[0] == pytest.approx(7.5)


def test_unknown_qoe_is_rejected():
    with pytest.raises(ValueError, match="unknown QoE 'linear'"):
        make_qoe("linear", LADDER)


def test_session_summary_by_hand():
    qoe = make_qoe("lin", LADDER)
    levels = np.array([1, 1, 3, 3, 0])
    rebuffer_s = np.array([2.0, 0.0, 0.0, 1.0, 0.5])
    summary = summarize_session(qoe, levels, rebuffer_s, LADDER, chunk_s=4.0)
    # chunks 2..5: 0.75; 1.85 - 1.1; 1.85 - 4.3; 0.3 - 4.3*0.5 - 1.55
    per_chunk = [0.75, 1.85 - 1.1, 1.85 - 4.3, 0.3 - 2.15 - 1.55]
    assert summary.mean_qoe == pytest.approx(np.mean(per_chunk))
    assert summary.total_qoe == pytest.approx(sum(per_chunk))
    assert summary.avg_bitrate_kbps == pytest.approx((750 * 2 + 1850 * 2 + 300) / 5)
    assert summary.startup_delay_s == 2.0
    assert summary.rebuffer_s == 1.5
    assert summary.rebuffer_ratio == pytest.approx(1.5 / (1.5 + 20.0))
    assert summary.switches == 2
    assert summary.avg_switch_kbps == pytest.approx((1100 + 1550) / 2)
    assert summary.to_dict()["chunks"] == 5


def test_summary_rejects_mismatched_inputs():
    qoe = make_qoe("lin", LADDER)
    with pytest.raises(ValueError, match="equal length"):
        summarize_session(qoe, np.array([1, 2]), np.array([0.0]), LADDER, 4.0)
