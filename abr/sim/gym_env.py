"""The simulator behind Gymnasium's vector-env interface, for users of other RL libraries.

Observations are `abr.player.observation.encode` vectors, actions are ladder levels, rewards are the
per-chunk QoE. Autoreset is "same-step" (`AutoresetMode.SAME_STEP`): when a session finishes its
video, `step` returns the first observation of its next session and puts the finished one's last
observation in `info["final_obs"]` (rows of finished sessions; others are zero), with
`info["_final_obs"]` the mask. Episodes end by `terminated` (end of video), never `truncated`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv

from abr.media.traces import Trace
from abr.media.video import Video
from abr.player.observation import ObservationSpec, encode
from abr.player.qoe import make_qoe
from abr.sim.config import SimConfig
from abr.sim.simulator import BatchSimulator, Mode


class AbrVectorEnv(VectorEnv):
    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(
        self,
        traces: Sequence[Trace],
        video: Video,
        num_envs: int,
        mode: Mode = "train",
        qoe: str = "lin",
        sim_config: SimConfig | None = None,
        seed: int | None = None,
    ) -> None:
        self.sim = BatchSimulator(traces, video, num_envs, mode, sim_config, seed)
        self.spec_obs = ObservationSpec(
            n_levels=video.n_levels, history_len=self.sim.config.history_len
        )
        self.qoe = make_qoe(qoe, video.bitrates_kbps)
        self.num_envs = num_envs
        self.single_observation_space = spaces.Box(
            low=0.0, high=np.inf, shape=(self.spec_obs.dim,), dtype=np.float32
        )
        self.single_action_space = spaces.Discrete(video.n_levels)
        self.observation_space = spaces.Box(
            low=0.0, high=np.inf, shape=(num_envs, self.spec_obs.dim), dtype=np.float32
        )
        self.action_space = spaces.MultiDiscrete(np.full(num_envs, video.n_levels))

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if seed is not None:
            self.sim.rng = np.random.default_rng(seed)
        self.sim.reset()
        return encode(self.sim.player_state(), self.spec_obs), {}

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        previous = self.sim.last_level.copy()
        result = self.sim.step(np.asarray(actions))
        reward = self.qoe.per_chunk(result.level, previous, result.rebuffer_s)
        info: dict[str, Any] = {"rebuffer_s": result.rebuffer_s, "download_s": result.download_s}
        obs = encode(self.sim.player_state(), self.spec_obs)
        if result.done.any():
            info["final_obs"] = np.where(result.done[:, None], obs, 0.0).astype(np.float32)
            info["_final_obs"] = result.done.copy()
            self.sim.reset(mask=result.done)
            fresh = encode(self.sim.player_state(), self.spec_obs)
            obs = np.where(result.done[:, None], fresh, obs)
        truncated = np.zeros(self.num_envs, dtype=bool)
        return obs, reward.astype(np.float64), result.done.copy(), truncated, info
