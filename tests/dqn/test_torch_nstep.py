"""The torch n-step accumulator emits `NStepAccumulator`'s transitions, in its order."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from abr.dqn.nstep import NStepAccumulator  # noqa: E402
from abr.dqn.torch_nstep import TorchNStep  # noqa: E402


@pytest.mark.parametrize("n", [1, 3])
def test_the_torch_n_step_returns_are_the_numpy_ones(n):
    sessions, dim = 6, 3
    rng = np.random.default_rng(n)
    host = NStepAccumulator(n, 0.9, sessions, dim)
    device = TorchNStep(n, 0.9, sessions, dim, torch.device("cpu"))
    obs = rng.normal(size=(sessions, dim)).astype(np.float32)
    emitted = 0
    for _ in range(40):
        action = rng.integers(0, 4, sessions)
        reward = rng.normal(size=sessions)
        next_obs = rng.normal(size=(sessions, dim)).astype(np.float32)
        terminal = rng.random(sessions) < 0.15
        want = host.push(obs, action, reward, next_obs, terminal)
        got = device.push(*(torch.as_tensor(x) for x in (obs, action, reward, next_obs, terminal)))
        for name, value in zip(want._fields, want, strict=True):
            np.testing.assert_allclose(getattr(got, name).numpy(), value, rtol=1e-6)
        emitted += len(want.action)
        obs = next_obs
    assert emitted > 150
    copy = TorchNStep(n, 0.9, sessions, dim, torch.device("cpu"))
    copy.load_state_dict(device.state_dict())
    assert torch.equal(copy.obs, device.obs) and copy.t == device.t
