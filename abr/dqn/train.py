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

import copy
import csv
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.tensorboard import SummaryWriter

from abr.augment import augmented
from abr.bench import run_policy
from abr.bench_report import summarize_runs
from abr.dqn.config import DqnConfig
from abr.dqn.curriculum import MpcGapCurriculum
from abr.dqn.demos import collect_demonstrations
from abr.dqn.networks import QNetwork
from abr.dqn.nstep import NStepAccumulator
from abr.dqn.policy import GreedyQPolicy
from abr.dqn.replay import Batch, PrioritizedReplayBuffer, ReplayBuffer
from abr.dqn.targets import large_margin_loss, linear_schedule, polyak_update, td_target
from abr.dqn.validation import Validation
from abr.observation import ObservationSpec, encode
from abr.policies import Policy, make_policy
from abr.qoe import Qoe, make_qoe
from abr.sim import BatchSimulator, SimConfig
from abr.traces import Trace, load_traces, traces_digest
from abr.video import Video, load_video

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
    if config.val_traces:
        val = {folder: load_traces([folder]) for folder in config.val_traces}
    else:
        val = {HELD_OUT: train[::10]}
        train = [t for i, t in enumerate(train) if i % 10]
    return augmented(train, config.train_mbps_factors, config.train_time_factors), val


