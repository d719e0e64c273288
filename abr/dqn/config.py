"""Training configuration: defaults here, a TOML file over them, command-line flags over both.

The defaults are the shipped model's recipe (configs/default_model.toml adds only its data: the
trace folders of `abr traces split` and the video); other recipes say how they differ."""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
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
SCORES = ("mean", "worst_gain")  # abr/dqn/validation.py
DEVICES = ("auto", "cpu", "cuda")
LADDERS = ("one", "sampled")  # abr/dqn/video_mix.py
# "volatility": video_mix.teacher_buffer_values
TEACHER_BUFFER_SCALINGS = ("none", "volatility")
# the settings that take one of a few names (checked by load_config, offered by `abr train`)
CHOICES: dict[str, tuple[str, ...]] = {
    "qoe": QOE_NAMES,
    "device": DEVICES,
    "ladders": LADDERS,
    "val_score": tuple(SCORES),
    "demo_policy": DEMO_POLICIES,
    "teacher": TEACHERS,
    "teacher_loss": TEACHER_LOSSES,
    "teacher_buffer_scaling": TEACHER_BUFFER_SCALINGS,
}


@dataclass(frozen=True)
class DqnConfig:
    """Every setting of a run. Each field's docstring is its line of `abr train --help`;
    `GROUPS` below sorts them for the help and the docs."""

    # ---- environment and video
    traces: list[str] = field(default_factory=lambda: ["traces/default/train"])
    """training trace folders"""
    val_traces: list[str] = field(default_factory=list)
    """validation folders; none: every 10th training trace"""
    video: str | None = None
    """video folder or JSON; none: the embedded one"""
    qoe: str = "lin"
    """the QoE the rewards, the teacher and validation score (Pensieve's lin, log, hd)"""
    reward_scale: float = 1.0
    """reward units per QoE unit (times the ladder's own scale over sampled ladders)"""
    ladders: str = "sampled"
    """one: the config's video, a model for its ladder (abr-obs-v1); sampled: a new sampled
    video every episode, one model for any ladder of 2..max_rungs rungs (abr-obs-v2)"""
    max_rungs: int = 12
    """sampled: the most rungs a ladder has (the network's outputs)"""
    val_ladders: int = 5
    """sampled: the sampled ladders validation plays (one fixed draw for every run)"""
    ladder_keep_traces: float = 0.5
    """sampled: the share of episodes over the traces as recorded"""
    ladder_match_from: float = 0.5
    """sampled, the other episodes: the traces' median drawn log-uniform from this log-position
    on the ladder (0: its lowest rung, 0.5: its middle, 1: its top) up to twice its top"""
    ladder_duration_s: list[float] = field(default_factory=lambda: [120.0, 400.0])
    """sampled: the range of a video's length, seconds"""
    ladder_lowest_kbps: list[float] = field(default_factory=lambda: [100.0, 1000.0])
    """sampled: the range of a ladder's lowest rung, kbps (log-uniform)"""
    ladder_chunk_s: list[float] = field(default_factory=lambda: [1.0, 10.0])
    """sampled: the range of a video's chunk length, seconds"""
    train_mbps_factors: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0])
    """training traces replayed at each of these bandwidth factors (abr/media/augment.py)"""
    train_time_factors: list[float] = field(default_factory=lambda: [0.5, 1.0])
    """... and at each of these clock factors (0.5: fluctuations twice as fast)"""
    n_sessions: int = 64
    """simulated sessions stepped together"""
    history_len: int = 8
    """chunks of history the model reads (1..8: the simulator, the bench and the service keep
    8)"""
    robust_window: int = 0
    """one ladder: > 0 adds the harmonic mean and minimum of the last this many throughputs"""
    throughput_clip: float = ObservationSpec.throughput_clip
    """one ladder: the observation clips throughputs at this times the top bitrate"""

    # ---- teacher and demonstrations
    demo_policy: str = "mpc"
    """DQfD: a baseline whose play is kept as demonstrations for the whole run (none: no
    demonstrations)"""
    demo_env_steps: int = 100_000
    """chunk downloads of the demonstrator, collected before training"""
    demo_batch_size: int = 128
    """demonstrations in every update"""
    demo_margin: float = 0.8
    """l(a_E, a) of the demonstrations' large-margin loss, in reward units"""
    demo_loss_weight: float = 1.0
    """the weight of the demonstrations' large-margin loss"""
    demo_pretrain_updates: int = 2000
    """updates on the demonstrations alone before the agent acts"""
    teacher: str = "oracle"
    """DAgger: the teacher that labels the states the learner visits (oracle: the future-aware
    lookahead; mpc: RobustMPC; none)"""
    teacher_horizon: int = 4
    """chunks the oracle plans ahead (fewer on long ladders)"""
    teacher_buffer_value: float = 0.1
    """the oracle's QoE per second of buffer left at the end of its plans"""
    teacher_buffer_scaling: str = "none"
    """volatility (sampled ladders): each session's buffer value grows by teacher_buffer_per_cv
    times the coefficient of variation of the throughputs its player measured"""
    teacher_buffer_per_cv: float = 0.3
    """see teacher_buffer_scaling"""
    teacher_capacity: int = 200_000
    """labelled states kept (the latest)"""
    teacher_batch_size: int = 256
    """labelled states in every update"""
    teacher_loss: str = "advantage"
    """margin: DQfD's large-margin loss toward the teacher's level; advantage: the network's
    advantages regressed onto the oracle's per-level plan values"""
    teacher_margin: float = 0.8
    """l(a_T, a) of the teacher's large-margin loss, in reward units"""
    teacher_weight_start: float = 0.01
    """the labels' weight in the loss at the start ..."""
    teacher_weight_end: float = 1.0
    """... and after teacher_weight_decay_env_steps, linear between"""
    teacher_weight_decay_env_steps: int = 400_000
    """env steps over which the labels' weight moves from start to end (0: start throughout)"""

    # ---- learner
    td_loss_weight: float = 0.0
    """the TD loss's weight (0: none, and no agent batch or TD target is computed)"""
    batch_size: int = 256
    """the agent's transitions in every update"""
    learning_rate: float = 1e-4
    """Adam's step size"""
    learning_rate_end: float = 1e-5
    """annealed linearly to this over the run (equal to learning_rate: constant)"""
    gamma: float = 0.95
    """the discount per chunk"""
    n_step: int = 3
    """n of the n-step returns"""
    grad_clip: float = 10.0
    """the gradients' largest norm"""
    target_tau: float = 0.005
    """the target network's Polyak rate (1: hard copies every target_update_every updates)"""
    target_update_every: int = 1_000
    """updates between hard copies of the target network"""
    hidden: list[int] = field(default_factory=lambda: [256, 256])
    """the trunk's layer widths (the rung head's is half the last)"""
    double: bool = True
    """Double DQN targets"""
    dueling: bool = True
    """the dueling Q head"""
    per: bool = True
    """prioritized replay"""
    per_alpha: float = 0.6
    """prioritized replay's alpha"""
    per_beta_start: float = 0.4
    """prioritized replay's beta at the start (annealed to 1)"""
    per_eps: float = 1e-3
    """prioritized replay's smallest priority"""
    replay_capacity: int = 200_000
    """the agent's transitions kept"""

    # ---- run
    total_env_steps: int = 800_000
    """chunk downloads, summed over sessions"""
    learning_starts: int = 5_000
    """env steps before the first update"""
    updates_per_step: int = 1
    """gradient updates per vectorised step of all sessions"""
    epsilon_start: float = 0.1
    """exploration's epsilon at the start ..."""
    epsilon_end: float = 0.01
    """... and after epsilon_decay_env_steps, linear between"""
    epsilon_decay_env_steps: int = 200_000
    """env steps over which epsilon decays"""
    val_every_env_steps: int = 25_000
    """env steps between validations (each keeps the best model and writes a checkpoint)"""
    val_score: str = "worst_gain"
    """mean: the mean QoE over all validation traces; worst_gain: the smallest gain over
    RobustMPC across validation sets"""
    seed: int = 0
    """the run's seed"""
    device: str = "auto"
    """the learner's device (the sessions are simulated on the host)"""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


