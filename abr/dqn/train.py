"""DQN training on the vectorised simulator (Mnih et al. 2015 with Double DQN, dueling heads,
prioritized replay and n-step returns), readable top to bottom.

Every iteration steps all sessions once (epsilon-greedy on the online network), turns the chunk
rewards into n-step transitions, stores them, and makes `updates_per_step` gradient updates
(Huber loss weighted by importance weights, gradient clipping, Adam); the target network follows
by hard copies every `target_update_every` updates or by Polyak averaging. With a
demonstrator (DQfD, `abr/dqn/demos.py`), its transitions are collected first, a fixed number of
them joins every update with a large-margin loss toward its actions, and `demo_pretrain_updates`
updates on them alone come before the first step. Validation runs the
greedy policy through the same bench code as the baselines, on held-out training traces; the
network it plays (and `best.pt` keeps) is the online one, or a Polyak average of its weights.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

from abr.bench.report import summarize_runs
from abr.bench.run import run_policy
from abr.dqn.buffers import PrioritizedReplayBuffer, ReplayBuffer
from abr.dqn.checkpoint import (
    BEST,
    CHECKPOINT,
    RunState,
    best_payload,
    load_best_model,
    load_payload,
    save_atomic,
    truncate_metrics,
)
from abr.dqn.collect import Collector
from abr.dqn.config import DqnConfig
from abr.dqn.demos import collect_demonstrations
from abr.dqn.learner import Learner
from abr.dqn.networks import make_network
from abr.dqn.policy import GreedyQPolicy
from abr.dqn.targets import linear_schedule
from abr.dqn.teacher import LabelPool, label_weight
from abr.dqn.validation import Validation
from abr.dqn.video_mix import ladder_demonstrations, trained_over, validation_cases
from abr.media.augment import augmented
from abr.media.traces import Trace, load_traces, traces_digest
from abr.media.video import Video, load_video
from abr.player.ladder_observation import LadderSpec
from abr.player.observation import AnySpec, ObservationSpec
from abr.policies.base import Policy
from abr.policies.model_meta import teacher_name
from abr.policies.registry import make_policy
from abr.sim.config import SimConfig

HELD_OUT = "every 10th training trace"


@dataclass
class TrainResult:
    best_val_qoe: float
    mpc_val_qoe: float
    seconds_to_beat_mpc: float | None
    env_steps: int
    updates: int
    wall_s: float
    device: str
    teacher: str  # the config's teacher ("none", "oracle"), and its horizon when it has one
    collector: str  # what played the sessions, e.g. "host (numba), sampled ladders"

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but CUDA is not available")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def split_traces(config: DqnConfig) -> tuple[list[Trace], dict[str, list[Trace]]]:
    """Training traces (with their rescaled copies, if the config asks for them), and validation
    traces as recorded, by folder (every 10th training trace when none are given)."""
    train = load_traces(config.traces)
    val = validation_traces(config, train)
    if not config.val_traces:
        train = [t for i, t in enumerate(train) if i % 10]
    return augmented(train, config.train_mbps_factors, config.train_time_factors), val


def validation_traces(
    config: DqnConfig, train: list[Trace] | None = None
) -> dict[str, list[Trace]]:
    """The validation traces as recorded, by folder: the config's validation folders, or every
    10th training trace (`train`: the training traces as loaded, if they already are)."""
    if config.val_traces:
        return {folder: load_traces([folder]) for folder in config.val_traces}
    train = load_traces(config.traces) if train is None else train
    if len(train) < 2:
        raise ValueError(
            f"{', '.join(config.traces)}: {len(train)} training trace(s); holding out every "
            "10th for validation leaves none to train on (add traces, or name validation "
            "folders with --val-traces)"
        )
    return {HELD_OUT: train[::10]}


def build_validation(
    config: DqnConfig, val_sets: dict[str, list[Trace]], video: Video
) -> Validation:
    """What a run is validated on: its validation traces playing the config's video, or, for a
    model for any ladder, playing the config's `val_ladders` sampled videos."""
    if config.ladders == "sampled":
        return Validation.build(*validation_cases(config, val_sets), config.qoe, config.val_score)
    return Validation.build(val_sets, video, config.qoe, config.val_score)


