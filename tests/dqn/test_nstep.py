import numpy as np
import pytest

from abr.dqn.nstep import NStepAccumulator

GAMMA = 0.5


def push(acc, step, rewards, terminal):
    n = len(rewards)
    obs = np.full((n, 1), step, dtype=np.float32)  # obs records the step it was seen at
    return acc.push(
        obs, np.full(n, step), np.asarray(rewards, float), obs + 1, np.asarray(terminal)
    )


def test_full_windows_bootstrap_with_gamma_to_the_n():
    acc = NStepAccumulator(3, GAMMA, n_sessions=1, obs_dim=1)
    assert len(push(acc, 0, [1.0], [False]).action) == 0
    assert len(push(acc, 1, [2.0], [False]).action) == 0
    out = push(acc, 2, [4.0], [False])
    assert out.action.tolist() == [0]
    assert out.returns.tolist() == [1 + GAMMA * 2 + GAMMA**2 * 4]
    assert out.discount.tolist() == [GAMMA**3]
    assert out.next_obs[:, 0].tolist() == [3.0]  # bootstraps from after the third step
    out = push(acc, 3, [8.0], [False])
    assert out.action.tolist() == [1] and out.returns.tolist() == [2 + GAMMA * 4 + GAMMA**2 * 8]


def test_terminal_flushes_every_pending_step_without_bootstrap():
    acc = NStepAccumulator(3, GAMMA, n_sessions=2, obs_dim=1)
    push(acc, 0, [1.0, 1.0], [False, False])
    out = push(acc, 1, [2.0, 2.0], [True, False])  # session 0 ends after two steps
    assert sorted(zip(out.action.tolist(), out.returns.tolist(), strict=True)) == [
        (0, 1 + GAMMA * 2),
        (1, 2.0),
    ]
    assert out.discount.tolist() == [0.0, 0.0]
    # session 0 starts afresh; session 1 completes its first window
    out = push(acc, 2, [4.0, 4.0], [False, False])
    assert out.action.tolist() == [0] and out.returns.tolist() == [1 + GAMMA * 2 + GAMMA**2 * 4]
    assert acc.pending.tolist() == [1, 2]


def test_terminal_on_a_full_window():
    acc = NStepAccumulator(2, GAMMA, n_sessions=1, obs_dim=1)
    push(acc, 0, [1.0], [False])
    out = push(acc, 1, [2.0], [True])
    assert sorted(out.returns.tolist()) == [2.0, 1 + GAMMA * 2]
    assert out.discount.tolist() == [0.0, 0.0]
    assert acc.pending.tolist() == [0]


def test_one_step_is_plain_td():
    acc = NStepAccumulator(1, GAMMA, n_sessions=2, obs_dim=1)
    out = push(acc, 0, [3.0, 5.0], [False, True])
    assert out.returns.tolist() == [3.0, 5.0]
    assert out.discount.tolist() == [GAMMA, 0.0]


def test_bad_n():
    with pytest.raises(ValueError, match="n-step must be >= 1"):
        NStepAccumulator(0, GAMMA, 1, 1)
