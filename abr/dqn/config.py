"""Training configuration: defaults here, a TOML file over them, command-line flags over both."""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from abr.player.observation import ObservationSpec
from abr.player.qoe import QOE_NAMES
from abr.policies.registry import BASELINES
from abr.sim.config import SimConfig

DEMO_POLICIES = ("none", *BASELINES)
TEACHERS = ("none", "mpc", "oracle")  # abr/dqn/teacher.py
TEACHER_LOSSES = ("margin", "advantage")  # abr/dqn/teacher.py
CURRICULA = ("none", "mpc_gap")  # abr/dqn/curriculum.py
SCORES = ("mean", "worst_gain")  # abr/dqn/validation.py
DEVICES = ("auto", "cpu", "cuda")
COLLECTORS = ("auto", "host", "device")  # abr/dqn/collect.py
LADDERS = ("one", "sampled")  # abr/dqn/video_mix.py
# DqnConfig.teacher_buffer_value_for; "volatility": video_mix.teacher_buffer_values
TEACHER_BUFFER_SCALINGS = ("none", "chunk_s", "volatility")
# the settings that take one of a few names (checked by load_config, offered by `abr train`)
CHOICES: dict[str, tuple[str, ...]] = {
    "qoe": QOE_NAMES,
    "device": DEVICES,
    "collector": COLLECTORS,
    "ladders": LADDERS,
    "val_score": tuple(SCORES),
    "curriculum": tuple(CURRICULA),
    "demo_policy": DEMO_POLICIES,
    "teacher": TEACHERS,
    "teacher_loss": TEACHER_LOSSES,
    "teacher_buffer_scaling": TEACHER_BUFFER_SCALINGS,
}


