"""`abr bench-train`'s figures: each collector's steady-state rates, from the run's own counts."""

import pytest

pytest.importorskip("torch")

from abr.dqn.config import load_config  # noqa: E402
from abr.dqn.train_speed import bench_train  # noqa: E402
from tests.dqn.test_train import SMALL  # noqa: E402


def test_both_collectors_are_timed_over_the_same_run():
    config = load_config(None, **SMALL)
    speeds = bench_train(config, ["host", "device"], env_steps=3_200)
    assert [speed.collector for speed in speeds] == ["host", "device"]
    for speed in speeds:
        assert speed.env_steps == 3_200 and speed.updates > 0
        # the steady state: updates_per_step updates for every step of n_sessions sessions
        ratio = speed.updates_per_s / speed.env_steps_per_s
        assert ratio == pytest.approx(config.updates_per_step / config.n_sessions, rel=0.05)


def test_a_run_too_short_to_time_says_so():
    with pytest.raises(ValueError, match="too few to time"):
        bench_train(load_config(None, **SMALL), ["host"], env_steps=16)


def test_sampled_ladders_are_timed_at_each_count_of_videos_a_batch():
    from tests.dqn.test_video_mix import ANY_LADDER

    config = load_config(None, **ANY_LADDER)
    speeds = bench_train(config, ["host"], env_steps=1_600, videos_per_batch=[1, 4])
    assert [speed.videos_per_batch for speed in speeds] == [1, 4]
    assert "videos a batch" not in speeds[0].played_by
    assert speeds[1].played_by.endswith("sampled ladders, 4 videos a batch")
    assert all(speed.env_steps == 1_600 and speed.updates > 0 for speed in speeds)