def resume_config(run_dir: str | Path) -> DqnConfig:
    """The settings an interrupted run was started with."""
    path = Path(run_dir) / "config.json"
    if not (Path(run_dir) / "checkpoint.pt").is_file():
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
) -> TrainResult:
    """Train into `run_dir`; `on_progress` (if given) gets the running figures every step.

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
    generator = torch.Generator(device=device).manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)

    video: Video = load_video(config.video)
    train_traces, val_sets = split_traces(config)
    train_digest = traces_digest(load_traces(config.traces))
    spec = ObservationSpec(
        n_levels=video.n_levels,
        history_len=config.history_len,
        robust_window=config.robust_window,
        throughput_clip=config.throughput_clip,
    )
    qoe = make_qoe(config.qoe, video.bitrates_kbps)
    sim_config = SimConfig(history_len=config.history_len)
    sim = BatchSimulator(
        train_traces, video, config.n_sessions, "train", sim_config, seed=config.seed
    )

    online_network = QNetwork(spec.dim, video.n_levels, config.hidden, config.dueling).to(device)
    target_network = copy.deepcopy(online_network)
    # what validation plays and best.pt keeps: the online network, or an average of its weights
    evaluated_network = (
        online_network if config.eval_average_tau is None else copy.deepcopy(online_network)
    )
    optimizer = torch.optim.Adam(online_network.parameters(), lr=config.learning_rate)
    replay: ReplayBuffer = (
        PrioritizedReplayBuffer(
            config.replay_capacity, spec.dim, config.per_alpha, config.per_eps, device
        )
        if config.per
        else ReplayBuffer(config.replay_capacity, spec.dim, device)
    )
    nstep = NStepAccumulator(config.n_step, config.gamma, config.n_sessions, spec.dim)
    demo_replay = _demonstrations(config, train_traces, video, spec, qoe, sim_config, device)
    greedy = GreedyQPolicy(evaluated_network, spec, device)
    curriculum = (
        MpcGapCurriculum.build(train_traces, video, config.qoe, config.curriculum_floor)
        if config.curriculum == "mpc_gap"
        else None
    )

    validation = Validation.build(val_sets, video, config.qoe, config.val_score)
    best_val_qoe, seconds_to_beat_mpc = -np.inf, None
    env_steps = updates = 0
    loss = torch.tensor(float("nan"))  # the last update's loss, left on the device
    val_qoe = float("nan")
    metrics_path = run_dir / "metrics.csv"
    scalars = SummaryWriter(str(run_dir / "tensorboard"))
    obs = encode(sim.player_state(), spec)  # [N, D]
    next_validation = config.val_every_env_steps
    next_curriculum = config.curriculum_every_env_steps

    def learn(agent_replay: ReplayBuffer | None, beta: float) -> torch.Tensor:
        """One gradient update (on the agent's replay, if given, and the demonstrations, if
        any), then the target network and the averaged copy follow."""
        nonlocal updates
        update_loss = _update(
            config,
            online_network,
            target_network,
            optimizer,
            generator,
            agent_replay,
            demo_replay,
            beta,
        )
        updates += 1
        _follow(config, online_network, target_network, evaluated_network, updates)
        return update_loss

    if resume:
        saved = torch.load(run_dir / "checkpoint.pt", map_location=device, weights_only=True)
        online_network.load_state_dict(saved["online"])
        target_network.load_state_dict(saved["target"])
        evaluated_network.load_state_dict(saved.get("evaluated", saved["online"]))
        optimizer.load_state_dict(saved["optimizer"])
        replay.load_state_dict(saved["replay"])
        nstep.load_state_dict(_as_numpy(saved["nstep"]))
        sim.load_state_dict(_as_numpy(saved["sim"]))
        rng.bit_generator.state = saved["rng"]
        generator.set_state(saved["generator"].cpu())  # map_location moved it
        obs = saved["obs"].cpu().numpy()
        env_steps, updates = saved["env_steps"], saved["updates"]
        next_validation = saved["next_validation"]
        next_curriculum = saved.get("next_curriculum", next_curriculum)
        best_val_qoe, seconds_to_beat_mpc = saved["best_val_qoe"], saved["seconds_to_beat_mpc"]
        loss, val_qoe = torch.tensor(saved["loss"]), saved["val_qoe"]
        start -= saved["wall_s"]
        _truncate_metrics(metrics_path, env_steps)
    else:
        metrics_path.write_text("env_steps,updates,epsilon,loss,val_qoe,wall_s\n")
        if demo_replay is not None:  # DQfD's pre-training, on demonstrations alone
            for _ in range(config.demo_pretrain_updates):
                loss = learn(None, config.per_beta_start)
    while env_steps < config.total_env_steps:
        # ---- act: epsilon-greedy over all sessions
        epsilon = linear_schedule(
            config.epsilon_start, config.epsilon_end, config.epsilon_decay_env_steps, env_steps
        )
        with torch.no_grad():
            greedy_action = online_network(torch.as_tensor(obs, device=device)).argmax(dim=1)
        explore = rng.random(config.n_sessions) < epsilon
        action = np.where(
            explore, rng.integers(0, video.n_levels, config.n_sessions), greedy_action.cpu().numpy()
        )
        previous_level = sim.last_level.copy()
        result = sim.step(action)
        reward = qoe.per_chunk(action, previous_level, result.rebuffer_s) * config.reward_scale
        next_obs = encode(sim.player_state(), spec)
        replay.add(nstep.push(obs, action, reward, next_obs, result.done))
        if result.done.any():  # same-step reset: the finished sessions start a new video
            sim.reset(mask=result.done)
            next_obs = np.where(result.done[:, None], encode(sim.player_state(), spec), next_obs)
        obs = next_obs
        env_steps += config.n_sessions

        # ---- learn
        if env_steps >= config.learning_starts and len(replay) >= config.batch_size:
            beta = linear_schedule(config.per_beta_start, 1.0, config.total_env_steps, env_steps)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config, env_steps)
            for _ in range(config.updates_per_step):
                loss = learn(replay, beta)

        loss_value = float(loss)  # once a step, not once an update: each read waits for the GPU
        if on_progress is not None:
            wall_s = time.perf_counter() - start
            on_progress(
                {
                    "env_steps": env_steps,
                    "steps_per_s": env_steps / wall_s,
                    "epsilon": epsilon,
                    "loss": loss_value,
                    "val_qoe": val_qoe,
                }
            )

        # ---- redraw the curriculum (before the checkpoint below, which must hold its result)
        if curriculum is not None and env_steps >= next_curriculum:
            next_curriculum += config.curriculum_every_env_steps
            weights = curriculum.weights(GreedyQPolicy(online_network, spec, device))
            sim.set_trace_weights(weights)
            scalars.add_scalar("curriculum_effective_traces", 1.0 / np.sum(weights**2), env_steps)

        # ---- validate and checkpoint
        if env_steps >= next_validation or env_steps >= config.total_env_steps:
            next_validation += config.val_every_env_steps
            val_qoe_per_set = validation.qoe_per_set(greedy)
            val_qoe = validation.score(val_qoe_per_set)
            wall_s = time.perf_counter() - start
            if val_qoe > best_val_qoe:
                best_val_qoe = val_qoe
                _save_atomic(
                    {
                        "model": evaluated_network.state_dict(),
                        "spec": spec.to_dict(),
                        "config": config.to_dict(),
                        "val_qoe": val_qoe,
                        "env_steps": env_steps,
                        "ladder_kbps": video.bitrates_kbps.tolist(),
                        "chunk_s": video.chunk_s,
                        "train_traces_digest": train_digest,
                    },
                    run_dir / "best.pt",
                )
            if seconds_to_beat_mpc is None and validation.beats_mpc(val_qoe):
                seconds_to_beat_mpc = wall_s
            for name, value in (("val_qoe", val_qoe), ("loss", loss_value), ("epsilon", epsilon)):
                scalars.add_scalar(name, value, env_steps)
            scalars.add_scalar("env_steps_per_s", env_steps / wall_s, env_steps)
            if len(val_qoe_per_set) > 1:
                for name, value in val_qoe_per_set.items():
                    scalars.add_scalar(f"val_qoe_by_set/{name}", value, env_steps)
            scalars.flush()
            with open(metrics_path, "a", newline="") as metrics:
                csv.writer(metrics).writerow(
                    [env_steps, updates, epsilon, loss_value, val_qoe, wall_s]
                )
            _save_atomic(
                {
                    "online": online_network.state_dict(),
                    "target": target_network.state_dict(),
                    "evaluated": evaluated_network.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "replay": replay.state_dict(),
                    "nstep": _as_tensors(nstep.state_dict()),
                    "sim": _as_tensors(sim.state_dict()),
                    "rng": rng.bit_generator.state,
                    "generator": generator.get_state(),
                    "obs": torch.from_numpy(obs),
                    "env_steps": env_steps,
                    "updates": updates,
                    "next_validation": next_validation,
                    "next_curriculum": next_curriculum,
                    "best_val_qoe": best_val_qoe,
                    "seconds_to_beat_mpc": seconds_to_beat_mpc,
                    "loss": loss_value,
                    "val_qoe": val_qoe,
                    "wall_s": wall_s,
                    "config": config.to_dict(),
                },
                run_dir / "checkpoint.pt",
            )
    scalars.close()
    result_summary = TrainResult(
        float(best_val_qoe),
        validation.mpc_score,
        seconds_to_beat_mpc,
        env_steps,
        updates,
        time.perf_counter() - start,
        str(device),
    )
    (run_dir / "summary.json").write_text(json.dumps(result_summary.to_dict(), indent=1) + "\n")
    write_validation_table(run_dir, validation, device)
    return result_summary


def learning_rate(config: DqnConfig, env_steps: int) -> float:
    """Adam's step size now: constant, or annealed linearly to `learning_rate_end`."""
    if config.learning_rate_end is None:
        return config.learning_rate
    return linear_schedule(
        config.learning_rate, config.learning_rate_end, config.total_env_steps, env_steps
    )


