import numpy as np

from abr.media.video import make_video, nominal_sizes_bytes
from abr.player.qoe import make_qoe
from abr.sim.gym_env import AbrVectorEnv


def short_video(n_chunks=3):
    ladder = np.array([300.0, 1200.0, 4300.0])
    return make_video(ladder, 4.0, nominal_sizes_bytes(ladder, 4.0, n_chunks))


def test_spaces_and_shapes(pensieve_test_traces):
    env = AbrVectorEnv(pensieve_test_traces, short_video(), num_envs=4, seed=0)
    obs, info = env.reset(seed=1)
    assert obs.shape == (4, env.single_observation_space.shape[0])
    assert env.observation_space.contains(obs)
    assert env.action_space.shape == (4,) and env.single_action_space.n == 3
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert reward.shape == terminated.shape == truncated.shape == (4,)


def test_reward_is_qoe_and_autoreset_is_same_step(pensieve_test_traces):
    video = short_video()
    env = AbrVectorEnv(pensieve_test_traces, video, num_envs=2, qoe="lin", seed=0)
    env.reset(seed=3)
    qoe = make_qoe("lin", video.bitrates_kbps)
    previous = np.array([1, 1])
    for step in range(3):
        actions = np.array([2, step % 3])
        obs, reward, terminated, truncated, info = env.step(actions)
        expected = qoe.per_chunk(actions, previous, info["rebuffer_s"])
        np.testing.assert_allclose(reward, expected)
        previous = actions
    assert terminated.all() and not truncated.any()
    assert info["_final_obs"].all()
    # the returned observation starts a new session: empty buffer, all chunks left
    assert (obs[:, 1] == 0).all() and (obs[:, 2] == 1).all()
    assert (info["final_obs"][:, 2] == 0).all()  # no chunks left in the finished ones


def test_same_seed_same_episode(pensieve_test_traces):
    def run(seed):
        env = AbrVectorEnv(pensieve_test_traces, short_video(), num_envs=3)
        env.reset(seed=seed)
        return np.stack([env.step(np.array([0, 1, 2]))[1] for _ in range(3)])

    np.testing.assert_array_equal(run(5), run(5))
    assert not np.array_equal(run(5), run(6))
