import json
import math
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from abr.dqn.checkpoint import load_best_model  # noqa: E402
from abr.dqn.config import load_config  # noqa: E402
from abr.dqn.demos import collect_demonstrations  # noqa: E402
from abr.dqn.learner import learning_rate  # noqa: E402
from abr.dqn.networks import QNetwork  # noqa: E402
from abr.dqn.train import (  # noqa: E402
    HELD_OUT,
    resume_config,
    split_traces,
    train,
)
from abr.media.video import load_video  # noqa: E402
from abr.player.observation import ObservationSpec  # noqa: E402
from abr.policies.registry import make_policy  # noqa: E402
from tests.conftest import abr, last_json  # noqa: E402

# A plain DQN: no teacher, no demonstrations, one ladder, TD at full weight, hard target
# copies, a constant learning rate and epsilon from 1 (what the small runs of these tests
# exercise; the defaults are the shipped recipe's)
PLAIN = dict(
    ladders="one",
    train_mbps_factors=[1.0],
    train_time_factors=[1.0],
    demo_policy="none",
    demo_pretrain_updates=0,
    teacher="none",
    teacher_loss="margin",
    teacher_weight_start=1.0,
    teacher_weight_decay_env_steps=0,
    td_loss_weight=1.0,
    gamma=0.99,
    target_tau=1.0,
    learning_rate_end=1e-4,  # the learning rate: constant
    updates_per_step=1,
    demo_batch_size=64,
    teacher_batch_size=128,
    epsilon_start=1.0,
    epsilon_end=0.02,
    val_score="mean",
)
SMALL = dict(
    **PLAIN,
    total_env_steps=1_600,
    learning_starts=320,
    val_every_env_steps=800,
    n_sessions=16,
    batch_size=32,
    replay_capacity=2_000,
    hidden=[32, 32],
    epsilon_decay_env_steps=800,
    target_update_every=10,
    device="cpu",
)


def toml_text(settings: dict[str, object]) -> str:
    """`settings` as a TOML file's top-level keys (for runs started from the command line)."""
    return "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items())


def test_smoke_run_writes_a_loadable_model_and_summary(tmp_path):
    seen: list[dict[str, float]] = []
    result = train(load_config(None, **SMALL), tmp_path / "run", seen.append, progress_every_s=0)
    assert [f["env_steps"] for f in seen] == list(range(16, 1_601, 16))
    assert seen[-1]["epsilon"] == pytest.approx(0.02)  # decayed over the first 800 steps
    assert math.isnan(seen[0]["val_qoe"]) and math.isfinite(seen[-1]["val_qoe"])
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    for key in ("best_val_qoe", "wall_s", "seconds_to_beat_mpc", "env_steps", "updates", "device"):
        assert key in summary
    assert summary["env_steps"] == 1_600 and summary["updates"] == result.updates > 0
    network, spec = load_best_model(tmp_path / "run" / "best.pt")
    assert network(torch.zeros(3, spec.dim)).shape == (3, 6)
    rows = (tmp_path / "run" / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 2  # header + a validation every 800 steps
    checkpoint = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert checkpoint["env_steps"] == 1_600
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))
    table = json.loads((tmp_path / "run" / "validation_table.json").read_text())
    assert set(table) == {"dqn", "bb", "rb", "bola", "mpc"}
    assert table["dqn"]["mean_qoe"] == pytest.approx(result.best_val_qoe)
    assert table["mpc"]["mean_qoe"] == pytest.approx(result.mpc_val_qoe)
    assert not (tmp_path / "run" / "validation_table_by_set.json").exists()  # one set only


@pytest.mark.parametrize("refinements", [{}, {"double": False, "dueling": False, "per": False}])
def test_same_seed_same_weights_other_seed_other_weights(tmp_path, refinements):
    def weights(seed, name):
        train(load_config(None, **{**SMALL, **refinements, "seed": seed}), tmp_path / name)
        network, _ = load_best_model(tmp_path / name / "best.pt")
        return torch.cat([p.flatten() for p in network.parameters()])

    torch.testing.assert_close(weights(1, "a"), weights(1, "b"), rtol=0, atol=0)
    assert not torch.equal(weights(1, "c"), weights(2, "d"))


