"""The one vector environment: what every consumer of the simulator steps — the trainer's
collector, the demonstrations, the benchmark's policy runner (and so validation) and the
Gymnasium adapter. The path from a trace to a reward is written here once.

It owns the simulator, a video source, the encoding of what the players observe and the QoE
reward, shaped like Gymnasium's `VectorEnv` (`num_envs`, same-step autoreset; the adapter in
abr/sim/gym_env.py declares the spaces):

- **video source**: `FixedVideo` (every session plays one video and restarts on its own) or
  `SampledVideos` (every episode a new sampled video, all sessions together, its bandwidth
  matched to the ladder). A bandwidth factor f is simulated as the video with its sizes divided
  by f over the traces as recorded (exact: abr/media/ladders.py), and the players are shown the
  true sizes and throughputs.
- **reward**: the per-chunk QoE of the video's ladder times `Qoe.ladder_scale` (1 for Envivio
  with `lin` and `log`; a ladder whose top utility exceeds the stall penalty is brought down to
  it) times `reward_scale`, so that Q-values stay in one range whatever the ladder.
- **autoreset** (optional): a session that finished its video starts the next one in the same
  step; `EnvStep.final_obs` is what it observed at the end, `obs` what it observes now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from abr.media.ladders import LadderSampler, match_factor, scaled_for_simulation
from abr.media.traces import Trace
from abr.media.video import Video
from abr.player.observation import AnySpec, encode
from abr.player.qoe import Qoe, make_qoe
from abr.player.state import PlayerState
from abr.sim.config import SimConfig
from abr.sim.simulator import BatchSimulator, Mode, StepResult
from abr.sim.trace_table import TraceTable


class VideoSource(Protocol):
    together: bool  # True: all sessions start every episode together, on a new video
    first_video: Video  # what the simulator is built with, before any episode's is drawn

    def next_video(self) -> tuple[Video, float]:
        """The next episode's video and its bandwidth factor (1: the traces as recorded)."""
        ...


@dataclass
class FixedVideo:
    first_video: Video
    together: bool = False

    def next_video(self) -> tuple[Video, float]:
        return self.first_video, 1.0


@dataclass
class SampledVideos:
    """A new sampled video every episode, the traces' median rate `median_kbps` matched to its
    ladder (a share `keep_traces` of episodes over the traces as recorded; `match_from`: the
    log-position on the ladder from which the median is drawn, up to twice its top)."""

    sampler: LadderSampler
    rng: np.random.Generator
    median_kbps: float
    keep_traces: float
    match_from: float
    first_video: Video
    together: bool = True

    def next_video(self) -> tuple[Video, float]:
        video = self.sampler.sample(self.rng)
        factor = match_factor(self.rng, video, self.median_kbps, self.keep_traces, self.match_from)
        return video, factor


@dataclass(frozen=True)
class EnvStep:
    obs: np.ndarray | None  # [N, D] float32 after any autoreset (None without an encoding)
    final_obs: np.ndarray | None  # [N, D] what each session observed right after its chunk
    qoe: np.ndarray  # [N] the chunk's QoE
    reward: np.ndarray  # [N] reward units: qoe x the ladder's scale x reward_scale
    done: np.ndarray  # [N] bool: that chunk was its video's last
    result: StepResult  # the simulator's own figures for the chunk


class AbrEnv:
    """`num_envs` sessions over `traces`. `spec` None: no encoding (a policy that reads the
    players' state itself)."""

    def __init__(
        self,
        traces: Sequence[Trace] | TraceTable,
        source: VideoSource,
        spec: AnySpec | None,
        num_envs: int,
        *,
        mode: Mode = "train",
        qoe: str = "lin",
        reward_scale: float = 1.0,
        sim_config: SimConfig | None = None,
        seed: int | None = None,
        autoreset: bool = True,
    ) -> None:
        self.source, self.spec, self.num_envs = source, spec, num_envs
        self.qoe_name, self.reward_scale, self.autoreset = qoe, reward_scale, autoreset
        self.sim = BatchSimulator(traces, source.first_video, num_envs, mode, sim_config, seed=seed)
        self._play(*source.next_video())
        self.obs = self.observe()

    # ---------------------------------------------------------------- episodes
    def _play(self, video: Video, factor: float) -> None:
        """From now on (every session at its start) the sessions play `video`, its sizes
        divided by `factor` in the simulator."""
        self.video, self.factor = video, factor
        self.qoe: Qoe = make_qoe(self.qoe_name, video.bitrates_kbps)
        self.reward_per_qoe = self.qoe.ladder_scale * self.reward_scale
        if self.source.together:
            self.sim.set_video(scaled_for_simulation(video, factor))

    def reset(self, trace_indices: np.ndarray | None = None) -> np.ndarray | None:
        """Every session starts again (on a new video, if the source draws them)."""
        self.sim.reset(trace_indices=trace_indices)
        if self.source.together:
            self._play(*self.source.next_video())
        self.obs = self.observe()
        return self.obs

    def _restart(self, done: np.ndarray) -> None:
        if not self.source.together:
            self.sim.reset(mask=done)
            return
        if not done.all():
            raise RuntimeError("the sessions of one video must finish together")
        self.sim.reset()
        self._play(*self.source.next_video())

    # ---------------------------------------------------------------- observing and stepping
    def player_state(self) -> PlayerState:
        """What the players see: the true sizes and throughputs of the scaled traces."""
        state = self.sim.player_state()
        if self.factor == 1.0:
            return state
        return replace(
            state,
            throughput_kbps=state.throughput_kbps * self.factor,
            next_sizes_bytes=state.next_sizes_bytes * self.factor,
        )

    def observe(self) -> np.ndarray | None:
        return None if self.spec is None else encode(self.player_state(), self.spec)

    @staticmethod
    def encoded(obs: np.ndarray | None) -> np.ndarray:
        """`obs` of an environment that has an encoding (a consumer that needs one says so)."""
        if obs is None:
            raise ValueError("this environment has no encoding (spec None)")
        return obs

    def step(self, levels: np.ndarray) -> EnvStep:
        """Every session fetches one chunk at `levels` [N]; with autoreset, finished ones start
        their next episode."""
        levels = np.asarray(levels)
        previous_level = self.sim.last_level.copy()
        result = self.sim.step(levels)
        qoe = self.qoe.per_chunk(levels, previous_level, result.rebuffer_s)
        reward = qoe * self.reward_per_qoe
        final_obs = self.observe()
        obs = final_obs
        if self.autoreset and result.done.any():  # same-step reset
            self._restart(result.done)
            fresh = self.observe()
            if fresh is not None and final_obs is not None:
                obs = np.where(result.done[:, None], fresh, final_obs)
        self.obs = obs
        return EnvStep(obs, final_obs, qoe, reward, result.done, result)

    # ---------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, object]:
        return {"sim": self.sim.state_dict(), "video_factor": self.factor}

    def load_state(self, saved: dict[str, object], video: Video) -> None:
        """Back to a saved point: the episode's `video` (as drawn), then the simulator."""
        self.sim.chunk[:] = 0  # the video is set as at an episode's start, then the state put back
        self._play(video, float(saved["video_factor"]))  # type: ignore[arg-type]
        self.sim.load_state_dict(saved["sim"])  # type: ignore[arg-type]
