"""The future-aware teacher against brute force on the scalar reference simulator, and its
place between RobustMPC and the offline optimum."""

import copy
import itertools

import numpy as np
import pytest

from abr.bench.run import run_policy
from abr.player.qoe import make_qoe
from abr.policies.optimal import OfflineOptimal
from abr.policies.oracle import FutureAwareOracle, lookahead_values
from abr.policies.registry import make_policy
from abr.sim.reference import ReferenceSession
from abr.sim.simulator import BatchSimulator
from tests.policies.test_optimal import small_video


def brute_force_level(session, video, metric, chunk, last, horizon, buffer_value):
    """Every sequence of the next chunks played on copies of the scalar reference: the first
    level of the best (the first of equal bests)."""
    planned = min(horizon, video.n_chunks - chunk)
    best, best_level = -np.inf, -1
    for sequence in itertools.product(range(video.n_levels), repeat=planned):
        trial, value, previous = copy.deepcopy(session), 0.0, last
        for offset, level in enumerate(sequence):
            outcome = trial.fetch(video.sizes_bytes[level, chunk + offset])
            value += metric.per_chunk(
                np.array([level]), np.array([previous]), np.array([outcome.rebuffer_s])
            )[0]
            previous = level
        value += buffer_value * trial.buffer_s
        if value > best:
            best, best_level = value, sequence[0]
    return best_level


@pytest.mark.parametrize(("horizon", "buffer_value", "qoe"), [(3, 0.1, "lin"), (2, 0.0, "log")])
def test_every_decision_is_the_brute_force_best(pensieve_test_traces, horizon, buffer_value, qoe):
    video = small_video(n_chunks=10, seed=2)
    metric = make_qoe(qoe, video.bitrates_kbps)
    for trace in pensieve_test_traces[:6]:
        oracle = FutureAwareOracle(horizon, buffer_value, qoe)
        oracle.reset(1, video, [trace])
        sim = BatchSimulator([trace], video, 1, "eval")
        reference = ReferenceSession(list(trace.time_s), list(trace.mbps), video.chunk_s)
        level = previous = 1  # chunk 0 at level 1, as the protocol plays it
        for chunk in range(video.n_chunks):
            if chunk > 0:
                level = int(oracle.act(sim.player_state())[0])
                expected = brute_force_level(
                    reference, video, metric, chunk, previous, horizon, buffer_value
                )
                assert level == expected, (trace.name, chunk)
            sim.step(np.array([level]))
            reference.fetch(video.sizes_bytes[level, chunk])
            previous = level


def test_the_oracle_sits_between_robustmpc_and_the_optimum(pensieve_test_traces, envivio):
    traces = pensieve_test_traces[::12]
    oracle = run_policy(make_policy("oracle:3"), traces, envivio).aggregate()["mean_qoe"]
    mpc = run_policy(make_policy("mpc"), traces, envivio).aggregate()["mean_qoe"]
    optimum = run_policy(OfflineOptimal(), traces, envivio).aggregate()["mean_qoe"]
    assert mpc < oracle <= optimum + 1e-9


def test_the_oracle_needs_the_traces_and_a_horizon(envivio):
    with pytest.raises(ValueError, match="needs each session's trace"):
        FutureAwareOracle().reset(2, envivio, None)
    with pytest.raises(ValueError, match="at least 1 chunk"):
        FutureAwareOracle(horizon=0)
    for bad in ("oracle:far", "oracle:4:much", "oracle:4:0.1:2"):
        with pytest.raises(ValueError, match=r"expected oracle\[:<horizon>\[:<buffer value>\]\]"):
            make_policy(bad)
    with pytest.raises(ValueError, match="buffer value must be at least 0"):
        make_policy("oracle:4:-1")


def test_the_buffer_value_is_the_oracles_terminal_term(pensieve_test_traces, envivio):
    """A buffer worth more than the best chunk makes the oracle hoard it: the same horizon plays
    lower rungs and keeps more buffer; the name says what was asked for."""
    traces = pensieve_test_traces[::12]
    runs = {
        name: run_policy(make_policy(name), traces, envivio)
        for name in ("oracle:3", "oracle:3:0.1", "oracle:3:5")
    }
    assert [run.policy for run in runs.values()] == ["oracle:3", "oracle:3", "oracle:3:5"]
    np.testing.assert_array_equal(runs["oracle:3"].levels, runs["oracle:3:0.1"].levels)
    hoarding = runs["oracle:3:5"]
    assert hoarding.levels.mean() < runs["oracle:3"].levels.mean()
    assert hoarding.buffer_s.mean() > runs["oracle:3"].buffer_s.mean()


def test_each_session_can_value_buffer_its_own_way(pensieve_test_traces):
    """A buffer value per session scores each session as that value alone would."""
    video = small_video(n_chunks=10, seed=2)
    metric = make_qoe("lin", video.bitrates_kbps)
    traces = pensieve_test_traces[:4]
    sim = BatchSimulator(traces, video, 4, "eval")
    for _ in range(3):
        sim.step(np.array([0, 1, 2, 1]))
    per_session = np.array([0.0, 0.1, 2.0, 5.0])
    values = lookahead_values(sim, metric, 3, per_session)
    for session, buffer_value in enumerate(per_session):
        alone = lookahead_values(sim, metric, 3, float(buffer_value))
        np.testing.assert_allclose(values[session], alone[session])
    assert not np.allclose(values, lookahead_values(sim, metric, 3, 0.1))
