"""Training one model for every ladder (`ladders = "sampled"`): every episode the sessions play
a new video — a sampled ladder, chunk length and VBR encode, or one of a small library of
published ladders and the config's own video — over the training traces, as recorded or with
their bandwidth scaled into the ladder's range; validation plays a fixed set of sampled ladders
that training never draws.

All sessions of a batch play one video: they start together and a video has one length, so
they finish together, and the next episode's video is drawn then. With `videos_per_batch` > 1
the sessions are split into that many groups, each such a batch over its own video
(`VideoGroupsCollector`), so that every step's transitions mix videos. A bandwidth factor f is
simulated as the video with its sizes divided by f over the traces as recorded (exact:
abr/media/ladders.py), and the player is shown the true sizes and throughputs. Rewards and the
teacher's values are scaled per video by `Qoe.ladder_scale` (1 for Envivio with `lin` and
`log`; a ladder whose top utility exceeds the stall penalty brought down to it), so that
Q-values stay in one range whatever the ladder; the ratio of stall penalty to top utility is an
input of the observation, so nothing is hidden from the network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from abr.dqn.collect import HostCollector
from abr.dqn.config import DqnConfig
from abr.dqn.demos import DEMO_SEED_OFFSET, collect_demonstrations
from abr.dqn.nstep import Transitions, concatenate
from abr.dqn.teacher import MpcTeacher, OracleTeacher, Teacher
from abr.media.augment import rescaled
from abr.media.ladders import (
    LadderSampler,
    match_factor,
    median_rate_kbps,
    published_ladders,
    scaled_for_simulation,
)
from abr.media.traces import Trace
from abr.media.video import Video, video_from_json
from abr.player.ladder_observation import LadderSpec, encode_ladder
from abr.player.qoe import make_qoe
from abr.player.state import PlayerState
from abr.policies.registry import make_policy
from abr.sim.config import SimConfig
from abr.sim.simulator import BatchSimulator

VALIDATION_LADDERS_SEED = 1_000_003  # one validation set for every run, whatever its seed
TRAINED_RUNGS = (2, 12)


def teacher_horizon(horizon: int, n_levels: int, fill: bool = False) -> int:
    """The oracle's horizon for a ladder of `n_levels` rungs: `horizon` chunks when the plans
    (n_levels ** chunks) cost at most twice what they cost on six rungs, fewer when they would
    cost more (12 rungs at 4 chunks would cost 16x), and at least 2. With `fill`, short ladders
    spend that budget on planning further, up to twice `horizon` (4 rungs plan 5 chunks, 2 rungs
    8), as a short ladder's plans are cheap."""
    budget = 2 * 6**horizon
    chunks = horizon
    while chunks > 2 and n_levels**chunks > budget:
        chunks -= 1
    while fill and chunks < 2 * horizon and n_levels ** (chunks + 1) <= budget:
        chunks += 1
    return chunks


def teacher_buffer_values(config: DqnConfig, sim: BatchSimulator) -> float | np.ndarray:
    """The oracle's QoE per second of buffer left at the end of its plans: the config's value
    for the video's chunk length or, with `teacher_buffer_scaling = "volatility"`, one per
    session [N] that grows with how much the throughputs its player has measured vary (the
    players' state is built for that case only: this runs at every labelled step)."""
    value = config.teacher_buffer_value_for(sim.video.chunk_s)
    if config.teacher_buffer_scaling != "volatility":
        return value
    return value + config.teacher_buffer_per_cv * throughput_variation(sim.player_state())


def throughput_variation(state: PlayerState) -> np.ndarray:
    """[N]: the coefficient of variation (std / mean) of each session's measured throughputs,
    0 before it has two."""
    history = state.throughput_kbps.shape[1]
    # the history's real entries are its most recent ones
    measured = np.arange(history) >= history - state.history_count[:, None]
    kbps = np.ma.masked_array(state.throughput_kbps, mask=~measured)
    variation = (kbps.std(axis=1) / kbps.mean(axis=1)).filled(0.0)  # masked: no mean to divide
    return np.where(measured.sum(axis=1) >= 2, variation, 0.0)


def episode_factor(
    config: DqnConfig, rng: np.random.Generator, video: Video, traces_median_kbps: float
) -> float:
    """The bandwidth factor of one episode of `video` under the config's trace matching
    (`ladder_keep_traces`, `ladder_match_from`)."""
    return match_factor(
        rng, video, traces_median_kbps, config.ladder_keep_traces, config.ladder_match_from
    )


def ladder_sampler(config: DqnConfig, library: Sequence[Video] = ()) -> LadderSampler:
    return LadderSampler(
        max_rungs=config.max_rungs,
        lowest_kbps=_pair(config.ladder_lowest_kbps),
        chunk_s=_pair(config.ladder_chunk_s),
        chunk_s_log=config.ladder_chunk_s_log,
        duration_s=_pair(config.ladder_duration_s),
        library=tuple(library),
    )


def _pair(low_high: Sequence[float]) -> tuple[float, float]:
    low, high = low_high
    return float(low), float(high)