def resume_config(run_dir: str | Path) -> DqnConfig:
    """The settings an interrupted run was started with."""
    path = Path(run_dir) / "config.json"
    if not (Path(run_dir) / CHECKPOINT).is_file():
        raise ValueError(f"{run_dir}: no checkpoint.pt to resume from")
    try:
        return DqnConfig(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(f"{path}: cannot read the run's settings ({exc})") from None


def train(
    config: DqnConfig,
    run_dir: str | Path,
    on_progress: Callable[[dict[str, float]], None] | None = None,
    resume: bool = False,
    progress_every_s: float = 1.0,
) -> TrainResult:
    """Train into `run_dir`; `on_progress` (if given) gets the running figures after a step,
    at most once every `progress_every_s` of wall time and after the last step (each report
    reads the loss, which on a GPU waits for the device).

    With `resume`, everything is restored from `run_dir/checkpoint.pt` (networks, optimizer,
    replay, n-step and simulator state, random generators, counters), so the run goes on as if
    it had never stopped; what it had done after that checkpoint is done again.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if not resume:
        (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=1) + "\n")
    start = time.perf_counter()
    device = pick_device(config.device)
    torch.manual_seed(config.seed)

    # ---- data, simulator and the player's observation
    video: Video = load_video(config.video)
    train_traces, val_sets = split_traces(config)
    train_digest = traces_digest(load_traces(config.traces))
    any_ladder = config.ladders == "sampled"
    spec: AnySpec = (
        LadderSpec(max_rungs=config.max_rungs, history_len=config.history_len, qoe=config.qoe)
        if any_ladder
        else ObservationSpec(
            n_levels=video.n_levels,
            history_len=config.history_len,
            robust_window=config.robust_window,
            throughput_clip=config.throughput_clip,
        )
    )
    collector = Collector(config, train_traces, video, spec, device)

    # ---- networks, replay and the learner
    online_network = make_network(spec, config.hidden, config.dueling).to(device)
    replay: ReplayBuffer = (
        PrioritizedReplayBuffer(
            config.replay_capacity, spec.dim, config.per_alpha, config.per_eps, device
        )
        if config.per
        else ReplayBuffer(config.replay_capacity, spec.dim, device)
    )
    demo_replay = _demonstrations(config, train_traces, video, spec, device)
    generator = torch.Generator(device=device).manual_seed(config.seed)
    labels = (
        LabelPool(config.teacher_capacity, spec.dim, spec.n_levels, device)
        if config.teacher != "none"
        else None
    )
    learner = Learner(config, online_network, generator, demo_replay, labels)
    greedy = GreedyQPolicy(learner.online_network, spec, device)
    validation = build_validation(config, val_sets, video)
    metrics_path = run_dir / "metrics.csv"
    scalars = SummaryWriter(str(run_dir / "tensorboard"))

    # ---- a fresh run, or exactly where an interrupted one stopped
    state = RunState(next_validation=config.val_every_env_steps)
    loss = torch.tensor(float("nan"))  # the last update's loss, left on the device
    last_report_s = -float("inf")
    if resume:
        saved = load_payload(run_dir / CHECKPOINT, device)
        learner.load_state_dict(saved)
        replay.load_state_dict(saved["replay"])
        collector.load_state_dict(saved)
        if labels is not None:
            labels.load_state_dict(saved["labels"])
        state = RunState.from_payload(saved)
        learner.updates = state.updates
        loss = torch.tensor(state.loss)
        start -= state.wall_s
        truncate_metrics(metrics_path, state.env_steps)
    else:
        metrics_path.write_text("env_steps,updates,epsilon,loss,val_qoe,wall_s\n")
        if demo_replay is not None:  # DQfD's pre-training, on demonstrations alone
            for _ in range(config.demo_pretrain_updates):
                loss = learner.learn(None, config.per_beta_start)

    while state.env_steps < config.total_env_steps:
        epsilon, step_loss = play_and_learn(
            config, collector, labels, learner, replay, state.env_steps
        )
        state.env_steps += config.n_sessions
        loss = loss if step_loss is None else step_loss
        state.updates = learner.updates

        # Reading the loss waits for the device: only for a progress report and at validation,
        # so that a GPU step never waits for the host.
        now = time.perf_counter()
        last_step = state.env_steps >= config.total_env_steps
        validating = state.env_steps >= state.next_validation or last_step
        report = on_progress is not None and (now - last_report_s >= progress_every_s or last_step)
        if validating or report:
            state.loss = float(loss)
        # ---- validate, keep the best model, checkpoint
        if validating:
            state.next_validation += config.val_every_env_steps
            val_qoe_per_set = validation.qoe_per_set(greedy)
            state.val_qoe = validation.score(val_qoe_per_set)
            state.wall_s = time.perf_counter() - start
            if state.val_qoe > state.best_val_qoe:
                state.best_val_qoe = state.val_qoe
                best = best_payload(
                    learner.online_network,
                    spec,
                    config.to_dict(),
                    state.val_qoe,
                    state.env_steps,
                    [] if any_ladder else video.bitrates_kbps.tolist(),
                    0.0 if any_ladder else video.chunk_s,
                    train_digest,
                    trained_over(config) if any_ladder else {},
                )
                save_atomic(best, run_dir / BEST)
            if state.seconds_to_beat_mpc is None and validation.beats_mpc(state.val_qoe):
                state.seconds_to_beat_mpc = state.wall_s
            _log_validation(scalars, metrics_path, state, epsilon, val_qoe_per_set)
            parts = [
                learner.state_dict(),
                {"replay": replay.state_dict(), "config": config.to_dict()},
                collector.state_dict(),
                {"labels": labels.state_dict()} if labels is not None else {},
                state.to_dict(),
            ]
            checkpoint = {key: value for part in parts for key, value in part.items()}
            if len(checkpoint) != sum(len(part) for part in parts):  # one key, two owners
                raise RuntimeError("two parts of the checkpoint share a key")
            save_atomic(checkpoint, run_dir / CHECKPOINT)

        # ---- report, after any validation: the figures of the check just made
        if on_progress is not None and report:
            last_report_s = now
            on_progress(
                {
                    "env_steps": state.env_steps,
                    "updates": state.updates,
                    "steps_per_s": state.env_steps / (time.perf_counter() - start),
                    "epsilon": epsilon,
                    "loss": state.loss,
                    "val_qoe": state.val_qoe,
                }
            )
    scalars.close()
    result_summary = TrainResult(
        float(state.best_val_qoe),
        validation.mpc_score,
        state.seconds_to_beat_mpc,
        state.env_steps,
        state.updates,
        time.perf_counter() - start,
        str(device),
        teacher_name(config.to_dict()),
        collector.name,
    )
    (run_dir / "summary.json").write_text(json.dumps(result_summary.to_dict(), indent=1) + "\n")
    write_validation_table(run_dir, validation, device)
    return result_summary


def play_and_learn(
    config: DqnConfig,
    collector: Collector,
    labels: LabelPool | None,
    learner: Learner,
    replay: ReplayBuffer,
    env_steps: int,
) -> tuple[float, torch.Tensor | None]:
    """One step of the loop: the teacher labels the sessions' states (DAgger), every session
    plays one chunk, its transitions enter the replay, and the learner updates. The epsilon
    played and the last update's loss (None before learning starts), left on the device."""
    # ---- teach: the teacher labels the states the learner is in
    if labels is not None:
        taught, values = collector.teach(config.teacher_loss == "advantage")
        labels.add(collector.observation(), taught, values)

    # ---- act: epsilon-greedy over all sessions
    epsilon = linear_schedule(
        config.epsilon_start, config.epsilon_end, config.epsilon_decay_env_steps, env_steps
    )
    replay.add(collector.step(collector.act(learner.online_network, epsilon)))
    env_steps += config.n_sessions

    # ---- learn
    loss = None
    if env_steps >= config.learning_starts and len(replay) >= config.batch_size:
        beta = linear_schedule(config.per_beta_start, 1.0, config.total_env_steps, env_steps)
        learner.set_learning_rate(env_steps)
        taught_weight = label_weight(
            config.teacher_weight_start,
            config.teacher_weight_end,
            config.teacher_weight_decay_env_steps,
            env_steps,
        )
        for _ in range(config.updates_per_step):
            loss = learner.learn(replay, beta, taught_weight)
    return epsilon, loss


def _log_validation(
    scalars: SummaryWriter,
    metrics_path: Path,
    state: RunState,
    epsilon: float,
    val_qoe_per_set: dict[str, float],
) -> None:
    """One validation's figures: TensorBoard scalars and a row of metrics.csv."""
    step = state.env_steps
    for name, value in (("val_qoe", state.val_qoe), ("loss", state.loss), ("epsilon", epsilon)):
        scalars.add_scalar(name, value, step)
    scalars.add_scalar("env_steps_per_s", step / state.wall_s, step)
    if len(val_qoe_per_set) > 1:
        for name, value in val_qoe_per_set.items():
            scalars.add_scalar(f"val_qoe_by_set/{name}", value, step)
    scalars.flush()
    with open(metrics_path, "a", newline="") as metrics:
        row = [step, state.updates, epsilon, state.loss, state.val_qoe, state.wall_s]
        csv.writer(metrics).writerow(row)


def write_validation_table(
    run_dir: Path, validation: Validation, device: torch.device
) -> dict[str, dict[str, float | None]]:
    """The best model beside BB, RB, BOLA and RobustMPC on the validation traces, through the
    bench code path; saved as `validation_table.json`, and with several validation folders also
    one table per folder (`validation_table_by_set.json`)."""
    network, spec = load_best_model(run_dir / BEST, str(device))
    policies: dict[str, Policy] = {"dqn": GreedyQPolicy(network, spec, device)}
    policies |= {name: make_policy(name, validation.qoe) for name in ("bb", "rb", "bola", "mpc")}

    def table_on(traces: list[Trace], video: Video) -> dict[str, dict[str, float | None]]:
        return summarize_runs(
            {
                name: run_policy(policy, traces, video, validation.qoe)
                for name, policy in policies.items()
            }
        )

    by_set = {
        name: table_on(traces, validation.videos[name]) for name, traces in validation.sets.items()
    }
    # one video: every trace together; several: the mean of each figure over the videos
    table = (
        table_on(validation.traces, validation.video)
        if validation.one_video
        else _mean_table(list(by_set.values()))
    )
    (run_dir / "validation_table.json").write_text(json.dumps(table, indent=1) + "\n")
    if len(validation.sets) > 1:
        (run_dir / "validation_table_by_set.json").write_text(json.dumps(by_set, indent=1) + "\n")
    return table


def _mean_table(
    tables: list[dict[str, dict[str, float | None]]],
) -> dict[str, dict[str, float | None]]:
    def mean(values: list[float | None]) -> float | None:
        known = [value for value in values if value is not None]
        return float(np.mean(known)) if known else None

    return {
        policy: {key: mean([table[policy][key] for table in tables]) for key in figures}
        for policy, figures in tables[0].items()
    }


def _demonstrations(
    config: DqnConfig,
    traces: list[Trace],
    video: Video,
    spec: AnySpec,
    device: torch.device,
) -> ReplayBuffer | None:
    """The demonstrator's transitions in a buffer of their own (never overwritten), or None."""
    if config.demo_policy == "none":
        return None
    if isinstance(spec, LadderSpec):  # a new sampled video every round
        demos = ladder_demonstrations(config, traces, video, spec)
    else:
        demos = collect_demonstrations(
            make_policy(config.demo_policy, config.qoe),
            traces,
            video,
            spec,
            config.qoe,
            env_steps=config.demo_env_steps,
            n_sessions=config.n_sessions,
            n_step=config.n_step,
            gamma=config.gamma,
            reward_scale=config.reward_scale,
            sim_config=SimConfig(history_len=config.history_len),
            seed=config.seed,
        )
    buffer = ReplayBuffer(len(demos.action), spec.dim, device)
    buffer.add(demos)
    return buffer