def test_config_errors_name_the_setting(tmp_path):
    (tmp_path / "bad.toml").write_text("n_sessions = 8\nlearning_rat = 0.1\n")
    with pytest.raises(ValueError, match=r"unknown settings \['learning_rat'\]"):
        load_config(tmp_path / "bad.toml")
    with pytest.raises(ValueError, match="invalid settings: gamma"):
        load_config(None, gamma=1.5)
    (tmp_path / "ok.toml").write_text("n_sessions = 8\nper = false\n")
    config = load_config(tmp_path / "ok.toml", n_sessions=4)
    assert config.n_sessions == 4 and config.per is False
    with pytest.raises(ValueError, match="invalid settings: train_time_factors"):
        load_config(None, train_time_factors=[1.0, 0.0])
    with pytest.raises(ValueError, match="invalid settings: throughput_clip"):
        load_config(None, throughput_clip=0.0)


def test_a_shorter_history_trains_and_validates_and_a_longer_one_is_refused(tmp_path):
    """The bench, validation and the service keep 8 chunks of history: a model may read fewer
    (here 4, through a whole run with validation), not more."""
    result = train(
        load_config(None, **{**SMALL, "history_len": 4, "robust_window": 3}), tmp_path / "run"
    )
    network, spec = load_best_model(tmp_path / "run" / "best.pt")
    assert spec.history_len == 4 and network.obs_dim == spec.dim == 3 + 2 * 4 + 6 + 2
    assert math.isfinite(result.best_val_qoe)
    with pytest.raises(ValueError, match="invalid settings: history_len"):
        load_config(None, history_len=16)


