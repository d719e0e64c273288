import numpy as np
import pytest

from abr.dqn.demos import collect_demonstrations
from abr.media.traces import load_traces
from abr.player.observation import ObservationSpec
from abr.player.qoe import make_qoe
from abr.policies.registry import make_policy
from tests.conftest import PENSIEVE_TRAIN, require_shared

N_SESSIONS = 8
GAMMA = 0.9


@pytest.fixture(scope="module")
def train_traces():
    return load_traces([require_shared(PENSIEVE_TRAIN)])[:20]


def demos(train_traces, video, *, policy="bb", env_steps=500, n_step=1, seed=0):
    spec = ObservationSpec(n_levels=video.n_levels)
    qoe = make_qoe("lin", video.bitrates_kbps)
    transitions = collect_demonstrations(
        make_policy(policy),
        train_traces,
        video,
        spec,
        "lin",
        env_steps=env_steps,
        n_sessions=N_SESSIONS,
        n_step=n_step,
        gamma=GAMMA,
        seed=seed,
    )
    return transitions, spec, qoe


def test_whole_videos_are_collected_until_the_asked_steps_are_reached(train_traces, envivio):
    transitions, _, _ = demos(train_traces, envivio, env_steps=500)
    per_round = N_SESSIONS * envivio.n_chunks  # 384: two rounds reach 500
    assert len(transitions.action) == 2 * per_round
    assert (transitions.discount == 0).sum() == 2 * N_SESSIONS  # one terminal per video
    with pytest.raises(ValueError, match="env_steps must be >= 1"):
        demos(train_traces, envivio, env_steps=0)


def test_actions_are_the_demonstrators_and_rewards_the_chunks_qoe(train_traces, envivio):
    """One-step transitions, rebuilt by hand from their own observations: BB's level from the
    buffer column, and the chunk's QoE from the level before (first column), the buffer before
    and the delay the chunk took (the newest delay column of the next observation)."""
    transitions, spec, qoe = demos(train_traces, envivio, n_step=1)
    obs, next_obs = transitions.obs.astype(np.float64), transitions.next_obs.astype(np.float64)
    buffer_s = obs[:, 1] * spec.buffer_scale_s
    top = envivio.n_levels - 1
    bb_level = np.clip(((top * (buffer_s - 5.0)) / 10.0).astype(int), 0, top)
    bb_level = np.where(buffer_s < 5.0, 0, np.where(buffer_s >= 15.0, top, bb_level))
    np.testing.assert_array_equal(transitions.action, bb_level)

    previous_level = np.searchsorted(
        envivio.bitrates_kbps, obs[:, 0] * envivio.bitrates_kbps[-1] - 1e-3
    )
    newest_delay_column = 3 + 2 * spec.history_len - 1
    download_s = next_obs[:, newest_delay_column] * envivio.chunk_s
    rebuffer_s = np.maximum(download_s - buffer_s, 0.0)
    expected = qoe.per_chunk(transitions.action, previous_level, rebuffer_s)
    np.testing.assert_allclose(transitions.returns, expected, rtol=1e-4, atol=1e-4)
    assert np.all(transitions.discount[transitions.discount > 0] == np.float32(GAMMA))


def test_same_seed_same_demonstrations_other_seed_other(train_traces, envivio):
    first, _, _ = demos(train_traces, envivio, policy="mpc", n_step=3, seed=1)
    again, _, _ = demos(train_traces, envivio, policy="mpc", n_step=3, seed=1)
    other, _, _ = demos(train_traces, envivio, policy="mpc", n_step=3, seed=2)
    for field in first._fields:
        np.testing.assert_array_equal(getattr(first, field), getattr(again, field))
    assert not np.array_equal(first.obs, other.obs)
