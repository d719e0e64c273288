"""RobustMPC in torch decides as the numpy one on the same players' histories."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from abr.player.qoe import make_qoe  # noqa: E402
from abr.policies.mpc import robust_mpc_from_history  # noqa: E402
from abr.policies.torch_mpc import torch_robust_mpc_from_history  # noqa: E402
from abr.sim.simulator import BatchSimulator  # noqa: E402


@pytest.mark.parametrize("qoe", ["lin", "log"])
def test_torch_robust_mpc_decides_as_the_numpy_one(pensieve_test_traces, envivio, qoe):
    traces = pensieve_test_traces[:40]
    sim = BatchSimulator(traces, envivio, 40, "train", seed=5)
    rng = np.random.default_rng(1)
    metric = make_qoe(qoe, envivio.bitrates_kbps)
    decided = 0
    for _ in range(envivio.n_chunks - 1):  # from the empty history to the video's end
        state = sim.player_state()
        want = robust_mpc_from_history(state, envivio, qoe)
        got = torch_robust_mpc_from_history(
            *(
                torch.as_tensor(array)
                for array in (
                    state.throughput_kbps,
                    state.history_count,
                    state.buffer_s,
                    state.last_level,
                    state.chunk_index,
                )
            ),
            envivio,
            metric,
        )
        np.testing.assert_array_equal(got.numpy(), want)
        decided += len(want)
        sim.step(np.where(rng.random(40) < 0.5, want, rng.integers(0, envivio.n_levels, 40)))
    assert decided == 40 * (envivio.n_chunks - 1)
