import numpy as np
import pytest

from abr.dqn.curriculum import MpcGapCurriculum, gap_weights
from abr.policies.registry import make_policy
from abr.sim.simulator import BatchSimulator


def test_gap_weights_by_hand():
    mpc = np.array([1.0, 1.0, 1.0, 1.0])
    policy = np.array([0.0, 1.0, 0.5, 2.0])  # gaps 1, 0, 0.5, 0 (a lead counts as no gap)
    expected = 0.5 * 0.25 + 0.5 * np.array([1.0, 0.0, 0.5, 0.0]) / 1.5
    np.testing.assert_allclose(gap_weights(mpc, policy, floor=0.5), expected, rtol=1e-12)
    np.testing.assert_allclose(gap_weights(mpc, policy, floor=0.0), [2 / 3, 0, 1 / 3, 0])


def test_no_gap_anywhere_is_uniform_and_the_floor_is_checked():
    np.testing.assert_array_equal(gap_weights(np.zeros(4), np.ones(4), 0.2), np.full(4, 0.25))
    with pytest.raises(ValueError, match="curriculum_floor"):
        gap_weights(np.zeros(2), np.zeros(2), 1.5)


def test_curriculum_weighs_the_traces_a_weak_policy_loses(envivio, pensieve_test_traces):
    """Level 0 always: it trails RobustMPC most where the link is fast, so those traces get the
    most weight; the weights are gap_weights of both policies' replays."""
    traces = pensieve_test_traces[:12]
    curriculum = MpcGapCurriculum.build(traces, envivio, "lin", floor=0.2)
    weights = curriculum.weights(make_policy("fixed:0"))
    mean_mbps = np.array([t.mbps.mean() for t in traces])
    assert weights.sum() == pytest.approx(1.0)
    assert np.corrcoef(weights, mean_mbps)[0, 1] > 0.5
    assert weights.min() >= 0.2 / 12 - 1e-12


def test_the_simulator_draws_training_traces_by_weight(envivio, pensieve_test_traces):
    traces = pensieve_test_traces[:5]
    sim = BatchSimulator(traces, envivio, 200, "train", seed=3)
    sim.set_trace_weights(np.array([0.0, 0.0, 1.0, 0.0, 0.0]))
    sim.reset()
    assert (sim.trace == 2).all()
    sim.set_trace_weights(np.array([0.5, 0.0, 0.0, 0.0, 0.5]))
    sim.reset()
    assert set(sim.trace.tolist()) == {0, 4}
    sim.set_trace_weights(None)
    sim.reset()
    assert len(set(sim.trace.tolist())) == 5
    for bad in (np.ones(5), np.array([0.5, 0.5]), np.array([1.5, -0.5, 0, 0, 0])):
        with pytest.raises(ValueError, match="trace_weights must be 5 non-negative"):
            sim.set_trace_weights(bad)


def test_the_weights_travel_in_the_simulators_state(envivio, pensieve_test_traces):
    traces = pensieve_test_traces[:5]
    sim = BatchSimulator(traces, envivio, 50, "train", seed=3)
    sim.set_trace_weights(np.array([0.1, 0.0, 0.0, 0.0, 0.9]))
    copy = BatchSimulator(traces, envivio, 50, "train", seed=99)
    copy.load_state_dict(sim.state_dict())
    sim.reset()
    copy.reset()
    np.testing.assert_array_equal(sim.trace, copy.trace)
    assert set(copy.trace.tolist()) <= {0, 4}
