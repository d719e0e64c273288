"""Validation during training: the greedy policy through the bench code path, scored one of two
ways.

- `mean`: the mean QoE over every validation trace (all folders together), as `abr bench` scores a
  set. RobustMPC's mean on the same traces is the bar `seconds_to_beat_mpc` measures against.
- `worst_gain`: per validation folder, the policy's mean QoE minus RobustMPC's on that folder; the
  score is the smallest of these gains. It is above 0 only when the policy beats RobustMPC on every
  folder, so the best model is the one that loses least where it does worst, and a mean that one
  high-QoE folder dominates (4G traces score four times a DSL trace) cannot hide a loss elsewhere.

Each set may play its own video (a model for any ladder is validated on several); gains are then
compared in each video's reward units (`gain_scale`: `Qoe.ladder_scale`), so
that a 16-Mbps ladder's larger QoE does not decide the worst case alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from abr.bench.run import run_policy
from abr.dqn.config import SCORES
from abr.media.traces import Trace
from abr.media.video import Video
from abr.player.qoe import make_qoe
from abr.policies.base import Policy
from abr.policies.registry import make_policy


@dataclass(frozen=True)
class Validation:
    sets: dict[str, list[Trace]]  # folder -> its traces, in the order they are played
    videos: dict[str, Video]  # set -> the video it plays
    qoe: str
    score_kind: str
    mpc_qoe: dict[str, float]  # RobustMPC's mean QoE per set
    gain_scale: dict[str, float]  # set -> reward units per QoE unit of its video

    @classmethod
    def build(
        cls,
        sets: dict[str, list[Trace]],
        video: Video | dict[str, Video],
        qoe: str,
        score_kind: str,
    ) -> Validation:
        if score_kind not in SCORES:
            raise ValueError(f"val_score must be one of {SCORES}, got {score_kind!r}")
        if not sets or any(not traces for traces in sets.values()):
            raise ValueError("validation needs at least one trace in every set")
        videos = video if isinstance(video, dict) else dict.fromkeys(sets, video)
        mpc_qoe = _qoe_per_set(make_policy("mpc", qoe), sets, videos, qoe)
        gain_scale = {
            name: 1.0
            if _one_video(videos)
            else make_qoe(qoe, videos[name].bitrates_kbps).ladder_scale
            for name in sets
        }
        return cls(sets, videos, qoe, score_kind, mpc_qoe, gain_scale)

    @property
    def video(self) -> Video:
        """The video every set plays (for validation on one video)."""
        return next(iter(self.videos.values()))

    @property
    def one_video(self) -> bool:
        return _one_video(self.videos)

    @property
    def traces(self) -> list[Trace]:
        return _all_traces(self.sets)

    @property
    def mpc_score(self) -> float:
        """RobustMPC's own score: the bar a run must pass to count as beating it."""
        return self.mean_of(self.mpc_qoe) if self.score_kind == "mean" else 0.0

    def beats_mpc(self, score: float) -> bool:
        return score > self.mpc_score

    def qoe_per_set(self, policy: Policy) -> dict[str, float]:
        """The policy's mean QoE on each set, from one batched replay of every trace."""
        return _qoe_per_set(policy, self.sets, self.videos, self.qoe)

    def mean_of(self, qoe_per_set: dict[str, float]) -> float:
        """The mean over all traces, from the per-set means."""
        sizes = [len(self.sets[name]) for name in qoe_per_set]
        return float(np.average(list(qoe_per_set.values()), weights=sizes))

    def gains(self, qoe_per_set: dict[str, float]) -> dict[str, float]:
        """Per set, the policy's mean QoE minus RobustMPC's, in the set's reward units."""
        return {
            name: (qoe_per_set[name] - self.mpc_qoe[name]) * self.gain_scale[name]
            for name in self.sets
        }

    def score(self, qoe_per_set: dict[str, float]) -> float:
        if self.score_kind == "mean":
            return self.mean_of(qoe_per_set)
        return min(self.gains(qoe_per_set).values())


def _one_video(videos: dict[str, Video]) -> bool:
    return len({id(video) for video in videos.values()}) == 1


def _all_traces(sets: dict[str, list[Trace]]) -> list[Trace]:
    return [trace for traces in sets.values() for trace in traces]


def _qoe_per_set(
    policy: Policy, sets: dict[str, list[Trace]], videos: dict[str, Video], qoe: str
) -> dict[str, float]:
    """One batched replay per video of every trace of the sets that play it."""
    result: dict[str, float] = {}
    for video_id in dict.fromkeys(id(video) for video in videos.values()):
        names = [name for name in sets if id(videos[name]) == video_id]
        group = {name: sets[name] for name in names}
        per_trace = run_policy(policy, _all_traces(group), videos[names[0]], qoe).qoe_per_trace
        ends = np.cumsum([len(traces) for traces in group.values()])
        parts = np.split(per_trace, ends[:-1])
        result |= {name: float(part.mean()) for name, part in zip(group, parts, strict=True)}
    return {name: result[name] for name in sets}
