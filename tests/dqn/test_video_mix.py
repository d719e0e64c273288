"""Training one model for any ladder: a new sampled video every episode, scaled rewards and
teacher values, a fixed validation set of ladders, exact resumption, and a model whose ONNX
export decides for ladders it never saw."""

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from abr.dqn.checkpoint import load_best_model  # noqa: E402
from abr.dqn.config import load_config  # noqa: E402
from abr.dqn.export import export_onnx  # noqa: E402
from abr.dqn.networks import make_network  # noqa: E402
from abr.dqn.policy import GreedyQPolicy  # noqa: E402
from abr.dqn.teacher import OracleTeacher  # noqa: E402
from abr.dqn.train import split_traces, train  # noqa: E402
from abr.dqn.video_mix import (  # noqa: E402
    VideoGroupsCollector,
    VideoMixCollector,
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


def collector(**changes) -> VideoMixCollector:
    config = load_config(None, **{**ANY_LADDER, **changes})
    traces, _ = split_traces(config)
    spec = LadderSpec(history_len=config.history_len)
    return VideoMixCollector(config, traces, load_video(None), spec, torch.device("cpu"))


def test_every_episode_plays_a_new_video_with_scaled_rewards():
    mix = collector(n_step=1)  # one-step returns: each is the step's own reward
    steps, step = [], mix.sim.step
    mix.sim.step = lambda levels: steps.append(step(levels)) or steps[-1]
    seen, rng = [], np.random.default_rng(0)
    for _ in range(200):
        video = mix.video
        seen.append(video.name)
        qoe = make_qoe("lin", video.bitrates_kbps)
        previous = mix.sim.last_level.copy()
        action = rng.integers(0, video.n_levels, 16)
        transitions = mix.step(action)
        want = qoe.per_chunk(action, previous, steps[-1].rebuffer_s) * qoe.ladder_scale
        np.testing.assert_allclose(transitions.returns, want, rtol=1e-5, atol=1e-6)
        assert 0.0 < qoe.ladder_scale <= 1.0
    assert len(set(seen)) >= 4
    assert mix.sim.video.sizes_bytes[0, 0] == pytest.approx(
        mix.video.sizes_bytes[0, 0] / mix.factor
    )


def test_one_batch_of_sessions_plays_several_videos_at_once():
    config = load_config(None, **ANY_LADDER, videos_per_batch=4)
    traces, _ = split_traces(config)
    spec = LadderSpec(history_len=config.history_len)
    mixed = VideoGroupsCollector(config, traces, load_video(None), spec, torch.device("cpu"))
    alone = collector()  # group 0 is seeded as a single-group collector
    assert mixed.groups[0].video.name == alone.video.name
    assert len({group.video.name for group in mixed.groups}) > 1  # each group its own video
    network = make_network(spec, [16], dueling=True)  # masks the rungs a video lacks
    played: set[tuple[str, ...]] = set()
    for _ in range(100):
        rungs = [group.video.n_levels for group in mixed.groups]
        played.add(tuple(group.video.name for group in mixed.groups))
        action = mixed.act(network, epsilon=0.5)
        assert np.all(action < np.repeat(rungs, 4))  # every session a rung of its group's video
        levels, values = mixed.teach(OracleTeacher(make_qoe("lin", (1.0, 2.0)), 2, 0.5), True)
        assert levels.shape == (16,) and values.shape == (16, spec.max_rungs)
        transitions = mixed.step(action)
        assert transitions.obs.shape[1] == spec.dim
    mask = mixed.observation()[:, -spec.max_rungs :].sum(dim=1).reshape(4, 4)
    assert torch.all(mask == mask[:, :1])  # one video within a group
    assert len({names for names in played}) >= 4  # groups restart at their own times
    assert len({name for names in played for name in names}) >= 8


def test_the_groups_read_one_trace_table():
    config = load_config(None, **ANY_LADDER, videos_per_batch=4)
    traces, _ = split_traces(config)
    spec = LadderSpec(history_len=config.history_len)
    mixed = VideoGroupsCollector(config, traces, load_video(None), spec, torch.device("cpu"))
    assert all(group.sim.table is mixed.groups[0].sim.table for group in mixed.groups)
    assert {group.median_kbps for group in mixed.groups} == {collector().median_kbps}


def test_a_run_over_several_videos_a_batch_resumes_exactly(tmp_path):
    config = load_config(None, **ANY_LADDER, ladder_keep_traces=0.0, videos_per_batch=2)
    check_resume_is_exact(config, tmp_path)


def test_the_config_s_ranges_reach_the_sampler_and_the_metadata():
    config = load_config(None, **ANY_LADDER, ladder_lowest_kbps=[1500, 2000], ladder_chunk_s=[2, 3])
    sampler = ladder_sampler(config)
    rng = np.random.default_rng(0)
    for video in [sampler.sample(rng) for _ in range(50)]:
        assert 1499 <= video.bitrates_kbps[0] <= 2001 and 2.0 <= video.chunk_s <= 3.0
    assert trained_over(config)["lowest_kbps"] == [1500, 2000]
    assert trained_over(config)["chunk_s"] == [2, 3]
    with pytest.raises(ValueError, match="ladder_chunk_s"):
        load_config(None, **ANY_LADDER, ladder_chunk_s=[3, 2])


def test_the_config_s_match_from_reaches_every_episode_s_traces():
    rng = np.random.default_rng(0)
    for match_from in (0.5, 0.0):
        mix = collector(ladder_keep_traces=0.0, ladder_match_from=match_from)
        medians_on_ladder = set()  # each episode's traces' median, as a log-position on its ladder
        for _ in range(300):
            lowest, top = np.log(mix.video.bitrates_kbps[[0, -1]])
            position = (np.log(mix.factor * mix.median_kbps) - lowest) / (top - lowest)
            medians_on_ladder.add(round(float(position), 9))
            mix.step(rng.integers(0, mix.video.n_levels, 16))
        assert len(medians_on_ladder) >= 4
        assert min(medians_on_ladder) >= match_from - 1e-9
        if match_from == 0.0:
            assert min(medians_on_ladder) < 0.5  # the ladder's lower half is reached
    assert trained_over(mix.config)["scaled_median_from_ladder_position"] == 0.0
    with pytest.raises(ValueError, match="ladder_match_from"):
        load_config(None, **ANY_LADDER, ladder_match_from=1.5)


def test_videos_per_batch_must_divide_the_sessions():
    with pytest.raises(ValueError, match="videos_per_batch"):
        load_config(None, **ANY_LADDER, videos_per_batch=3)
    with pytest.raises(ValueError, match="videos_per_batch"):
        load_config(None, **SMALL, videos_per_batch=2)  # one ladder: one video


def test_the_oracle_s_values_are_padded_for_the_missing_rungs():
    mix = collector()
    qoe = make_qoe("lin", mix.video.bitrates_kbps)
    levels, values = mix.teach(OracleTeacher(qoe, 2, 0.5), values=True)
    n_levels = mix.video.n_levels
    assert values.shape == (16, 12) and np.all(np.isnan(values[:, n_levels:]))
    assert np.all(np.isfinite(values[:, :n_levels]))
    assert levels.tolist() == np.argmax(values[:, :n_levels], axis=1).tolist()


def test_the_teacher_can_value_buffer_per_second_of_chunk():
    constant = load_config(None, **ANY_LADDER, teacher_buffer_value=0.125)
    scaled = load_config(
        None, **ANY_LADDER, teacher_buffer_value=0.125, teacher_buffer_scaling="chunk_s"
    )
    assert constant.teacher_buffer_value_for(4.0) == 0.125
    assert scaled.teacher_buffer_value_for(4.0) == 0.5
    assert scaled.teacher_buffer_value_for(2.0) == 0.25
    mix = collector(teacher_buffer_value=0.125, teacher_buffer_scaling="chunk_s")
    chunk_s, n_levels = mix.video.chunk_s, mix.video.n_levels
    assert chunk_s > 1.5  # the sampled video's chunks differ enough from a second to tell
    horizon = teacher_horizon(mix.config.teacher_horizon, n_levels)
    _, values = mix.teach(OracleTeacher(mix.qoe, horizon, 0.0), values=True)
    for buffer_value, same in ((0.125 * chunk_s, True), (0.125, False)):
        expected = OracleTeacher(mix.qoe, horizon, buffer_value).values(mix.sim) * mix.scale
        assert np.allclose(values[:, :n_levels], expected) == same


def test_a_session_whose_measured_throughput_varies_more_values_buffer_more():
    mix = collector(teacher_buffer_scaling="volatility", ladder_duration_s=[200.0, 300.0])
    for _ in range(3):
        mix.sim.step(np.zeros(16, dtype=np.int64))
    state = mix.sim.player_state()
    measured = state.throughput_kbps[:, -3:]  # three chunks: the last three entries are real
    variation = measured.std(axis=1) / measured.mean(axis=1)
    np.testing.assert_allclose(throughput_variation(state), variation)
    expected_values = 0.1 + 0.3 * variation
    np.testing.assert_allclose(teacher_buffer_values(mix.config, mix.sim), expected_values)
    horizon = teacher_horizon(mix.config.teacher_horizon, mix.video.n_levels)
    _, values = mix.teach(OracleTeacher(mix.qoe, horizon, 0.0), values=True)
    own = OracleTeacher(mix.qoe, horizon, expected_values).values(mix.sim) * mix.scale
    np.testing.assert_allclose(values[:, : mix.video.n_levels], own)


def test_a_session_with_one_throughput_measured_has_no_variation():
    mix = collector(ladder_duration_s=[200.0, 300.0])
    assert np.all(throughput_variation(mix.sim.player_state()) == 0.0)
    mix.sim.step(np.zeros(16, dtype=np.int64))
    assert np.all(throughput_variation(mix.sim.player_state()) == 0.0)


def test_the_volatility_scaling_needs_sampled_ladders():
    with pytest.raises(ValueError, match="teacher_buffer_scaling"):
        load_config(None, **SMALL, teacher_buffer_scaling="volatility")


def test_the_validation_ladders_are_the_same_for_every_run():
    config = load_config(None, **ANY_LADDER)
    _, val = split_traces(config)
    sets_a, videos_a = validation_cases(config, val)
    sets_b, videos_b = validation_cases(load_config(None, **ANY_LADDER, seed=5), val)
    assert list(videos_a) == list(videos_b) and len(videos_a) == 2
    for name in videos_a:
        np.testing.assert_array_equal(videos_a[name].sizes_bytes, videos_b[name].sizes_bytes)
        assert len(sets_a[name]) == len(next(iter(val.values())))


def test_the_teacher_plans_fewer_chunks_on_long_ladders():
    assert teacher_horizon(4, 6) == 4 and teacher_horizon(4, 7) == 4
    assert teacher_horizon(4, 12) == 3 and teacher_horizon(3, 12) == 2
    assert teacher_horizon(2, 12) == 2


def test_short_ladders_plan_further_within_the_same_budget():
    assert teacher_horizon(4, 6, fill=True) == 4  # six rungs: the budget's own ladder
    assert teacher_horizon(4, 12, fill=True) == 3
    assert teacher_horizon(4, 4, fill=True) == 5  # 4^5 = 1,024 <= 2 * 6^4 = 2,592 < 4^6
    assert teacher_horizon(4, 3, fill=True) == 7  # 3^7 = 2,187
    assert teacher_horizon(4, 2, fill=True) == 8  # capped at twice the horizon


def test_a_sampled_ladder_run_resumes_exactly(tmp_path):
    # every episode over scaled traces, so the checkpoint's bandwidth factor matters
    check_resume_is_exact(load_config(None, **ANY_LADDER, ladder_keep_traces=0.0), tmp_path)


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
    config = load_config(None, **ANY_LADDER, demo_policy="mpc", demo_env_steps=2_000)
    traces, _ = split_traces(config)
    spec = LadderSpec(history_len=config.history_len)
    demos = ladder_demonstrations(config, traces, load_video(None), spec)
    assert len(demos.action) >= 2_000 and demos.obs.shape[1] == spec.dim
    rung_counts = demos.obs[:, -spec.max_rungs :].sum(axis=1)  # the mask: the video's rungs
    assert len(np.unique(rung_counts)) >= 2  # more than one video
    assert np.all(demos.action < rung_counts)  # every demonstrated level is a rung of its video