def write_validation_table(
    run_dir: Path, validation: Validation, device: torch.device
) -> dict[str, dict[str, float | None]]:
    """The best model beside BB, RB, BOLA and RobustMPC on the validation traces, through the
    bench code path; saved as `validation_table.json`, and with several validation folders also
    one table per folder (`validation_table_by_set.json`)."""
    network, spec = load_best_model(run_dir / "best.pt", str(device))
    policies: dict[str, Policy] = {"dqn": GreedyQPolicy(network, spec, device)}
    policies |= {name: make_policy(name, validation.qoe) for name in ("bb", "rb", "bola", "mpc")}

    def table_on(traces: list[Trace]) -> dict[str, dict[str, float | None]]:
        return summarize_runs(
            {
                name: run_policy(policy, traces, validation.video, validation.qoe)
                for name, policy in policies.items()
            }
        )

    table = table_on(validation.traces)
    (run_dir / "validation_table.json").write_text(json.dumps(table, indent=1) + "\n")
    if len(validation.sets) > 1:
        by_set = {name: table_on(traces) for name, traces in validation.sets.items()}
        (run_dir / "validation_table_by_set.json").write_text(json.dumps(by_set, indent=1) + "\n")
    return table


def _demonstrations(
    config: DqnConfig,
    traces: list[Trace],
    video: Video,
    spec: ObservationSpec,
    qoe: Qoe,
    sim_config: SimConfig,
    device: torch.device,
) -> ReplayBuffer | None:
    """The demonstrator's transitions in a buffer of their own (never overwritten), or None."""
    if config.demo_policy == "none":
        return None
    demos = collect_demonstrations(
        make_policy(config.demo_policy, config.qoe),
        traces,
        video,
        spec,
        qoe,
        env_steps=config.demo_env_steps,
        n_sessions=config.n_sessions,
        n_step=config.n_step,
        gamma=config.gamma,
        reward_scale=config.reward_scale,
        sim_config=sim_config,
        seed=config.seed,
    )
    buffer = ReplayBuffer(len(demos.action), spec.dim, device)
    buffer.add(demos)
    return buffer


