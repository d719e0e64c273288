"""The trainer on a GPU: skipped where CUDA is absent (CI), run on a GPU host with `pytest -m cuda`.

The CPU tests hold the algorithm; these hold that the CUDA path computes the same things:
replay and priorities kept on the GPU, a run that trains and resumes there (over one ladder and
over sampled ones), and a checkpoint that loads on a CPU-only host and exports to the same ONNX
decisions.
"""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from abr.bench.run import run_policy  # noqa: E402
from abr.dqn.buffers import PrioritizedReplayBuffer  # noqa: E402
from abr.dqn.checkpoint import load_best_model  # noqa: E402
from abr.dqn.config import load_config  # noqa: E402
from abr.dqn.export import export_onnx  # noqa: E402
from abr.dqn.policy import GreedyQPolicy  # noqa: E402
from abr.dqn.train import train  # noqa: E402
from abr.media.traces import load_traces  # noqa: E402
from abr.media.video import load_video  # noqa: E402
from abr.policies.onnx import OnnxPolicy  # noqa: E402
from tests.dqn.test_buffers import transitions  # noqa: E402
from tests.dqn.test_train import SMALL, check_resume_is_exact  # noqa: E402

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]
ON_GPU = {**SMALL, "device": "cuda"}


def test_prioritized_replay_on_the_gpu_samples_by_priority():
    buffer = PrioritizedReplayBuffer(4, obs_dim=1, alpha=1.0, eps=0.0, device="cuda")
    index = buffer.add(transitions([0, 1, 2, 3]))
    assert buffer.obs.is_cuda and buffer.tree.tree.is_cuda and index.is_cuda
    buffer.update_priorities(index, torch.tensor([1.0, 2.0, 3.0, 4.0], device="cuda"))
    generator = torch.Generator(device="cuda").manual_seed(0)
    counts = np.zeros(4)
    for _ in range(200):
        batch = buffer.sample(50, generator, beta=0.5)
        assert batch.obs.is_cuda and batch.weight.is_cuda
        counts += np.bincount(batch.slot.cpu().numpy(), minlength=4)
    np.testing.assert_allclose(counts / counts.sum(), [0.1, 0.2, 0.3, 0.4], atol=0.01)
    probability = np.array([0.1, 0.2, 0.3, 0.4])[batch.slot.cpu().numpy()]
    expected = (4 * probability) ** -0.5
    np.testing.assert_allclose(batch.weight.cpu().numpy(), expected / expected.max(), rtol=1e-6)


def test_a_gpu_run_trains_there_and_its_model_loads_on_a_cpu(tmp_path):
    result = train(load_config(None, **ON_GPU), tmp_path / "run")
    assert result.device.startswith("cuda") and result.updates > 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["device"].startswith("cuda") and summary["env_steps"] == 1_600
    checkpoint = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert checkpoint["replay"]["obs"].is_cuda  # the replay lived on the GPU

    # A CPU-only host loads the GPU-trained model and makes the same decisions with it.
    video, traces = load_video(None), load_traces(["traces/default/test"])
    on_cpu, spec = load_best_model(tmp_path / "run" / "best.pt", "cpu")
    on_gpu, _ = load_best_model(tmp_path / "run" / "best.pt", "cuda")
    cpu_run = run_policy(GreedyQPolicy(on_cpu, spec, torch.device("cpu")), traces, video, "lin")
    gpu_policy = GreedyQPolicy(on_gpu.cuda(), spec, torch.device("cuda"))
    gpu_run = run_policy(gpu_policy, traces, video, "lin")
    np.testing.assert_array_equal(cpu_run.levels, gpu_run.levels)

    # ...and so does its ONNX export.
    export_onnx(tmp_path / "run", tmp_path / "model.onnx")
    onnx_run = run_policy(OnnxPolicy(tmp_path / "model.onnx"), traces, video, "lin")
    np.testing.assert_array_equal(onnx_run.levels, cpu_run.levels)


def test_a_gpu_run_resumes_exactly(tmp_path):
    check_resume_is_exact(load_config(None, **ON_GPU), tmp_path)


def test_a_sampled_ladder_run_on_a_gpu_resumes_exactly_and_exports(tmp_path):
    from tests.dqn.test_video_mix import ANY_LADDER, check_onnx_decides_as_torch_on_a_cpu

    check_resume_is_exact(load_config(None, **{**ANY_LADDER, "device": "cuda"}), tmp_path)
    checkpoint = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)
    assert checkpoint["replay"]["obs"].is_cuda  # the replay lived on the GPU
    check_onnx_decides_as_torch_on_a_cpu(tmp_path / "straight", tmp_path / "any.onnx")