GROUPS = ("environment and video", "teacher and demonstrations", "learner", "run")


def setting_groups() -> dict[str, list[str]]:
    """The settings by group, in the order `DqnConfig` declares them."""
    marks = re.findall(r"^    # ---- (.+)$|^    (\w+): ", inspect.getsource(DqnConfig), re.M)
    groups: dict[str, list[str]] = {}
    current = GROUPS[0]
    for group, name in marks:
        if group:
            current = group
        elif name in _FIELDS:
            groups.setdefault(current, []).append(name)
    return groups


def setting_help() -> dict[str, str]:
    """Each setting's docstring, on one line."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(DqnConfig)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    helps = {}
    for node, after in zip(body, body[1:], strict=False):
        documented = isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and documented:
            helps[node.target.id] = " ".join(str(after.value.value).split())  # type: ignore[attr-defined,unused-ignore]
    return helps


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


_FIELDS = {f.name for f in fields(DqnConfig)}


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
        "learning_rate_end": config.learning_rate_end > 0,
        "target_tau": 0.0 < config.target_tau <= 1.0,
        "replay_capacity": config.replay_capacity >= config.batch_size,
        **{name: getattr(config, name) in names for name, names in CHOICES.items()},
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
        "teacher_capacity": config.teacher_capacity >= config.teacher_batch_size,
        "teacher_batch_size": config.teacher_batch_size >= 1,
        "teacher_margin": config.teacher_margin >= 0.0,
        "teacher_loss": config.teacher_loss == "margin" or config.teacher != "mpc",
        "td_loss_weight": config.td_loss_weight >= 0.0,
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
        "train_time_factors": _all_positive(config.train_time_factors),
    }
    bad = [name for name, ok in checks.items() if not ok]
    if bad:
        raise ValueError(f"invalid settings: {', '.join(bad)}")


def _is_range(low_high: list[float]) -> bool:
    return len(low_high) == 2 and 0 < low_high[0] <= low_high[1]


def _all_positive(factors: list[float]) -> bool:
    return bool(factors) and all(factor > 0 for factor in factors)