def trained_over(config: DqnConfig) -> dict[str, Any]:
    """What a model for any ladder was trained over, for its metadata and `/v1/model`."""
    sampler = ladder_sampler(config)
    return {
        "rungs": [sampler.min_rungs, sampler.max_rungs],
        "lowest_kbps": list(sampler.lowest_kbps),
        "highest_kbps_max": sampler.max_top_kbps,
        "chunk_s": list(sampler.chunk_s),
        "chunk_s_drawn": "log-uniform" if sampler.chunk_s_log else "uniform",
        "library": [video.name for video in published_ladders()] + ["the config's video"],
        "traces_as_recorded": config.ladder_keep_traces,
        "scaled_median_from_ladder_position": config.ladder_match_from,
    }


def validation_cases(
    config: DqnConfig, val_sets: dict[str, list[Trace]]
) -> tuple[dict[str, list[Trace]], dict[str, Video]]:
    """`val_ladders` sampled videos, each over every validation trace (as recorded, or scaled
    into its range, as in training): sets named after the video and factor, and their videos."""
    rng = np.random.default_rng(VALIDATION_LADDERS_SEED)
    sampler = replace(ladder_sampler(config), library_probability=0.0)
    traces = [trace for folder in val_sets.values() for trace in folder]
    median_kbps = median_rate_kbps(traces)
    sets: dict[str, list[Trace]] = {}
    videos: dict[str, Video] = {}
    for index in range(config.val_ladders):
        video = sampler.sample(rng)
        factor = episode_factor(config, rng, video, median_kbps)
        name = f"{index}:{video.name}@bw{factor:.3g}"
        sets[name] = [rescaled(trace, mbps_factor=factor) for trace in traces]
        videos[name] = replace(video, name=name)
    return sets, videos


def ladder_demonstrations(
    config: DqnConfig, traces: Sequence[Trace], video: Video, spec: LadderSpec
) -> Transitions:
    """DQfD's demonstrations over sampled videos: the demonstrator plays one round of a new
    video (drawn as training draws them) over 256 of the training traces, scaled as training
    scales them, until `demo_env_steps` chunks are collected; rewards scaled per video."""
    rng = np.random.default_rng(config.seed + DEMO_SEED_OFFSET)
    sampler = ladder_sampler(config, (video, *published_ladders(config.seed)))
    median_kbps = median_rate_kbps(traces)
    sim_config = SimConfig(history_len=config.history_len)
    parts: list[Transitions] = []
    collected = 0
    while collected < config.demo_env_steps:
        sample = sampler.sample(rng)
        factor = episode_factor(config, rng, sample, median_kbps)
        chosen = rng.choice(len(traces), size=min(256, len(traces)), replace=False)
        qoe = make_qoe(config.qoe, sample.bitrates_kbps)
        part = collect_demonstrations(
            make_policy(config.demo_policy, config.qoe),
            [rescaled(traces[i], mbps_factor=factor) for i in chosen],
            sample,
            spec,
            qoe,
            env_steps=1,  # one round of the video
            n_sessions=config.n_sessions,
            n_step=config.n_step,
            gamma=config.gamma,
            reward_scale=qoe.ladder_scale * config.reward_scale,
            sim_config=sim_config,
            seed=int(rng.integers(2**31)),
        )
        parts.append(part)
        collected += len(part.action)
    return concatenate(parts)


