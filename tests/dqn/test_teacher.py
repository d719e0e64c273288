"""DAgger: the teacher labels the states the learner visits; the labels pull the greedy action
toward the teacher's; a run with a teacher resumes exactly."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from abr.dqn.config import load_config  # noqa: E402
from abr.dqn.networks import QNetwork  # noqa: E402
from abr.dqn.targets import advantage_loss  # noqa: E402
from abr.dqn.teacher import LabelPool, label_weight  # noqa: E402
from abr.dqn.train import train  # noqa: E402
from abr.player.qoe import make_qoe  # noqa: E402
from abr.policies.mpc import RobustMpc, robust_mpc_from_history  # noqa: E402
from abr.policies.oracle import FutureAwareOracle, lookahead_levels, lookahead_values  # noqa: E402
from abr.sim.simulator import BatchSimulator  # noqa: E402
from tests.dqn.test_train import SMALL, check_resume_is_exact  # noqa: E402


def test_the_oracle_teacher_labels_a_simulators_sessions_as_the_oracle_decides(
    pensieve_test_traces, envivio
):
    traces = pensieve_test_traces[:6]
    sim = BatchSimulator(traces, envivio, 6, "eval")
    oracle = FutureAwareOracle(horizon=3, buffer_value=0.1)
    oracle.reset(6, envivio, traces)
    qoe = make_qoe("lin", envivio.bitrates_kbps)
    levels = np.ones(6, dtype=np.int64)
    for _ in range(12):
        sim.step(levels)
        levels = oracle.act(sim.player_state())
        np.testing.assert_array_equal(lookahead_levels(sim, qoe, 3, 0.1), levels)


def test_the_mpc_teacher_labels_as_robustmpc_decides_while_histories_reach_back(
    pensieve_test_traces, envivio
):
    traces = pensieve_test_traces[:8]
    sim = BatchSimulator(traces, envivio, 8, "eval")
    mpc = RobustMpc()
    mpc.reset(8, envivio)
    levels = np.ones(8, dtype=np.int64)
    for _ in range(8):  # the simulator keeps 8 chunks of history
        sim.step(levels)
        labels = robust_mpc_from_history(sim.player_state(), sim.video, "lin")
        levels = mpc.act(sim.player_state())
        np.testing.assert_array_equal(labels, levels)


def test_the_label_pool_keeps_the_latest_and_round_trips():
    pool = LabelPool(capacity=5, obs_dim=2, n_levels=3, device=torch.device("cpu"))
    for start in (0, 3, 6):
        rows = np.arange(start, start + 3)
        pool.add(rows[:, None].repeat(2, 1), rows, -rows[:, None].repeat(3, 1))
    assert len(pool) == 5 and sorted(pool.action.tolist()) == [4, 5, 6, 7, 8]
    copy = LabelPool(capacity=5, obs_dim=2, n_levels=3, device=torch.device("cpu"))
    copy.load_state_dict(pool.state_dict())
    assert copy.action.tolist() == pool.action.tolist() and copy.position == pool.position
    assert torch.equal(copy.values, pool.values)
    obs, action, values = pool.sample(50, torch.Generator().manual_seed(0))
    assert torch.equal(obs[:, 0].long(), action)  # every triple stays together
    assert torch.equal(-values[:, 2].long(), action)


def test_the_oracle_s_values_rank_its_levels(pensieve_test_traces, envivio):
    """The per-level values: the best one is the level the oracle picks, and each is the score
    of a real plan (no better than the best, finite)."""
    traces = pensieve_test_traces[:6]
    sim = BatchSimulator(traces, envivio, 6, "train", seed=3)
    qoe = make_qoe("lin", envivio.bitrates_kbps)
    for _ in range(5):
        values = lookahead_values(sim, qoe, 3, 0.1)
        levels = lookahead_levels(sim, qoe, 3, 0.1)
        assert values.shape == (6, envivio.n_levels) and np.isfinite(values).all()
        np.testing.assert_array_equal(np.argmax(values, axis=1), levels)
        assert len(np.unique(values.round(6))) > 6  # levels are told apart, not tied
        sim.step(levels)


def test_the_advantage_loss_is_zero_only_when_the_advantages_match():
    values = torch.tensor([[1.0, 3.0, 2.0]])
    assert advantage_loss(values + 5.0, values).item() == pytest.approx(0.0)  # offsets are free
    assert advantage_loss(values * 2.0, values).item() > 0.1  # the spacing is taught


def test_the_label_weight_follows_its_schedule():
    assert label_weight(1.0, 0.0, 1000, 0) == 1.0
    assert label_weight(1.0, 0.0, 1000, 250) == pytest.approx(0.75)
    assert label_weight(1.0, 0.0, 1000, 5000) == 0.0
    assert label_weight(0.5, 0.1, 0, 10) == 0.5


def _greedy_agreement(tmp_path, name, weight, loss="margin"):
    config = load_config(
        None,
        **{
            **SMALL,
            "learning_starts": 320,
            "learning_rate": 1e-3,
            "learning_rate_end": 1e-3,
            "total_env_steps": 2400,
            "teacher": "oracle",
            "teacher_horizon": 2,
            "teacher_weight_start": weight,
            "teacher_weight_end": weight,
            "teacher_margin": 0.8,
            "teacher_loss": loss,
        },
    )
    train(config, tmp_path / name)
    saved = torch.load(tmp_path / name / "checkpoint.pt", weights_only=True)
    network = QNetwork(25, 6, config.hidden, config.dueling)
    network.load_state_dict(saved["online"])
    obs, action = saved["labels"]["obs"], saved["labels"]["action"]
    with torch.no_grad():
        q = network(obs)
    if loss == "advantage":  # how far the advantages are from the teacher's (lower: closer)
        return float(advantage_loss(q, saved["labels"]["values"]).mean())
    return float((q.argmax(dim=1) == action).float().mean())


def test_the_labels_pull_the_greedy_action_toward_the_teachers(tmp_path):
    taught = _greedy_agreement(tmp_path, "taught", 5.0)
    untaught = _greedy_agreement(tmp_path, "untaught", 0.0)
    assert taught > untaught + 0.15, (taught, untaught)


def test_the_advantage_loss_pulls_the_advantages_toward_the_teachers(tmp_path):
    taught = _greedy_agreement(tmp_path, "taught", 1.0, "advantage")
    untaught = _greedy_agreement(tmp_path, "untaught", 0.0, "advantage")
    assert taught < 0.8 * untaught, (taught, untaught)


@pytest.mark.parametrize("loss", ["margin", "advantage"])
def test_resume_with_a_teacher_is_exact_too(tmp_path, loss):
    config = load_config(
        None, **{**SMALL, "teacher": "oracle", "teacher_horizon": 2, "teacher_loss": loss}
    )
    check_resume_is_exact(config, tmp_path)


def test_the_advantage_loss_needs_the_oracle_s_values():
    with pytest.raises(ValueError, match="teacher_loss"):
        load_config(None, teacher="mpc", teacher_loss="advantage")
