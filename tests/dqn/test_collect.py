"""The collector: the environment's rewards become n-step transitions, epsilon-greedy acting
keeps to the video's rungs, and the teacher it asks labels as the planners decide."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from abr.dqn.collect import Collector  # noqa: E402
from abr.dqn.config import load_config  # noqa: E402
from abr.dqn.train import split_traces  # noqa: E402
from abr.media.video import load_video  # noqa: E402
from abr.player.observation import ObservationSpec  # noqa: E402
from abr.player.qoe import make_qoe  # noqa: E402
from abr.policies.mpc import robust_mpc_from_history  # noqa: E402
from abr.policies.oracle import lookahead_values  # noqa: E402
from tests.dqn.test_train import SMALL  # noqa: E402


def collector(**changes) -> Collector:
    config = load_config(None, **{**SMALL, **changes})
    video = load_video(config.video)
    traces, _ = split_traces(config)
    spec = ObservationSpec(n_levels=video.n_levels)
    return Collector(config, traces, video, spec, torch.device("cpu"))


def test_one_step_returns_are_the_chunks_qoe_times_the_reward_scale():
    played = collector(n_step=1, reward_scale=0.5)
    sim = played.env.sim
    results, step = [], sim.step
    sim.step = lambda levels: results.append(step(levels)) or results[-1]
    qoe = make_qoe("lin", played.env.video.bitrates_kbps)
    rng = np.random.default_rng(0)
    for _ in range(60):  # past the end of the 48-chunk video: sessions restart on their own
        previous, obs = sim.last_level.copy(), played.env.obs.copy()
        action = rng.integers(0, 6, 16)
        transitions = played.step(action)
        np.testing.assert_array_equal(transitions.obs, obs)
        want = qoe.per_chunk(action, previous, results[-1].rebuffer_s) * 0.5
        np.testing.assert_allclose(transitions.returns, want, rtol=1e-6)
    assert np.all(sim.chunk == 60 - 48)


def test_exploration_keeps_to_the_video_s_rungs_and_greedy_at_epsilon_zero():
    played = collector()
    greedy = np.full(16, 5)
    assert played.explore(greedy, 0.0).tolist() == greedy.tolist()
    explored = np.concatenate([played.explore(greedy, 1.0) for _ in range(50)])
    assert set(explored.tolist()) == set(range(6))


def test_the_oracle_s_labels_are_its_plan_values_at_the_sessions_states():
    played = collector(teacher="oracle", teacher_horizon=2, teacher_buffer_value=0.2)
    for _ in range(5):
        played.step(np.ones(16, dtype=np.int64))
    levels, values = played.teach(values=True)
    env = played.env
    want = lookahead_values(env.sim, env.qoe, 2, 0.2)
    np.testing.assert_allclose(values, want)
    assert levels.tolist() == np.argmax(want, axis=1).tolist()


def test_the_mpc_teacher_labels_as_robustmpc_decides():
    played = collector(teacher="mpc")
    for _ in range(6):
        levels, values = played.teach(values=False)
        want = robust_mpc_from_history(played.env.sim.player_state(), played.env.video, "lin")
        assert values is None and levels.tolist() == want.tolist()
        played.step(levels)