class VideoMixCollector(HostCollector):
    """The host collector over a new sampled video every episode."""

    def __init__(
        self,
        config: DqnConfig,
        traces: Sequence[Trace],
        video: Video,
        spec: LadderSpec,
        device: torch.device,
        shared_from: VideoMixCollector | None = None,
    ) -> None:
        """`shared_from`: a collector over the same traces whose trace table and median rate
        this one reads rather than building its own (hundreds of MB for the shared sets)."""
        self.video, self.factor = video, 1.0
        qoe = make_qoe(config.qoe, video.bitrates_kbps)  # until the first episode's video
        source = traces if shared_from is None else shared_from.sim.table
        super().__init__(config, source, video, spec, qoe, device)
        self.spec: LadderSpec = spec
        self.name = f"host ({self.sim.backend}), sampled ladders"
        self.rng = np.random.default_rng(config.seed + 1)
        self.sampler = ladder_sampler(config, (video, *published_ladders(config.seed)))
        self.median_kbps: float = (
            median_rate_kbps(traces) if shared_from is None else shared_from.median_kbps
        )
        self._play(self.sampler.sample(self.rng))
        self.obs = self._encode()

    def _play(self, video: Video, factor: float | None = None) -> None:
        """From now on (every session at its start) the sessions play `video`."""
        if factor is None:
            factor = episode_factor(self.config, self.rng, video, self.median_kbps)
        self.video, self.factor = video, factor
        self.qoe = make_qoe(self.config.qoe, video.bitrates_kbps)
        self.scale = self.qoe.ladder_scale * self.config.reward_scale
        self.sim.set_video(scaled_for_simulation(video, factor))

    def _encode(self) -> np.ndarray:
        """What the players see: the true sizes and throughputs of the scaled traces."""
        state = self.sim.player_state()
        state = replace(
            state,
            throughput_kbps=state.throughput_kbps * self.factor,
            next_sizes_bytes=state.next_sizes_bytes * self.factor,
        )
        return encode_ladder(state, self.spec)

    def teach(self, teacher: Teacher, values: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """The config's teacher for this video's QoE; its values scaled as the rewards are, and
        NaN for the rungs the video does not have."""
        config = self.config
        if isinstance(teacher, OracleTeacher):
            horizon = teacher_horizon(
                config.teacher_horizon, self.video.n_levels, config.teacher_horizon_fill
            )
            buffer_value = teacher_buffer_values(config, self.sim)
            own = OracleTeacher(self.qoe, horizon, buffer_value)
            taught = own.values(self.sim) * self.scale  # [N, L]
            padded = np.full((config.n_sessions, self.spec.max_rungs), np.nan)
            padded[:, : self.video.n_levels] = taught
            return np.argmax(taught, axis=1), padded if values else None
        return MpcTeacher(self.qoe).label(self.sim), None

    def _restart(self, done: np.ndarray) -> None:
        """Every session starts the next episode's video (they all finish together)."""
        if not done.all():
            raise RuntimeError("the sessions of one video must finish together")
        self.sim.reset()
        self._play(self.sampler.sample(self.rng))

    def set_trace_weights(self, weights: np.ndarray | None) -> None:
        raise ValueError("sampled ladders draw traces uniformly: curriculum = none")

    def state_dict(self) -> dict[str, Any]:
        video = self.video.to_json() | {"sizes_bytes": self.video.sizes_bytes.tolist()}
        return super().state_dict() | {"video": video, "video_factor": self.factor}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.sim.chunk[:] = 0  # the video is set as at an episode's start, then the state put back
        self._play(video_from_json(saved["video"], "checkpoint"), float(saved["video_factor"]))
        super().load_state_dict(saved)


GROUP_SEED_STRIDE = 7_919  # the seed of group g: the config's seed + g * this


class VideoGroupsCollector:
    """`videos_per_batch` groups of sessions, each a `VideoMixCollector` over its own video (and
    its own episode length, so groups restart at their own times): one batch of sessions plays
    several videos at once, and every step's transitions mix them. One forward pass acts for
    every group; group 0 is seeded as a single-group collector is."""

    def __init__(
        self,
        config: DqnConfig,
        traces: Sequence[Trace],
        video: Video,
        spec: LadderSpec,
        device: torch.device,
    ) -> None:
        groups = config.videos_per_batch
        if config.n_sessions % groups:
            raise ValueError(f"n_sessions {config.n_sessions} is not a multiple of {groups}")
        self.config, self.device = config, device
        per_group = config.n_sessions // groups
        self.groups: list[VideoMixCollector] = []
        for g in range(groups):
            group_config = replace(
                config, n_sessions=per_group, seed=config.seed + g * GROUP_SEED_STRIDE
            )
            shared_from = self.groups[0] if self.groups else None  # one trace table for all
            self.groups.append(
                VideoMixCollector(group_config, traces, video, spec, device, shared_from)
            )
        self.name = f"{self.groups[0].name}, {groups} videos a batch"

    def observation(self) -> torch.Tensor:
        return torch.cat([group.observation() for group in self.groups])

    def act(self, network: torch.nn.Module, epsilon: float) -> np.ndarray:
        with torch.no_grad():
            greedy = network(self.observation()).argmax(dim=1).cpu().numpy()
        parts = np.split(greedy, len(self.groups))
        return np.concatenate(
            [group.explore(part, epsilon) for group, part in zip(self.groups, parts, strict=True)]
        )

    def teach(self, teacher: Teacher, values: bool) -> tuple[np.ndarray, np.ndarray | None]:
        taught = [group.teach(teacher, values) for group in self.groups]
        levels = np.concatenate([np.asarray(level) for level, _ in taught])
        if not values:
            return levels, None
        return levels, np.concatenate([np.asarray(value) for _, value in taught])

    def step(self, action: np.ndarray | torch.Tensor) -> Transitions:
        parts = np.split(np.asarray(action), len(self.groups))
        stepped = [group.step(part) for group, part in zip(self.groups, parts, strict=True)]
        return concatenate(stepped)

    def set_trace_weights(self, weights: np.ndarray | None) -> None:
        raise ValueError("sampled ladders draw traces uniformly: curriculum = none")

    def state_dict(self) -> dict[str, Any]:
        return {"groups": [group.state_dict() for group in self.groups]}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        if len(saved["groups"]) != len(self.groups):
            raise ValueError(
                f"the checkpoint holds {len(saved['groups'])} video groups, "
                f"the config {len(self.groups)}"
            )
        for group, group_saved in zip(self.groups, saved["groups"], strict=True):
            group.load_state_dict(group_saved)
