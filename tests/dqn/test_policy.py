"""The greedy policy of a torch Q-network: the video's own rungs only, as the ONNX policy."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from abr.dqn.networks import make_network  # noqa: E402
from abr.dqn.policy import GreedyQPolicy  # noqa: E402
from abr.player.ladder_observation import LadderSpec  # noqa: E402
from abr.sim.simulator import BatchSimulator  # noqa: E402

SPEC = LadderSpec(max_rungs=12)


class PaddedRungsWin(torch.nn.Module):
    """The network's Q-values with every padded rung above every real one, as an input far
    outside the trained range could leave them."""

    def __init__(self, network: torch.nn.Module, n_rungs: int) -> None:
        super().__init__()
        self.network, self.n_rungs = network, n_rungs

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        q = self.network(obs).clone()
        q[:, self.n_rungs :] = q.max() + 1.0
        return q


def test_a_padded_rung_that_outscores_the_real_ones_is_never_chosen(envivio, pensieve_test_traces):
    torch.manual_seed(0)
    network = make_network(SPEC, (32, 32), True)
    sim = BatchSimulator(pensieve_test_traces[:16], envivio, 16, "eval", seed=1)
    sim.step(np.random.default_rng(1).integers(0, envivio.n_levels, 16))
    state, cpu = sim.player_state(), torch.device("cpu")
    expected = GreedyQPolicy(network, SPEC, cpu).act(state)
    fooled = GreedyQPolicy(PaddedRungsWin(network, envivio.n_levels), SPEC, cpu)
    np.testing.assert_array_equal(fooled.act(state), expected)
