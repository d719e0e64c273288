"""Training with the sessions on the training device (the torch collector), here on the CPU:
it learns, resumes exactly, a seed fixes its weights, and its step never waits for the device;
the choice by device."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

from abr.dqn.buffers import PrioritizedReplayBuffer, ReplayBuffer  # noqa: E402
from abr.dqn.collect import DeviceCollector, HostCollector, pick_collector  # noqa: E402
from abr.dqn.config import load_config  # noqa: E402
from abr.dqn.learner import Learner  # noqa: E402
from abr.dqn.networks import QNetwork  # noqa: E402
from abr.dqn.nstep import Transitions  # noqa: E402
from abr.dqn.teacher import LabelPool, make_teacher  # noqa: E402
from abr.dqn.train import play_and_learn, split_traces, train  # noqa: E402
from abr.media.video import load_video  # noqa: E402
from abr.player.observation import ObservationSpec  # noqa: E402
from abr.player.qoe import make_qoe  # noqa: E402
from tests.dqn.test_train import SMALL, check_resume_is_exact  # noqa: E402


def test_a_device_run_trains_and_keeps_a_best_model(tmp_path):
    result = train(load_config(None, **SMALL, collector="device"), tmp_path / "run")
    assert result.env_steps >= SMALL["total_env_steps"] and result.updates > 0
    assert (tmp_path / "run" / "best.pt").is_file()


@pytest.mark.parametrize("teacher", ["none", "oracle"])
def test_a_device_run_resumes_exactly(tmp_path, teacher):
    config = load_config(None, **SMALL, collector="device", teacher=teacher, teacher_horizon=2)
    check_resume_is_exact(config, tmp_path)


def test_a_seed_fixes_a_device_run_s_weights(tmp_path):
    def weights(seed, name):
        train(load_config(None, **SMALL, collector="device", seed=seed), tmp_path / name)
        return torch.load(tmp_path / name / "checkpoint.pt", weights_only=True)["online"]

    a, b, c = weights(0, "a"), weights(0, "b"), weights(1, "c")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_auto_puts_the_sessions_on_a_gpu_and_keeps_them_on_the_host_on_a_cpu():
    config = load_config(None, **SMALL)
    video = load_video(config.video)
    traces, _ = split_traces(config)
    spec = ObservationSpec(n_levels=video.n_levels)
    qoe = make_qoe("lin", video.bitrates_kbps)
    on_cpu = pick_collector(config, traces, video, spec, qoe, torch.device("cpu"))
    assert isinstance(on_cpu, HostCollector)
    forced = load_config(None, **SMALL, collector="device")
    assert isinstance(
        pick_collector(forced, traces, video, spec, qoe, torch.device("cpu")), DeviceCollector
    )
    with pytest.raises(ValueError, match="collector"):
        load_config(None, collector="device", curriculum="mpc_gap")


def test_the_device_collector_s_mpc_labels_are_robustmpc_s(tmp_path):
    """RobustMPC as the teacher on the device: its labels, on the device's own sessions, are
    the numpy RobustMPC's on the same players' states."""
    from abr.dqn.teacher import MpcTeacher
    from abr.policies.mpc import robust_mpc_from_history

    config = load_config(None, **SMALL, collector="device", teacher="mpc")
    video = load_video(config.video)
    traces, _ = split_traces(config)
    qoe = make_qoe("lin", video.bitrates_kbps)
    spec = ObservationSpec(n_levels=video.n_levels)
    collector = DeviceCollector(config, traces, video, spec, qoe, torch.device("cpu"))
    for _ in range(12):
        levels, values = collector.teach(MpcTeacher(qoe), values=False)
        want = robust_mpc_from_history(collector.sim.player_state(), video, "lin")
        assert values is None and levels.tolist() == want.tolist()
        collector.step(collector.act(torch.nn.Linear(spec.dim, video.n_levels), 0.5))


# Ops that make a GPU wait for the device or copy host data to it: a scalar read (`.item()`,
# `float()`, `bool()`), a data-dependent shape, a tensor made from a Python list.
SYNCING_OPS = {
    "aten::_local_scalar_dense",
    "aten::nonzero",
    "aten::masked_select",
    "aten::_unique2",
    "aten::unique_dim",
    "aten::unique_consecutive",
    "aten::repeat_interleave",
    "aten::equal",
    "aten::is_nonzero",
    "aten::lift_fresh",
    "aten::lift_fresh_copy",
}


class SyncLog(TorchDispatchMode):
    """Every op that would wait for the device (or copy host data to it) on a GPU; the
    optimizer's step counters are host tensors on a GPU too, so reading them is allowed."""

    def __init__(self, host_tensors: list[torch.Tensor]) -> None:
        super().__init__()
        self.host_ids = {id(t) for t in host_tensors}
        self.syncs: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func._schema.name
        on_host = bool(args) and id(args[0]) in self.host_ids
        boolean_index = name == "aten::index" and any(
            i is not None and i.dtype == torch.bool for i in args[1]
        )
        if (name in SYNCING_OPS and not on_host) or boolean_index:
            self.syncs.append(name)
        return func(*args, **(kwargs or {}))


