"""The one vector environment: rewards from the QoE of each chunk's ladder, same-step autoreset
with the finished sessions' last observation kept, one video or a new one every episode."""

import numpy as np
import pytest

from abr.media.ladders import LadderSampler, scaled_for_simulation
from abr.player.ladder_observation import LadderSpec, encode_ladder
from abr.player.observation import ObservationSpec, encode
from abr.player.qoe import make_qoe
from abr.sim.env import AbrEnv, FixedVideo, SampledVideos
from abr.sim.simulator import BatchSimulator


def test_one_video_rewards_and_autoreset_are_the_simulator_s(pensieve_test_traces, envivio):
    traces = pensieve_test_traces[:8]
    spec = ObservationSpec(n_levels=envivio.n_levels)
    env = AbrEnv(traces, FixedVideo(envivio), spec, 8, mode="train", reward_scale=0.5, seed=3)
    twin = BatchSimulator(traces, envivio, 8, "train", seed=3)  # the same draws, by hand
    qoe = make_qoe("lin", envivio.bitrates_kbps)
    np.testing.assert_array_equal(env.obs, encode(twin.player_state(), spec))
    rng = np.random.default_rng(0)
    finished = 0
    for _ in range(60):
        levels = rng.integers(0, envivio.n_levels, 8)
        previous = twin.last_level.copy()
        result = twin.step(levels)
        stepped = env.step(levels)
        want = qoe.per_chunk(levels, previous, result.rebuffer_s)
        np.testing.assert_allclose(stepped.qoe, want)
        np.testing.assert_allclose(stepped.reward, 0.5 * want)  # Envivio's ladder scale is 1
        np.testing.assert_array_equal(stepped.final_obs, encode(twin.player_state(), spec))
        np.testing.assert_array_equal(stepped.done, result.done)
        if result.done.any():
            finished += 1
            twin.reset(mask=result.done)
        np.testing.assert_array_equal(stepped.obs, encode(twin.player_state(), spec))
    assert finished == 1  # the 48-chunk video ended once, every session restarting on its own


def test_without_autoreset_finished_sessions_stay_finished(pensieve_test_traces, envivio):
    env = AbrEnv(
        pensieve_test_traces[:4], FixedVideo(envivio), None, 4, mode="eval", autoreset=False
    )
    for _ in range(envivio.n_chunks):
        stepped = env.step(np.zeros(4, dtype=np.int64))
    assert stepped.done.all() and stepped.obs is None
    np.testing.assert_allclose(
        stepped.result.throughput_kbps,
        stepped.result.size_bytes * 8 / 1000 / stepped.result.download_s,
    )
    with pytest.raises(RuntimeError, match="finished session"):
        env.step(np.zeros(4, dtype=np.int64))


def test_sampled_videos_start_together_with_their_bandwidth_matched(pensieve_test_traces, envivio):
    sampler = LadderSampler(duration_s=(20.0, 40.0), library=(envivio,))
    source = SampledVideos(sampler, np.random.default_rng(1), 1200.0, 0.0, 0.5, envivio)
    spec = LadderSpec()
    env = AbrEnv(pensieve_test_traces[:8], source, spec, 8, seed=0)
    videos = []
    for _ in range(200):
        video, factor = env.video, env.factor
        videos.append(video.name)
        assert env.sim.video.sizes_bytes == pytest.approx(
            scaled_for_simulation(video, factor).sizes_bytes
        )
        state = env.sim.player_state()  # what the players see: the true sizes
        np.testing.assert_allclose(
            env.player_state().next_sizes_bytes, state.next_sizes_bytes * factor
        )
        np.testing.assert_array_equal(env.obs, encode_ladder(env.player_state(), spec))
        qoe = make_qoe("lin", video.bitrates_kbps)
        stepped = env.step(np.zeros(8, dtype=np.int64))
        np.testing.assert_allclose(stepped.reward, stepped.qoe * qoe.ladder_scale)
        assert stepped.done.all() or not stepped.done.any()  # one video, one end
    assert len(set(videos)) >= 4
