"""`abr bench-train`'s figures: the steady-state rates of one run, from the run's own counts."""

import pytest

pytest.importorskip("torch")

from abr.dqn.config import load_config  # noqa: E402
from abr.dqn.train_speed import bench_train  # noqa: E402
from tests.dqn.test_train import SMALL  # noqa: E402


@pytest.mark.parametrize("ladders", ["one", "sampled"])
def test_the_rates_are_those_of_the_run_s_steady_state(ladders):
    from tests.dqn.test_video_mix import ANY_LADDER

    config = load_config(None, **(SMALL if ladders == "one" else ANY_LADDER))
    # long enough for several progress marks (4 a second) on a fast machine
    env_steps = 32_000 if ladders == "one" else 3_200
    speed = bench_train(config, env_steps=env_steps)
    assert speed.env_steps == env_steps and speed.updates > 0
    assert speed.played_by.endswith("sampled ladders") == (ladders == "sampled")
    # the steady state: updates_per_step updates for every step of n_sessions sessions
    ratio = speed.updates_per_s / speed.env_steps_per_s
    assert ratio == pytest.approx(config.updates_per_step / config.n_sessions, rel=0.05)


def test_a_run_too_short_to_time_says_so():
    with pytest.raises(ValueError, match="too few to time"):
        bench_train(load_config(None, **SMALL), env_steps=16)
