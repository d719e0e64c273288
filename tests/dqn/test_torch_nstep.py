"""The torch n-step accumulator emits `NStepAccumulator`'s transitions (as a set: one per
session a step, n - 1 steps late), in a fixed shape."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from abr.dqn.nstep import NStepAccumulator  # noqa: E402
from abr.dqn.torch_nstep import TorchNStep  # noqa: E402


def _by_start(transitions: dict[str, list[np.ndarray]]) -> dict[bytes, tuple]:
    """Each transition keyed by its (random, so unique) observation row."""
    obs = np.concatenate(transitions["obs"])
    fields = {name: np.concatenate(values) for name, values in transitions.items()}
    return {row.tobytes(): tuple(fields[name][i] for name in fields) for i, row in enumerate(obs)}


@pytest.mark.parametrize("n", [1, 3])
def test_the_torch_n_step_returns_are_the_numpy_ones(n):
    sessions, dim, steps = 6, 3, 40
    rng = np.random.default_rng(n)
    host = NStepAccumulator(n, 0.9, sessions, dim)
    device = TorchNStep(n, 0.9, sessions, dim, torch.device("cpu"))
    obs = rng.normal(size=(sessions, dim)).astype(np.float32)
    start_step: dict[bytes, int] = {}
    wanted: dict[str, list[np.ndarray]] = {name: [] for name in ("obs", "action", "returns")}
    wanted |= {"next_obs": [], "discount": []}
    got: dict[str, list[np.ndarray]] = {name: [] for name in wanted}
    for step in range(steps):
        start_step |= {row.tobytes(): step for row in obs}
        action = rng.integers(0, 4, sessions)
        reward = rng.normal(size=sessions)
        next_obs = rng.normal(size=(sessions, dim)).astype(np.float32)
        terminal = rng.random(sessions) < 0.15
        want = host.push(obs, action, reward, next_obs, terminal)
        mine = device.push(*(torch.as_tensor(x) for x in (obs, action, reward, next_obs, terminal)))
        assert len(mine.action) == (sessions if step >= n - 1 else 0)  # the fixed shape
        for name in wanted:
            wanted[name].append(getattr(want, name))
            got[name].append(getattr(mine, name).numpy())
        obs = next_obs
    want_by_start, got_by_start = _by_start(wanted), _by_start(got)
    late = {key for key, step in start_step.items() if step > steps - n}  # not emitted yet
    assert set(got_by_start) == set(want_by_start) - late
    assert len(got_by_start) == sessions * (steps - n + 1)
    for key, mine_fields in got_by_start.items():
        want_fields = want_by_start[key]
        discount = want_fields[4]
        assert mine_fields[4] == pytest.approx(discount, rel=1e-6)
        np.testing.assert_allclose(mine_fields[2], want_fields[2], rtol=1e-6)  # returns
        assert mine_fields[1] == want_fields[1]  # action
        if discount > 0:  # the state to bootstrap from matters only when there is one
            np.testing.assert_array_equal(mine_fields[3], want_fields[3])
    copy = TorchNStep(n, 0.9, sessions, dim, torch.device("cpu"))
    copy.load_state_dict(device.state_dict())
    assert torch.equal(copy.obs, device.obs) and torch.equal(copy.terminal, device.terminal)
    assert copy.t == device.t
