"""Where the learner's experience comes from: the sessions it plays (one `AbrEnv`, on the host:
numba's compiled step, or numpy), epsilon-greedy acting, the rewards turned into n-step
transitions, and the teacher's labels of the states the sessions are in. Tensors cross to the
training device once a step.

Over one ladder (`ladders = "one"`) every session plays the config's video and restarts on its
own; over sampled ladders every episode is a new sampled video for all sessions together
(abr/dqn/video_mix.py), and the labels and rewards are scaled per video as the environment
scales them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from abr.dqn.checkpoint import as_numpy, as_tensors
from abr.dqn.config import DqnConfig
from abr.dqn.nstep import NStepAccumulator, Transitions
from abr.dqn.video_mix import ladder_sampler, teacher_buffer_values, teacher_horizon
from abr.media.ladders import median_rate_kbps, published_ladders
from abr.media.traces import Trace
from abr.media.video import Video, video_from_json
from abr.player.observation import AnySpec
from abr.policies.mpc import robust_mpc_from_history
from abr.policies.oracle import lookahead_values
from abr.sim.config import SimConfig
from abr.sim.env import AbrEnv, FixedVideo, SampledVideos, VideoSource

# the teacher's levels [N] and, from the oracle, its per-level values [N, spec.n_levels]
# (NaN past the video's ladder)
Labels = tuple[np.ndarray, np.ndarray | None]


class Collector:
    def __init__(
        self,
        config: DqnConfig,
        traces: Sequence[Trace],
        video: Video,
        spec: AnySpec,
        device: torch.device,
    ) -> None:
        self.config, self.spec, self.device = config, spec, device
        self.sampled = config.ladders == "sampled"
        # exploration's draws; over sampled ladders also the videos' (one stream, as it was)
        self.rng = np.random.default_rng(config.seed + (1 if self.sampled else 0))
        self.env = AbrEnv(
            traces,
            self._source(traces, video),
            spec,
            config.n_sessions,
            mode="train",
            qoe=config.qoe,
            reward_scale=config.reward_scale,
            sim_config=SimConfig(history_len=config.history_len),
            seed=config.seed,
        )
        self.name = f"host ({self.env.sim.backend})" + (", sampled ladders" if self.sampled else "")
        self.nstep = NStepAccumulator(config.n_step, config.gamma, config.n_sessions, spec.dim)

    def _source(self, traces: Sequence[Trace], video: Video) -> VideoSource:
        if not self.sampled:
            return FixedVideo(video)
        config = self.config
        return SampledVideos(
            ladder_sampler(config, (video, *published_ladders(config.seed))),
            self.rng,
            median_rate_kbps(traces),
            config.ladder_keep_traces,
            config.ladder_match_from,
            first_video=video,
        )

    def observation(self) -> torch.Tensor:
        """[N, D] float32 on the training device: what the sessions observe now."""
        return torch.as_tensor(self.env.obs, device=self.device)

    def act(self, network: torch.nn.Module, epsilon: float) -> np.ndarray:
        """Epsilon-greedy levels for every session."""
        with torch.no_grad():
            greedy = network(self.observation()).argmax(dim=1).cpu().numpy()
        return self.explore(greedy, epsilon)

    def explore(self, greedy: np.ndarray, epsilon: float) -> np.ndarray:
        """Each session's greedy level, or with probability epsilon a random one of the video's."""
        n, n_levels = self.config.n_sessions, self.env.video.n_levels
        explore = self.rng.random(n) < epsilon
        return np.where(explore, self.rng.integers(0, n_levels, n), greedy)

    def teach(self, values: bool) -> Labels:
        """The config's teacher at the sessions' states now: the oracle plans over the exact
        simulator state (abr/dqn/teacher.py), RobustMPC from what the players observe."""
        config, env = self.config, self.env
        if config.teacher == "oracle":
            horizon = teacher_horizon(config.teacher_horizon, env.video.n_levels)
            buffer_value = teacher_buffer_values(config, env.sim)
            taught = lookahead_values(env.sim, env.qoe, horizon, buffer_value) * env.reward_per_qoe
            padded = np.full((config.n_sessions, self.spec.n_levels), np.nan)
            padded[:, : env.video.n_levels] = taught
            return np.argmax(taught, axis=1), padded if values else None
        return robust_mpc_from_history(env.sim.player_state(), env.sim.video, env.qoe.name), None

    def step(self, action: np.ndarray) -> Transitions:
        """Every session fetches one chunk; finished ones start again; the n-step transitions
        that became complete."""
        action = np.asarray(action)
        obs = self.env.encoded(self.env.obs)
        stepped = self.env.step(action)
        final_obs = self.env.encoded(stepped.final_obs)
        return self.nstep.push(obs, action, stepped.reward, final_obs, stepped.done)

    def state_dict(self) -> dict[str, Any]:
        env_state = self.env.state_dict()
        state: dict[str, Any] = {
            "nstep": as_tensors(self.nstep.state_dict()),
            "sim": as_tensors(env_state["sim"]),  # type: ignore[arg-type]
            "rng": self.rng.bit_generator.state,
            "obs": torch.from_numpy(self.env.obs),
        }
        if self.sampled:
            video = self.env.video
            state["video"] = video.to_json() | {"sizes_bytes": video.sizes_bytes.tolist()}
            state["video_factor"] = self.env.factor
        return state

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.nstep.load_state_dict(as_numpy(saved["nstep"]))
        sim = as_numpy(saved["sim"])
        if self.sampled:
            video = video_from_json(saved["video"], "checkpoint")
            self.env.load_state({"sim": sim, "video_factor": saved["video_factor"]}, video)
        else:
            self.env.sim.load_state_dict(sim)
        self.rng.bit_generator.state = saved["rng"]
        self.env.obs = saved["obs"].cpu().numpy()
