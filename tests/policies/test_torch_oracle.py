"""The torch lookahead gives the numpy planner's values on the same states."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from abr.player.qoe import make_qoe  # noqa: E402
from abr.policies.oracle import lookahead_values  # noqa: E402
from abr.policies.torch_oracle import torch_lookahead_values  # noqa: E402
from abr.sim.simulator import BatchSimulator  # noqa: E402
from abr.sim.torch_simulator import TorchSimulator  # noqa: E402


@pytest.mark.parametrize("qoe", ["lin", "hd"])
def test_the_torch_lookahead_scores_every_plan_as_the_numpy_one(pensieve_test_traces, envivio, qoe):
    traces = pensieve_test_traces[:12]
    metric = make_qoe(qoe, envivio.bitrates_kbps)
    numpy_sim = BatchSimulator(traces, envivio, 12, "eval")
    torch_sim = TorchSimulator(traces, envivio, 12, "eval")
    rng = np.random.default_rng(0)
    for chunk in range(envivio.n_chunks - 1):  # to the video's end: shorter plans there
        if chunk % 6 == 0 or chunk > envivio.n_chunks - 5:
            want = lookahead_values(numpy_sim, metric, horizon=3, buffer_value=0.1)
            got = torch_lookahead_values(torch_sim, metric, horizon=3, buffer_value=0.1)
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-9, atol=1e-9)
        levels = rng.integers(0, envivio.n_levels, 12)
        numpy_sim.step(levels)
        torch_sim.step(torch.as_tensor(levels))