@dataclass(frozen=True)
class DqnConfig:
    # data
    traces: list[str] = field(default_factory=lambda: ["traces/default/train"])
    val_traces: list[str] = field(default_factory=list)  # empty: every 10th training trace
    video: str | None = None  # None: the embedded default video
    qoe: str = "lin"
    reward_scale: float = 1.0
    # one: the config's video, and a model for its ladder only (abr-obs-v1); sampled: a new
    # sampled video every episode, and one model for any ladder of 2..max_rungs rungs
    # (abr-obs-v2, abr/dqn/video_mix.py), validated on val_ladders sampled ladders
    ladders: str = "one"
    max_rungs: int = 12
    val_ladders: int = 5
    ladder_keep_traces: float = 0.5  # sampled: the share of episodes over traces as recorded
    # sampled, the other episodes: the traces' median drawn log-uniform from this log-position
    # on the ladder (0: its lowest rung, 0.5: its middle, 1: its top) up to twice its top
    ladder_match_from: float = 0.5
    ladder_duration_s: list[float] = field(default_factory=lambda: [120.0, 400.0])  # per video
    ladder_lowest_kbps: list[float] = field(default_factory=lambda: [100.0, 1000.0])  # log-uniform
    ladder_chunk_s: list[float] = field(default_factory=lambda: [1.0, 10.0])
    ladder_chunk_s_log: bool = False  # chunk lengths log-uniform over ladder_chunk_s, or uniform
    # sampled: the videos one batch of sessions plays at once, each by n_sessions / this many
    videos_per_batch: int = 1
    # training traces are replayed at every (bandwidth, clock) factor pair (abr/media/augment.py)
    train_mbps_factors: list[float] = field(default_factory=lambda: [1.0])
    train_time_factors: list[float] = field(default_factory=lambda: [1.0])
    # environment
    n_sessions: int = 64
    # 1..8: validation (the bench), `abr bench` and the service keep the simulator's 8 chunks of
    # history, and a model reads the last history_len of them
    history_len: int = 8
    robust_window: int = 0  # > 0: the observation adds robust throughput columns (observation.py)
    # the observation clips throughputs at this x the top bitrate
    throughput_clip: float = ObservationSpec.throughput_clip
    # schedule (environment steps are chunk downloads, summed over sessions)
    total_env_steps: int = 200_000
    learning_starts: int = 5_000
    updates_per_step: int = 1  # gradient updates per vectorised step of all sessions
    epsilon_start: float = 1.0
    epsilon_end: float = 0.02
    epsilon_decay_env_steps: int = 100_000
    # learning
    batch_size: int = 256
    learning_rate: float = 1e-4
    # None: constant; else linear from learning_rate to this over total_env_steps
    learning_rate_end: float | None = None
    gamma: float = 0.99
    n_step: int = 3
    grad_clip: float = 10.0
    td_loss_weight: float = 1.0  # 0: no TD loss (pure imitation of the teacher or demonstrations)
    target_tau: float = 1.0  # 1.0: hard copies every target_update_every updates
    target_update_every: int = 1_000
    # None: validate (and keep as best) the online network; else a Polyak average of the online
    # weights, updated after every gradient update with this rate (0.001: about 1,000 updates)
    eval_average_tau: float | None = None
    hidden: list[int] = field(default_factory=lambda: [256, 256])
    # refinements
    double: bool = True
    dueling: bool = True
    per: bool = True
    per_alpha: float = 0.6
    per_beta_start: float = 0.4
    per_eps: float = 1e-3
    replay_capacity: int = 200_000
    # none: new sessions draw training traces uniformly; mpc_gap: more often the traces where
    # the policy trails RobustMPC (abr/dqn/curriculum.py), redrawn every so many env steps
    curriculum: str = "none"
    curriculum_floor: float = 0.5  # share of uniform draws under mpc_gap
    curriculum_every_env_steps: int = 100_000
    # DQfD (abr/dqn/demos.py): "none", or a baseline whose play on the training traces is kept
    # as demonstrations for the whole run, trained on with the TD loss plus a large-margin loss
    # toward the baseline's actions
    demo_policy: str = "none"
    demo_env_steps: int = 100_000  # chunk downloads of the baseline, collected before training
    demo_batch_size: int = 64  # demonstrations in every update, beside batch_size of the agent's
    demo_margin: float = 0.8  # l(a_E, a) of the large-margin loss, in reward units
    demo_loss_weight: float = 1.0  # lambda of the large-margin loss
    demo_pretrain_updates: int = 0  # updates on demonstrations alone before the agent acts
    # DAgger (abr/dqn/teacher.py): "none"; "oracle", the future-aware teacher; or "mpc": the
    # teacher labels the states the learner visits, and the labels join every update with a
    # large-margin loss
    teacher: str = "none"
    teacher_horizon: int = 4  # chunks the teacher plans ahead
    # sampled ladders: short ladders plan further within the plans' budget (video_mix.py)
    teacher_horizon_fill: bool = False
    teacher_buffer_value: float = 0.1  # its terminal term, QoE per second of buffer
    # "chunk_s": teacher_buffer_value is per second of buffer and per second of chunk
    # (teacher_buffer_value_for); "volatility" (sampled ladders): each session's value is
    # teacher_buffer_value plus teacher_buffer_per_cv times the coefficient of variation of the
    # throughputs its player has measured (video_mix.teacher_buffer_values)
    teacher_buffer_scaling: str = "none"
    teacher_buffer_per_cv: float = 0.3
    teacher_every_steps: int = 1  # label the sessions' states every this many vectorised steps
    teacher_capacity: int = 200_000  # labelled states kept (the latest)
    teacher_batch_size: int = 128  # labelled states in every update
    # margin: DQfD's large-margin loss toward the teacher's level; advantage: the network's
    # advantages regressed onto the oracle's per-level plan values (abr/dqn/teacher.py)
    teacher_loss: str = "margin"
    teacher_margin: float = 0.8  # l(a_T, a) of the large-margin loss, in reward units
    # False: the learner plays and the teacher labels the states it visits (DAgger); True: the
    # teacher's own levels drive the sessions, so it labels only its own play (no DAgger)
    teacher_plays: bool = False
    # the labels' weight in the loss: linear from start to end over decay steps (0: start always)
    teacher_weight_start: float = 1.0
    teacher_weight_end: float = 1.0
    teacher_weight_decay_env_steps: int = 0
    # bookkeeping
    val_every_env_steps: int = 20_000
    # mean: mean QoE over all validation traces; worst_gain: the smallest gain over RobustMPC
    # across validation folders (abr/dqn/validation.py)
    val_score: str = "mean"
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    # where the sessions are simulated, encoded and turned into transitions (abr/dqn/collect.py):
    # auto: on the training device when it is a GPU, on the host (numpy or numba) on a CPU
    collector: str = "auto"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def teacher_buffer_value_for(self, chunk_s: float) -> float:
        """The teacher's QoE per second of buffer left at the end of its plans, for a video of
        `chunk_s`-second chunks. Scaled by the chunk length on the idea that the QoE scores a
        chunk's bitrate per chunk and a stall per second, so one unforeseen slow download of a
        long chunk costs more against what it earns; tried and not adopted
        (docs/experiments/any_ladder.md): long chunks then value buffer too much."""
        if self.teacher_buffer_scaling == "chunk_s":
            return self.teacher_buffer_value * chunk_s
        return self.teacher_buffer_value


