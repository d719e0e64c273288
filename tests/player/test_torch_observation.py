"""The torch encoding equals `encode` on the same states."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from abr.player.observation import ObservationSpec, encode  # noqa: E402
from abr.player.torch_observation import TorchEncoder  # noqa: E402
from abr.sim.simulator import BatchSimulator  # noqa: E402
from abr.sim.torch_simulator import TorchSimulator  # noqa: E402


@pytest.mark.parametrize("robust_window", [0, 5])
def test_the_torch_encoding_is_encode_s(pensieve_test_traces, envivio, robust_window):
    traces = pensieve_test_traces[:16]
    spec = ObservationSpec(n_levels=envivio.n_levels, robust_window=robust_window)
    numpy_sim = BatchSimulator(traces, envivio, 16, "eval")
    torch_sim = TorchSimulator(traces, envivio, 16, "eval")
    encoder = TorchEncoder(spec, envivio, torch_sim.device, torch_sim.dtype)
    rng = np.random.default_rng(0)
    for _ in range(envivio.n_chunks):  # from the empty history to the video's end
        got = torch_sim.observe(encoder).numpy()
        np.testing.assert_allclose(got, encode(numpy_sim.player_state(), spec), rtol=1e-6)
        levels = rng.integers(0, envivio.n_levels, 16)
        numpy_sim.step(levels)
        torch_sim.step(torch.as_tensor(levels))
    got = torch_sim.observe(encoder).numpy()  # every session past its last chunk
    np.testing.assert_allclose(got, encode(numpy_sim.player_state(), spec), rtol=1e-6)
