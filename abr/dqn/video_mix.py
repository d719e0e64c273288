"""Training one model for every ladder (`ladders = "sampled"`): every episode the sessions play
a new video — a sampled ladder, chunk length and VBR encode, or one of a small library of
published ladders and the config's own video — over the training traces, as recorded or with
their bandwidth scaled into the ladder's range; validation plays a fixed set of sampled ladders
that training never draws.

All sessions of a batch play one video: they start together and a video has one length, so
they finish together, and the next episode's video is drawn then (`abr.sim.env.SampledVideos`;
the environment scales bandwidth, rewards and what the players see). Rewards and the teacher's
values are scaled per video by `Qoe.ladder_scale`, so that Q-values stay in one range whatever
the ladder; the ratio of stall penalty to top utility is an input of the observation, so
nothing is hidden from the network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from abr.dqn.config import DqnConfig
from abr.dqn.demos import DEMO_SEED_OFFSET, collect_demonstrations
from abr.dqn.nstep import Transitions, concatenate
from abr.media.augment import rescaled
from abr.media.ladders import (
    LadderSampler,
    match_factor,
    median_rate_kbps,
    published_ladders,
)
from abr.media.traces import Trace
from abr.media.video import Video
from abr.player.ladder_observation import LadderSpec
from abr.player.state import PlayerState
from abr.policies.registry import make_policy
from abr.sim.config import SimConfig
from abr.sim.simulator import BatchSimulator

VALIDATION_LADDERS_SEED = 1_000_003  # one validation set for every run, whatever its seed
TRAINED_RUNGS = (2, 12)


def teacher_horizon(horizon: int, n_levels: int) -> int:
    """The oracle's horizon for a ladder of `n_levels` rungs: `horizon` chunks when the plans
    (n_levels ** chunks) cost at most twice what they cost on six rungs, fewer when they would
    cost more (12 rungs at 4 chunks would cost 16x), and at least 2."""
    budget = 2 * 6**horizon
    chunks = horizon
    while chunks > 2 and n_levels**chunks > budget:
        chunks -= 1
    return chunks


def teacher_buffer_values(config: DqnConfig, sim: BatchSimulator) -> float | np.ndarray:
    """The oracle's QoE per second of buffer left at the end of its plans: the config's value
    or, with `teacher_buffer_scaling = "volatility"`, one per
    session [N] that grows with how much the throughputs its player has measured vary (the
    players' state is built for that case only: this runs at every labelled step)."""
    value = config.teacher_buffer_value
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
        part = collect_demonstrations(
            make_policy(config.demo_policy, config.qoe),
            [rescaled(traces[i], mbps_factor=factor) for i in chosen],
            sample,
            spec,
            config.qoe,
            env_steps=1,  # one round of the video
            n_sessions=config.n_sessions,
            n_step=config.n_step,
            gamma=config.gamma,
            reward_scale=config.reward_scale,
            sim_config=sim_config,
            seed=int(rng.integers(2**31)),
        )
        parts.append(part)
        collected += len(part.action)
    return concatenate(parts)
