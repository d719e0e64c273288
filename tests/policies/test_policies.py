import itertools

import numpy as np
import pytest

from abr.media.video import ENVIVIO_BITRATES_KBPS
from abr.player.state import PlayerState
from abr.player.throughput import harmonic_mean_kbps
from abr.policies.base import highest_level_below
from abr.policies.bola import Bola, Dynamic, bola_parameters
from abr.policies.mpc import RobustMpc
from abr.policies.registry import POLICIES, make_policy
from abr.policies.simple import BufferBased, RateBased
from abr.sim.simulator import BatchSimulator

LADDER = np.array(ENVIVIO_BITRATES_KBPS, dtype=float)


def state(buffer_s, throughput_kbps=None, count=None, **changes) -> PlayerState:
    buffer_s = np.atleast_1d(np.asarray(buffer_s, dtype=float))
    n = len(buffer_s)
    history = np.zeros((n, 8)) if throughput_kbps is None else np.asarray(throughput_kbps, float)
    fields = dict(
        last_level=np.ones(n, dtype=np.int64),
        buffer_s=buffer_s,
        throughput_kbps=history,
        download_s=np.ones((n, 8)),
        history_count=np.full(n, 8) if count is None else np.asarray(count),
        next_sizes_bytes=np.tile(LADDER * 500, (n, 1)),
        chunk_index=np.full(n, 10),
        chunks_left=np.full(n, 38),
        bitrates_kbps=LADDER,
        chunk_s=4.0,
        n_chunks=48,
    )
    fields.update(changes)
    return PlayerState(**fields)


def test_buffer_based_by_hand():
    policy = BufferBased()
    got = policy.act(state([0.0, 4.99, 5.0, 7.0, 9.1, 14.99, 15.0, 60.0]))
    # int(5 * (b - 5) / 10) between 5 and 15 s
    assert got.tolist() == [0, 0, 0, 1, 2, 4, 5, 5]


def test_harmonic_mean_uses_only_real_history():
    history = np.zeros((2, 8))
    history[0, -2:] = [1000.0, 4000.0]
    history[1, -6:] = [9e9, 1000, 1000, 1000, 1000, 4000]  # the oldest is outside the window
    got = harmonic_mean_kbps(state([5.0, 5.0], history, count=[2, 6]))
    np.testing.assert_allclose(got, [2 / (1 / 1000 + 1 / 4000), 5 / (4 / 1000 + 1 / 4000)])
    assert highest_level_below(LADDER, np.array([299.0, 300.0, 1849.0, 99999.0])).tolist() == [
        0,
        0,
        2,
        5,
    ]


def test_harmonic_mean_of_a_denormal_throughput_is_zero_without_a_warning():
    history = np.zeros((1, 8))
    history[0, -2:] = [1e-310, 1000.0]  # 1 / 1e-310 overflows float64
    with np.errstate(all="raise"):  # a warning would be raised here
        got = harmonic_mean_kbps(state([5.0], history, count=[2]))
    assert got.tolist() == [0.0]
    assert RateBased().act(state([5.0], history, count=[2])).tolist() == [0]


def test_rate_based_picks_the_highest_rung_under_the_estimate():
    history = np.zeros((1, 8))
    history[0, -1] = 1300.0
    assert RateBased().act(state([3.0], history, count=[1])).tolist() == [2]


def test_bola_parameters_and_decisions():
    utilities, gp, vp = bola_parameters(LADDER)
    assert utilities[0] == 1.0
    # target buffer: max(12, 10 + 2 * 6) = 22 s
    assert gp == pytest.approx(np.log(4300 / 300) / (22 / 10 - 1))
    assert vp == pytest.approx(10 / gp)
    policy = Bola()
    policy.reset(3, video=_video())
    got = policy.act(state([0.0, 10.0, 22.0]))
    assert got.tolist()[0] == 0 and got.tolist()[2] == 5
    levels = policy.act(state(np.linspace(0, 30, 61)))
    assert np.all(np.diff(levels) >= 0)  # never lower with more buffer


def test_dynamic_switches_from_throughput_to_bola_with_buffer():
    policy = Dynamic()
    policy.reset(1, _video())
    history = np.zeros((1, 8))
    history[0, -1] = 1000.0
    assert policy.act(state([5.0], history, count=[1])).tolist() == [1]  # 0.9 * 1000 -> 750
    assert not policy.using_bola[0]
    assert policy.act(state([30.0], history, count=[1])).tolist() == [5]  # BOLA at a full buffer
    assert policy.using_bola[0]


def _video():
    from abr.media.video import make_video, nominal_sizes_bytes

    return make_video(LADDER, 4.0, nominal_sizes_bytes(LADDER, 4.0, 48))