class DeviceLoop:
    """The training loop's parts on the device path, a few steps in (past the n-step warm-up
    and the first updates): `step()` runs one more step of the loop."""

    def __init__(self, teacher: str, device: torch.device) -> None:
        config = load_config(
            None,
            **{**SMALL, "learning_starts": 0, "device": str(device)},
            collector="device",
            teacher=teacher,
            teacher_horizon=2,
            teacher_loss="advantage" if teacher == "oracle" else "margin",
        )
        video = load_video(config.video)
        traces, _ = split_traces(config)
        spec = ObservationSpec(n_levels=video.n_levels)
        qoe = make_qoe("lin", video.bitrates_kbps)
        self.config = config
        self.collector = DeviceCollector(config, traces, video, spec, qoe, device)
        self.replay = PrioritizedReplayBuffer(config.replay_capacity, spec.dim, device=device)
        demos = ReplayBuffer(64, spec.dim, device)
        obs = np.random.default_rng(0).normal(size=(64, spec.dim)).astype(np.float32)
        ones = np.ones(64, np.float32)
        demos.add(Transitions(obs, np.arange(64) % video.n_levels, ones, obs, ones))
        self.labels = LabelPool(config.teacher_capacity, spec.dim, video.n_levels, device)
        network = QNetwork(spec.dim, video.n_levels, config.hidden, config.dueling).to(device)
        generator = torch.Generator(device=device).manual_seed(0)
        self.learner = Learner(config, network, generator, demos, self.labels)
        self.teacher = make_teacher(
            teacher, qoe, config.teacher_horizon, config.teacher_buffer_value
        )
        self.env_steps = 0
        for _ in range(6):
            self.step()

    def step(self) -> torch.Tensor | None:
        _, loss = play_and_learn(
            self.config,
            self.collector,
            self.teacher,
            self.labels,
            self.learner,
            self.replay,
            self.env_steps,
        )
        self.env_steps += self.config.n_sessions
        return loss


@pytest.mark.parametrize("teacher", ["oracle", "mpc"])
def test_a_device_step_never_waits_for_the_device(teacher):
    """The loop's step on the device path — teach, act, simulate, n-step, replay, update —
    dispatches no op that reads a value back to the host (on a GPU each would stall the stream)."""
    loop = DeviceLoop(teacher, torch.device("cpu"))
    steps = [state["step"] for state in loop.learner.optimizer.state.values()]
    with SyncLog(steps) as log:
        losses = [loop.step() for _ in range(3)]
    assert all(loss is not None for loss in losses) and len(loop.labels) > 0
    assert log.syncs == []
