"""Training one model for any ladder: a new sampled video every episode, scaled rewards and
teacher values, a fixed validation set of ladders, exact resumption, and a model whose ONNX
export decides for ladders it never saw."""

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from abr.dqn.checkpoint import load_best_model  # noqa: E402
from abr.dqn.collect import Collector  # noqa: E402
from abr.dqn.config import load_config  # noqa: E402
from abr.dqn.export import export_onnx  # noqa: E402
from abr.dqn.policy import GreedyQPolicy  # noqa: E402
from abr.dqn.train import split_traces, train  # noqa: E402
from abr.dqn.video_mix import (  # noqa: E402
    ladder_demonstrations,
    ladder_sampler,
    teacher_buffer_values,
    teacher_horizon,
    throughput_variation,
    trained_over,
    validation_cases,
)
from abr.media.ladders import LadderSampler  # noqa: E402
from abr.media.video import load_video  # noqa: E402
from abr.player.ladder_observation import LadderSpec  # noqa: E402
from abr.player.qoe import make_qoe  # noqa: E402
from abr.policies.onnx import OnnxModel  # noqa: E402
from abr.policies.oracle import lookahead_values  # noqa: E402
from abr.sim.simulator import BatchSimulator  # noqa: E402
from tests.dqn.test_train import SMALL, check_resume_is_exact  # noqa: E402

ANY_LADDER = {
    **SMALL,
    "ladders": "sampled",
    "val_ladders": 2,
    "ladder_duration_s": [20.0, 60.0],
    "teacher": "oracle",
    "teacher_horizon": 2,
    "teacher_loss": "advantage",
    "teacher_weight_start": 0.01,
    "teacher_weight_end": 0.01,
}


def collector(**changes) -> Collector:
    config = load_config(None, **{**ANY_LADDER, **changes})
    traces, _ = split_traces(config)
    spec = LadderSpec(history_len=config.history_len)
    return Collector(config, traces, load_video(None), spec, torch.device("cpu"))


def test_every_episode_plays_a_new_video_with_scaled_rewards():
    mix = collector(n_step=1)  # one-step returns: each is the step's own reward
    env = mix.env
    steps, step = [], env.sim.step
    env.sim.step = lambda levels: steps.append(step(levels)) or steps[-1]
    seen, rng = [], np.random.default_rng(0)
    for _ in range(200):
        video = env.video
        seen.append(video.name)
        qoe = make_qoe("lin", video.bitrates_kbps)
        previous = env.sim.last_level.copy()
        action = rng.integers(0, video.n_levels, 16)
        transitions = mix.step(action)
        want = qoe.per_chunk(action, previous, steps[-1].rebuffer_s) * qoe.ladder_scale
        np.testing.assert_allclose(transitions.returns, want, rtol=1e-5, atol=1e-6)
        assert 0.0 < qoe.ladder_scale <= 1.0
    assert len(set(seen)) >= 4
    assert env.sim.video.sizes_bytes[0, 0] == pytest.approx(
        env.video.sizes_bytes[0, 0] / env.factor
    )


def test_the_config_s_ranges_reach_the_sampler_and_the_metadata():
    config = load_config(
        None, **{**ANY_LADDER, "ladder_lowest_kbps": [1500, 2000], "ladder_chunk_s": [2, 3]}
    )
    sampler = ladder_sampler(config)
    rng = np.random.default_rng(0)
    for video in [sampler.sample(rng) for _ in range(50)]:
        assert 1499 <= video.bitrates_kbps[0] <= 2001 and 2.0 <= video.chunk_s <= 3.0
    assert trained_over(config)["lowest_kbps"] == [1500, 2000]
    assert trained_over(config)["chunk_s"] == [2, 3]
    with pytest.raises(ValueError, match="ladder_chunk_s"):
        load_config(None, **{**ANY_LADDER, "ladder_chunk_s": [3, 2]})


def test_the_config_s_match_from_reaches_every_episode_s_traces():
    rng = np.random.default_rng(0)
    for match_from in (0.5, 0.0):
        mix = collector(ladder_keep_traces=0.0, ladder_match_from=match_from)
        env = mix.env
        medians_on_ladder = set()  # each episode's traces' median, as a log-position on its ladder
        for _ in range(300):
            lowest, top = np.log(env.video.bitrates_kbps[[0, -1]])
            position = (np.log(env.factor * env.source.median_kbps) - lowest) / (top - lowest)
            medians_on_ladder.add(round(float(position), 9))
            mix.step(rng.integers(0, env.video.n_levels, 16))
        assert len(medians_on_ladder) >= 4
        assert min(medians_on_ladder) >= match_from - 1e-9
        if match_from == 0.0:
            assert min(medians_on_ladder) < 0.5  # the ladder's lower half is reached
    assert trained_over(mix.config)["scaled_median_from_ladder_position"] == 0.0
    with pytest.raises(ValueError, match="ladder_match_from"):
        load_config(None, **{**ANY_LADDER, "ladder_match_from": 1.5})


def test_the_oracle_s_values_are_padded_for_the_missing_rungs():
    mix = collector()
    levels, values = mix.teach(values=True)
    n_levels = mix.env.video.n_levels
    assert values.shape == (16, 12) and np.all(np.isnan(values[:, n_levels:]))
    assert np.all(np.isfinite(values[:, :n_levels]))
    assert levels.tolist() == np.argmax(values[:, :n_levels], axis=1).tolist()


