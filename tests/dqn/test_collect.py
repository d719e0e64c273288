"""Training with the sessions on the training device (the torch collector), here on the CPU:
it learns, resumes exactly, and a seed fixes its weights; the choice by device."""

import pytest

torch = pytest.importorskip("torch")

from abr.dqn.collect import DeviceCollector, HostCollector, pick_collector  # noqa: E402
from abr.dqn.config import load_config  # noqa: E402
from abr.dqn.train import split_traces, train  # noqa: E402
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