def _follow(
    config: DqnConfig,
    online_network: torch.nn.Module,
    target_network: torch.nn.Module,
    evaluated_network: torch.nn.Module,
    updates: int,
) -> None:
    """After an update: the target network follows (Polyak or hard copies), and so does the
    averaged copy that validation plays, if the run keeps one."""
    if config.target_tau < 1.0:
        polyak_update(online_network, target_network, config.target_tau)
    elif updates % config.target_update_every == 0:
        target_network.load_state_dict(online_network.state_dict())
    if config.eval_average_tau is not None:
        polyak_update(online_network, evaluated_network, config.eval_average_tau)


def _update(
    config: DqnConfig,
    online_network: torch.nn.Module,
    target_network: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    replay: ReplayBuffer | None,
    demo_replay: ReplayBuffer | None,
    beta: float,
) -> torch.Tensor:
    """One gradient step on a batch of the agent's transitions (if `replay`) and one of
    demonstrations (if `demo_replay`), in one forward pass. The agent's transitions get the
    TD loss weighted by importance weights; demonstrations the TD loss plus DQfD's large-margin
    loss. Priorities are updated for the agent's part only."""
    parts: list[Batch] = []
    if replay is not None:
        if isinstance(replay, PrioritizedReplayBuffer):
            parts.append(replay.sample(config.batch_size, generator, beta))
        else:
            parts.append(replay.sample(config.batch_size, generator))
    if demo_replay is not None:
        parts.append(demo_replay.sample(config.demo_batch_size, generator))
    batch = Batch(*(torch.cat(field) for field in zip(*parts, strict=True)))
    target = td_target(
        online_network,
        target_network,
        batch.next_obs,
        batch.returns,
        batch.discount,
        config.double,
    )  # [B]
    q = online_network(batch.obs)  # [B, A]
    q_taken = q.gather(1, batch.action[:, None]).squeeze(1)  # [B]
    td_error = target - q_taken
    loss = (batch.weight * F.huber_loss(q_taken, target, reduction="none")).mean()
    n_agent = config.batch_size if replay is not None else 0
    if demo_replay is not None:
        margin = large_margin_loss(q[n_agent:], batch.action[n_agent:], config.demo_margin)
        loss = loss + config.demo_loss_weight * margin.mean()
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(online_network.parameters(), config.grad_clip)
    optimizer.step()
    if replay is not None:
        replay.update_priorities(parts[0].slot, td_error[:n_agent])
    return loss.detach()


def _as_tensors(state: dict[str, object]) -> dict[str, object]:
    """numpy arrays as tensors, so the checkpoint loads with `weights_only=True` (no pickle)."""
    return {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in state.items()}


def _as_numpy(state: dict[str, object]) -> dict[str, object]:
    return {k: v.cpu().numpy() if isinstance(v, torch.Tensor) else v for k, v in state.items()}


def _truncate_metrics(path: Path, env_steps: int) -> None:
    """Drop metric rows written after the checkpoint a run resumes from."""
    header, *rows = path.read_text().splitlines()
    kept = [row for row in rows if int(row.split(",")[0]) <= env_steps]
    path.write_text("\n".join([header, *kept]) + "\n")


def _save_atomic(payload: dict[str, object], path: Path) -> None:
    """Write then rename, so a killed run never leaves a half-written file under `path`."""
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def load_best_model(path: str | Path, device: str = "cpu") -> tuple[QNetwork, ObservationSpec]:
    payload = torch.load(path, map_location=device, weights_only=True)
    return network_from_payload(payload, device)


def network_from_payload(
    payload: dict[str, Any], device: str = "cpu"
) -> tuple[QNetwork, ObservationSpec]:
    """The Q-network and observation spec of a loaded best.pt."""
    spec = ObservationSpec.from_dict(payload["spec"])
    config = payload["config"]
    network = QNetwork(spec.dim, spec.n_levels, config["hidden"], config["dueling"])
    network.load_state_dict(payload["model"])
    return network.to(device), spec