def test_a_session_whose_measured_throughput_varies_more_values_buffer_more():
    mix = collector(teacher_buffer_scaling="volatility", ladder_duration_s=[200.0, 300.0])
    env = mix.env
    for _ in range(3):
        env.sim.step(np.zeros(16, dtype=np.int64))
    state = env.sim.player_state()
    measured = state.throughput_kbps[:, -3:]  # three chunks: the last three entries are real
    variation = measured.std(axis=1) / measured.mean(axis=1)
    np.testing.assert_allclose(throughput_variation(state), variation)
    expected_values = 0.1 + 0.3 * variation
    np.testing.assert_allclose(teacher_buffer_values(mix.config, env.sim), expected_values)
    horizon = teacher_horizon(mix.config.teacher_horizon, env.video.n_levels)
    _, values = mix.teach(values=True)
    own = lookahead_values(env.sim, env.qoe, horizon, expected_values) * env.reward_per_qoe
    np.testing.assert_allclose(values[:, : env.video.n_levels], own)


def test_a_session_with_one_throughput_measured_has_no_variation():
    sim = collector(ladder_duration_s=[200.0, 300.0]).env.sim
    assert np.all(throughput_variation(sim.player_state()) == 0.0)
    sim.step(np.zeros(16, dtype=np.int64))
    assert np.all(throughput_variation(sim.player_state()) == 0.0)


def test_the_volatility_scaling_needs_sampled_ladders():
    with pytest.raises(ValueError, match="teacher_buffer_scaling"):
        load_config(None, **{**SMALL, "teacher_buffer_scaling": "volatility"})


def test_the_validation_ladders_are_the_same_for_every_run():
    config = load_config(None, **ANY_LADDER)
    _, val = split_traces(config)
    sets_a, videos_a = validation_cases(config, val)
    sets_b, videos_b = validation_cases(load_config(None, **{**ANY_LADDER, "seed": 5}), val)
    assert list(videos_a) == list(videos_b) and len(videos_a) == 2
    for name in videos_a:
        np.testing.assert_array_equal(videos_a[name].sizes_bytes, videos_b[name].sizes_bytes)
        assert len(sets_a[name]) == len(next(iter(val.values())))


def test_the_teacher_plans_fewer_chunks_on_long_ladders():
    assert teacher_horizon(4, 6) == 4 and teacher_horizon(4, 7) == 4
    assert teacher_horizon(4, 12) == 3 and teacher_horizon(3, 12) == 2
    assert teacher_horizon(2, 12) == 2


def test_a_sampled_ladder_run_resumes_exactly(tmp_path):
    # every episode over scaled traces, so the checkpoint's bandwidth factor matters
    check_resume_is_exact(load_config(None, **{**ANY_LADDER, "ladder_keep_traces": 0.0}), tmp_path)


def test_the_model_decides_for_ladders_it_never_saw_in_onnx_as_in_torch(tmp_path):
    train(load_config(None, **ANY_LADDER), tmp_path / "run")
    check_onnx_decides_as_torch_on_a_cpu(tmp_path / "run", tmp_path / "any.onnx")


def check_onnx_decides_as_torch_on_a_cpu(run: Path, onnx_path: Path) -> None:
    """The run's export is an any-ladder model that decides, for six sampled ladders it never
    saw, a valid rung, the same in ONNX as its best network in torch on a CPU."""
    metadata = export_onnx(run, onnx_path)
    assert metadata.any_ladder and metadata.ladder_kbps == []
    assert metadata.trained_over["rungs"] == [2, 12]
    model = OnnxModel(onnx_path)
    network, spec = load_best_model(run / "best.pt", "cpu")
    greedy = GreedyQPolicy(network, spec, torch.device("cpu"))
    traces, _ = split_traces(load_config(None, **ANY_LADDER))
    rng = np.random.default_rng(0)
    for video in [LadderSampler().sample(rng) for _ in range(6)]:
        sim = BatchSimulator(traces[:32], video, 32, "eval")
        greedy.reset(32, video)
        for _ in range(min(video.n_chunks, 8)):
            state = sim.player_state()
            onnx_levels = model.levels(state)
            assert np.all((onnx_levels >= 0) & (onnx_levels < video.n_levels))
            assert onnx_levels.tolist() == greedy.act(state).tolist()
            sim.step(onnx_levels)


def test_demonstrations_play_several_sampled_videos():
    config = load_config(None, **{**ANY_LADDER, "demo_policy": "mpc", "demo_env_steps": 2_000})
    traces, _ = split_traces(config)
    spec = LadderSpec(history_len=config.history_len)
    demos = ladder_demonstrations(config, traces, load_video(None), spec)
    assert len(demos.action) >= 2_000 and demos.obs.shape[1] == spec.dim
    rung_counts = demos.obs[:, -spec.max_rungs :].sum(axis=1)  # the mask: the video's rungs
    assert len(np.unique(rung_counts)) >= 2  # more than one video
    assert np.all(demos.action < rung_counts)  # every demonstrated level is a rung of its video