def brute_force_mpc(video, buffer_s, last_level, chunk, bytes_per_s, horizon=5):
    """Pensieve's test/mpc.py loop, with the chunk index fixed: the first level of the best."""
    best, first = -1e18, None
    h = min(horizon, video.n_chunks - chunk)
    for combo in itertools.product(range(video.n_levels), repeat=h):
        rebuffer, buffer, bitrate_sum, switch_sum, last = 0.0, buffer_s, 0.0, 0.0, last_level
        for position, level in enumerate(combo):
            download = video.sizes_bytes[level, chunk + position] / bytes_per_s
            if buffer < download:
                rebuffer += download - buffer
                buffer = 0.0
            else:
                buffer -= download
            buffer += video.chunk_s
            bitrate_sum += video.bitrates_kbps[level]
            switch_sum += abs(video.bitrates_kbps[level] - video.bitrates_kbps[last])
            last = level
        reward = bitrate_sum / 1000.0 - 4.3 * rebuffer - switch_sum / 1000.0
        if reward >= best:
            best, first = reward, combo[0]
    return first


def test_mpc_plan_equals_pensieve_loop(envivio):
    rng = np.random.default_rng(0)
    policy = RobustMpc(horizon=3)
    policy.reset(40, envivio)
    buffer_s = rng.uniform(0, 30, 40)
    last = rng.integers(0, 6, 40)
    chunk = rng.integers(0, 48, 40)
    chunk[:4] = [45, 46, 47, 0]  # the horizon shrinks at the end
    bytes_per_s = rng.uniform(5e4, 8e5, 40)
    got = policy._plan(buffer_s, last, chunk, bytes_per_s)
    expected = [
        brute_force_mpc(envivio, buffer_s[i], last[i], chunk[i], bytes_per_s[i], 3)
        for i in range(40)
    ]
    assert got.tolist() == expected


def test_mpc_prediction_discounts_by_the_largest_recent_error(envivio):
    policy = RobustMpc()
    policy.reset(1, envivio)
    history = np.zeros((1, 8))
    history[0, -1] = 1000.0
    first = policy.predict_kbps(state([4.0], history, count=[1]))
    assert first[0] == pytest.approx(1000.0)  # no earlier prediction: error 0
    history[0, -2:] = [1000.0, 500.0]
    second = policy.predict_kbps(state([4.0], history, count=[2]))
    harmonic = 2 / (1 / 1000 + 1 / 500)
    assert second[0] == pytest.approx(harmonic / (1 + abs(1000 - 500) / 500))


def test_make_policy_names():
    assert make_policy("fixed:3").name == "fixed:3"
    for name, entry in POLICIES.items():
        if entry.argument is None:
            assert make_policy(name).name == name
    with pytest.raises(ValueError, match="unknown policy 'bb:3'"):
        make_policy("bb:3")  # bb takes no argument
    with pytest.raises(ValueError, match="unknown policy 'pensieve'"):
        make_policy("pensieve")
    with pytest.raises(ValueError, match="fixed:<level>"):
        make_policy("fixed:top")


def test_policies_only_return_valid_levels(envivio, pensieve_test_traces):
    traces = pensieve_test_traces[:30]
    for name in ("bb", "rb", "bola", "mpc", "dynamic", "fixed:5"):
        policy = make_policy(name)
        sim = BatchSimulator(traces, envivio, len(traces))
        policy.reset(len(traces), envivio, traces)
        sim.step(np.ones(len(traces), dtype=np.int64))
        for _ in range(10):
            levels = policy.act(sim.player_state())
            assert levels.dtype == np.int64 and levels.min() >= 0 and levels.max() <= 5
            sim.step(levels)


def test_robustmpc_plans_fewer_chunks_ahead_on_larger_ladders():
    from abr.media.video import nominal_video
    from abr.policies.mpc import MAX_PLANS, planning_horizon, plans_per_decision

    assert [planning_horizon(5, n) for n in (2, 6, 7, 9, 10, 19, 20, 88, 89)] == [
        5,
        5,
        4,
        4,
        3,
        3,
        2,
        2,
        1,
    ]
    assert all(plans_per_decision(5, n) <= MAX_PLANS for n in range(1, 200))
    ladder = np.arange(1, 33) * 100.0
    video = nominal_video(ladder, 4.0, 48)
    mpc = RobustMpc()
    mpc.reset(3, video)
    assert mpc.plan_horizon == 2
    history = np.full((3, 8), 1500.0)
    levels = mpc.act(
        state(
            [9.5, 0.0, 40.0],
            history,
            bitrates_kbps=ladder,
            next_sizes_bytes=np.tile(ladder * 500, (3, 1)),
        )
    )
    assert levels.min() >= 0 and levels.max() < 32