def load_config(path: str | Path | None = None, **overrides: Any) -> DqnConfig:
    """Defaults, then the TOML file (top-level keys), then the non-None overrides."""
    config = DqnConfig()
    known = {f.name for f in fields(DqnConfig)}
    if path is not None:
        with open(path, "rb") as f:
            try:
                data = tomllib.load(f)
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(f"{path}: not valid TOML ({exc})") from None
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{path}: unknown settings {sorted(unknown)}")
        config = replace(config, **data)
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(given) - known
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}")
    config = replace(config, **given)
    _validate(config)
    return config


def _validate(config: DqnConfig) -> None:
    checks = {
        "n_sessions": config.n_sessions >= 1,
        "total_env_steps": config.total_env_steps >= 1,
        "batch_size": config.batch_size >= 1,
        "n_step": config.n_step >= 1,
        "history_len": 1 <= config.history_len <= SimConfig().history_len,
        "robust_window": 0 <= config.robust_window <= config.history_len,
        "throughput_clip": config.throughput_clip > 0,
        "gamma": 0.0 <= config.gamma <= 1.0,
        "learning_rate": config.learning_rate > 0,
        "learning_rate_end": config.learning_rate_end is None or config.learning_rate_end > 0,
        "target_tau": 0.0 < config.target_tau <= 1.0,
        "eval_average_tau": config.eval_average_tau is None or 0.0 < config.eval_average_tau <= 1.0,
        "replay_capacity": config.replay_capacity >= config.batch_size,
        **{name: getattr(config, name) in names for name, names in CHOICES.items()},
        "curriculum_floor": 0.0 <= config.curriculum_floor <= 1.0,
        "curriculum_every_env_steps": config.curriculum_every_env_steps >= 1,
        "demo_env_steps": config.demo_env_steps >= 1,
        "demo_batch_size": config.demo_batch_size >= 1,
        "demo_margin": config.demo_margin >= 0.0,
        "demo_loss_weight": config.demo_loss_weight >= 0.0,
        "demo_pretrain_updates": config.demo_pretrain_updates >= 0,
        "teacher_horizon": 1 <= config.teacher_horizon <= 6,
        "teacher_buffer_value": config.teacher_buffer_value >= 0.0,
        "teacher_buffer_per_cv": config.teacher_buffer_per_cv >= 0.0,
        "teacher_buffer_scaling": (
            config.teacher_buffer_scaling in TEACHER_BUFFER_SCALINGS
            and (config.teacher_buffer_scaling != "volatility" or config.ladders == "sampled")
        ),
        "teacher_every_steps": config.teacher_every_steps >= 1,
        "teacher_capacity": config.teacher_capacity >= config.teacher_batch_size,
        "teacher_batch_size": config.teacher_batch_size >= 1,
        "teacher_margin": config.teacher_margin >= 0.0,
        "teacher_loss": config.teacher_loss == "margin" or config.teacher != "mpc",
        "teacher_plays": not config.teacher_plays or config.teacher != "none",
        "td_loss_weight": config.td_loss_weight >= 0.0,
        "collector": config.collector in COLLECTORS
        and not (config.collector == "device" and config.curriculum != "none"),
        "teacher_weight_start": config.teacher_weight_start >= 0.0,
        "teacher_weight_end": config.teacher_weight_end >= 0.0,
        "teacher_weight_decay_env_steps": config.teacher_weight_decay_env_steps >= 0,
        "train_mbps_factors": _all_positive(config.train_mbps_factors),
        "max_rungs": 2 <= config.max_rungs <= 32,
        "val_ladders": config.val_ladders >= 1,
        "ladder_keep_traces": 0.0 <= config.ladder_keep_traces <= 1.0,
        "ladder_match_from": 0.0 <= config.ladder_match_from <= 1.0,
        "ladder_duration_s": _is_range(config.ladder_duration_s),
        "ladder_lowest_kbps": _is_range(config.ladder_lowest_kbps),
        "ladder_chunk_s": _is_range(config.ladder_chunk_s),
        "videos_per_batch": config.videos_per_batch >= 1
        and config.n_sessions % config.videos_per_batch == 0
        and (config.videos_per_batch == 1 or config.ladders == "sampled"),
        "ladders": config.ladders == "one"
        or (config.curriculum == "none" and config.collector != "device"),
        "train_time_factors": _all_positive(config.train_time_factors),
    }
    bad = [name for name, ok in checks.items() if not ok]
    if bad:
        raise ValueError(f"invalid settings: {', '.join(bad)}")


def _is_range(low_high: list[float]) -> bool:
    return len(low_high) == 2 and 0 < low_high[0] <= low_high[1]


def _all_positive(factors: list[float]) -> bool:
    return bool(factors) and all(factor > 0 for factor in factors)