@pytest.mark.parametrize("path", sorted(Path("configs").glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    config = load_config(path)
    assert config.traces and config.total_env_steps > 0


def test_learning_rate_is_annealed_when_asked(tmp_path):
    constant = load_config(None, **SMALL)
    annealed = load_config(None, **{**SMALL, "learning_rate": 1e-3, "learning_rate_end": 1e-4})
    assert learning_rate(constant, 800) == constant.learning_rate
    assert learning_rate(annealed, 0) == pytest.approx(1e-3)
    assert learning_rate(annealed, 800) == pytest.approx(5.5e-4)  # half way through 1,600 steps
    train(annealed, tmp_path / "run")
    saved = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert saved["optimizer"]["param_groups"][0]["lr"] == pytest.approx(1e-4)  # the last update's
    with pytest.raises(ValueError, match="invalid settings: learning_rate_end"):
        load_config(None, learning_rate_end=0.0)


def test_only_training_traces_are_augmented():
    plain = load_config(None, **SMALL)
    train_traces, val_traces = split_traces(plain)
    config = load_config(
        None, **{**SMALL, "train_mbps_factors": [0.5, 1.0], "train_time_factors": [2.0]}
    )
    augmented_train, same_val = split_traces(config)
    assert len(augmented_train) == 2 * len(train_traces)
    assert list(same_val) == list(val_traces) == [HELD_OUT]
    assert [t.name for t in same_val[HELD_OUT]] == [t.name for t in val_traces[HELD_OUT]]
    assert {t.name for t in augmented_train} == {
        f"{t.name}@bw{f:g}t2" for t in train_traces for f in (0.5, 1.0)
    }


def test_train_cli_with_ablation_switches(tmp_path):
    config = tmp_path / "small.toml"
    config.write_text(toml_text({k: v for k, v in SMALL.items() if k != "device"}))
    run = str(tmp_path / "run")
    ablation = ["--no-per", "--no-double", "--n-step", "1", "--json"]
    summary = last_json(abr("train", "--config", str(config), "--out", run, *ablation))
    assert summary["env_steps"] == 1_600
    resolved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert resolved["per"] is False and resolved["double"] is False and resolved["n_step"] == 1
    again = last_json(abr("train", "--resume", run, "--json"))
    assert again["updates"] == summary["updates"]
    missing = abr("train", "--resume", str(tmp_path / "nothing"), check=False)
    assert missing.returncode == 2 and "no checkpoint.pt to resume from" in missing.stderr


class Interrupt(Exception):
    pass


def check_resume_is_exact(config, tmp_path) -> None:
    """A run interrupted after its checkpoint at 800 steps and resumed ends with exactly the
    weights of an uninterrupted one."""
    straight = train(config, tmp_path / "straight")

    def kill_after_1000(figures):
        if figures["env_steps"] >= 1_000:  # the last checkpoint was at 800
            raise Interrupt

    with pytest.raises(Interrupt):
        train(config, tmp_path / "killed", kill_after_1000, progress_every_s=0)
    resumed = train(resume_config(tmp_path / "killed"), tmp_path / "killed", resume=True)
    assert (resumed.env_steps, resumed.updates) == (straight.env_steps, straight.updates)
    a = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=True)
    for network in ("online", "target"):
        for name in a[network]:
            torch.testing.assert_close(a[network][name], b[network][name], rtol=0, atol=0)


def test_resume_goes_on_exactly_as_an_uninterrupted_run(tmp_path):
    check_resume_is_exact(load_config(None, **SMALL), tmp_path)
    rows = (tmp_path / "killed" / "metrics.csv").read_text().strip().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["800", "1600"]


DQFD = dict(demo_policy="mpc", demo_env_steps=800, demo_batch_size=16, demo_pretrain_updates=20)


def test_resume_with_demonstrations_is_exact_too(tmp_path):
    """The resumed run collects the same demonstrations again and samples them on."""
    check_resume_is_exact(load_config(None, **{**SMALL, **DQFD}), tmp_path)


def test_pretraining_on_demonstrations_makes_the_greedy_policy_the_demonstrators(tmp_path):
    """DQfD's pre-training alone (no agent step learns: learning starts after the run): the
    large-margin loss puts the greedy action on BB's for most demonstrated states (0.61 when
    written); without it (weight 0), TD learning on the same demonstrations does not (0.12)."""
    config = load_config(
        None,
        **{
            **SMALL,
            "learning_starts": 10_000,
            "learning_rate": 1e-3,
            "learning_rate_end": 1e-3,
            "demo_policy": "bb",
            "demo_env_steps": 1_500,
            "demo_batch_size": 64,
            "demo_pretrain_updates": 300,
        },
    )
    video = load_video(config.video)
    spec = ObservationSpec(n_levels=6, history_len=config.history_len)
    train_traces, _ = split_traces(config)
    demos = collect_demonstrations(
        make_policy("bb"),
        train_traces,
        video,
        spec,
        "lin",
        env_steps=config.demo_env_steps,
        n_sessions=config.n_sessions,
        n_step=config.n_step,
        gamma=config.gamma,
        seed=config.seed,
    )

    def agreement(weight: float, name: str) -> float:
        train(replace(config, demo_loss_weight=weight), tmp_path / name)
        saved = torch.load(tmp_path / name / "checkpoint.pt", weights_only=True)
        assert saved["updates"] == config.demo_pretrain_updates
        network = QNetwork(spec.dim, 6, config.hidden, config.dueling)
        network.load_state_dict(saved["online"])
        with torch.no_grad():
            greedy = network(torch.as_tensor(demos.obs)).argmax(dim=1).numpy()
        return float(np.mean(greedy == demos.action))

    assert agreement(1.0, "margin") > 0.5
    assert agreement(0.0, "td_only") < 0.3


def test_demonstration_settings_are_checked():
    for bad in (
        {"demo_policy": "optimal"},
        {"demo_env_steps": 0},
        {"demo_batch_size": 0},
        {"demo_margin": -0.1},
        {"demo_loss_weight": -1.0},
        {"demo_pretrain_updates": -1},
    ):
        with pytest.raises(ValueError, match=f"invalid settings: {next(iter(bad))}$"):
            load_config(None, **bad)


def test_resume_needs_a_checkpoint(tmp_path):
    with pytest.raises(ValueError, match="no checkpoint.pt to resume from"):
        resume_config(tmp_path)


def test_a_run_killed_with_sigkill_resumes_from_its_last_checkpoint(tmp_path):
    """A real process, killed -9 mid-run (twice): each time the checkpoint on disk loads, and
    the resumed run finishes with every validation row once, losing at most one interval."""
    settings = {**SMALL, "total_env_steps": 6_400, "val_every_env_steps": 800}
    (tmp_path / "run.toml").write_text(toml_text(settings))
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "abr.cli", "train", "--config", str(tmp_path / "run.toml")]
    command += ["--out", str(run_dir)]
    checkpoint = run_dir / "checkpoint.pt"
    killed_at = []
    for kill in range(2):
        process = subprocess.Popen(
            command if kill == 0 else [*command[:3], "train", "--resume", str(run_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        before = torch.load(checkpoint, weights_only=True)["env_steps"] if kill else 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait for a checkpoint newer than the last one
            if checkpoint.exists():
                try:
                    if torch.load(checkpoint, weights_only=True)["env_steps"] > before:
                        break
                except Exception:  # replaced while being read: try again
                    pass
            time.sleep(0.05)
        time.sleep(0.3)
        process.send_signal(signal.SIGKILL)
        process.wait()
        saved = torch.load(checkpoint, weights_only=True)  # never a half-written file
        killed_at.append(saved["env_steps"])
    assert killed_at[0] >= 800 and killed_at[1] > killed_at[0]
    abr("train", "--resume", str(run_dir))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["env_steps"] == 6_400
    steps = [int(r.split(",")[0]) for r in (run_dir / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == list(range(800, 6_401, 800))
    assert not list(run_dir.glob(".*.tmp"))


def test_each_progress_report_shows_the_latest_validation(tmp_path):
    """The progress line's `val QoE` is the check just made, not the one before it: at every
    validation step and at the end, the report equals the metrics row written there."""
    seen: list[dict[str, float]] = []
    train(load_config(None, **SMALL), tmp_path / "run", seen.append, progress_every_s=0)
    rows = (tmp_path / "run" / "metrics.csv").read_text().strip().splitlines()[1:]
    validated = {int(row.split(",")[0]): float(row.split(",")[4]) for row in rows}
    reported = {int(f["env_steps"]): f["val_qoe"] for f in seen}
    assert set(validated) == {800, 1_600}
    for env_steps, val_qoe in validated.items():
        assert reported[env_steps] == pytest.approx(val_qoe)


def _train_until_interrupted(tmp_path: Path, wait_for_checkpoint: bool) -> subprocess.Popen:
    val_every = 800 if wait_for_checkpoint else 400_000  # else only at the end, never reached
    settings = {**SMALL, "total_env_steps": 400_000, "val_every_env_steps": val_every}
    (tmp_path / "run.toml").write_text(toml_text(settings))
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "abr.cli", "train", "--config", str(tmp_path / "run.toml")]
    process = subprocess.Popen(
        [*command, "--out", str(run_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    ready = run_dir / ("metrics.csv" if not wait_for_checkpoint else "checkpoint.pt")
    while time.monotonic() < deadline and not ready.exists():
        time.sleep(0.05)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)  # what Ctrl-C sends
    return process


@pytest.mark.parametrize("wait_for_checkpoint", [True, False])
def test_ctrl_c_says_what_was_saved_and_how_to_go_on(tmp_path, wait_for_checkpoint):
    process = _train_until_interrupted(tmp_path, wait_for_checkpoint)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    said = stderr.replace("\n", "")
    if wait_for_checkpoint:
        assert f"abr train --resume {tmp_path / 'run'}" in said
        assert "env steps" in said
    else:
        assert "before its first validation" in said
