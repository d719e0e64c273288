"""The torch simulator against the scalar reference, chunk by chunk, and against the numpy
simulator's observations (float64 on the CPU; the same tests run on a GPU with `-m cuda`)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from abr.sim.config import SimConfig  # noqa: E402
from abr.sim.simulator import BatchSimulator  # noqa: E402
from abr.sim.torch_simulator import TorchSimulator  # noqa: E402
from tests.sim.test_simulator import (  # noqa: E402
    HAND_MADE,
    REL_TOL,
    reference_sessions,
    tiny_video,
)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def run_aligned_torch(traces, video, mode, seed, n_sessions=None, device="cpu") -> int:
    n = n_sessions or len(traces)
    cfg = SimConfig()
    sim = TorchSimulator(traces, video, n, mode=mode, config=cfg, seed=seed, device=device)
    start = (sim.ptr - sim.offsets[sim.trace]).cpu().numpy()
    refs = reference_sessions(traces, video, cfg, sim.trace.cpu().numpy(), start)
    rng = np.random.default_rng(seed + 1000)
    for chunk in range(video.n_chunks):
        levels = rng.integers(0, video.n_levels, n)
        result = sim.step(torch.as_tensor(levels, device=device))
        got = {name: getattr(result, name).cpu().numpy() for name in result._fields}
        for i, ref in enumerate(refs):
            expected = ref.fetch(float(video.sizes_bytes[levels[i], chunk]), float(got["noise"][i]))
            for name in ("transfer_s", "download_s", "rebuffer_s", "sleep_s", "buffer_s"):
                want = getattr(expected, name)
                assert float(got[name][i]) == pytest.approx(want, rel=REL_TOL, abs=1e-12), (
                    f"{name} at session {i} chunk {chunk}"
                )
    assert bool(result.done.all())
    return video.n_chunks * n


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_matches_reference_on_pensieve_test(pensieve_test_traces, envivio, mode, device):
    traces = pensieve_test_traces[::4]
    assert run_aligned_torch(traces, envivio, mode, seed=7, device=device) == 48 * len(traces)


@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize("case", sorted(HAND_MADE))
def test_matches_reference_on_hand_made_traces(case, mode):
    run_aligned_torch([HAND_MADE[case]], tiny_video(), mode, seed=3, n_sessions=8)


def test_observations_equal_the_numpy_simulator_s(pensieve_test_traces, envivio):
    traces = pensieve_test_traces[:20]
    numpy_sim = BatchSimulator(traces, envivio, 20, "eval")
    torch_sim = TorchSimulator(traces, envivio, 20, "eval")
    rng = np.random.default_rng(0)
    for _ in range(20):
        levels = rng.integers(0, envivio.n_levels, 20)
        numpy_sim.step(levels)
        torch_sim.step(torch.as_tensor(levels))
        mine, theirs = torch_sim.player_state(), numpy_sim.player_state()
        for name in ("throughput_kbps", "download_s", "buffer_s", "next_sizes_bytes"):
            np.testing.assert_allclose(getattr(mine, name), getattr(theirs, name), rtol=REL_TOL)
        for name in ("chunk_index", "last_level", "history_count"):
            np.testing.assert_array_equal(getattr(mine, name), getattr(theirs, name))


def test_training_mode_draws_from_its_own_generator(pensieve_test_traces, envivio):
    def first_steps(seed: int) -> np.ndarray:
        sim = TorchSimulator(pensieve_test_traces, envivio, 64, "train", seed=seed)
        return sim.step(torch.ones(64, dtype=torch.int64)).download_s.numpy()

    np.testing.assert_array_equal(first_steps(1), first_steps(1))
    assert not np.array_equal(first_steps(1), first_steps(2))
    sim = TorchSimulator(pensieve_test_traces, envivio, 256, "train", seed=0)
    start = (sim.ptr - sim.offsets[sim.trace]).numpy()
    assert start.min() >= 1 and np.all(start < sim.lengths[sim.trace].numpy())
    assert len(np.unique(sim.trace.numpy())) > 80  # traces drawn across the set


def test_finished_sessions_restart_on_reset(pensieve_test_traces, envivio):
    sim = TorchSimulator(pensieve_test_traces[:4], envivio, 4, "train", seed=0)
    for _ in range(envivio.n_chunks):
        result = sim.step(torch.zeros(4, dtype=torch.int64))
    assert bool(result.done.all())
    sim.reset(mask=result.done)
    assert sim.chunk.tolist() == [0] * 4 and sim.buffer_s.tolist() == [0.0] * 4
