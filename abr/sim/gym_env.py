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
from abr.player.observation import ObservationSpec
from abr.sim.config import SimConfig
from abr.sim.env import AbrEnv, FixedVideo
from abr.sim.simulator import Mode


class AbrVectorEnv(VectorEnv):
    """Gymnasium's interface over `AbrEnv` (abr/sim/env.py) playing one video."""

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
        history_len = (sim_config or SimConfig()).history_len
        self.spec_obs = ObservationSpec(n_levels=video.n_levels, history_len=history_len)
        self.env = AbrEnv(
            traces,
            FixedVideo(video),
            self.spec_obs,
            num_envs,
            mode=mode,
            qoe=qoe,
            sim_config=sim_config,
            seed=seed,
        )
        self.sim = self.env.sim
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
        obs = self.env.reset()
        assert obs is not None
        return obs, {}

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        stepped = self.env.step(np.asarray(actions))
        result = stepped.result
        assert stepped.obs is not None and stepped.final_obs is not None
        info: dict[str, Any] = {"rebuffer_s": result.rebuffer_s, "download_s": result.download_s}
        if stepped.done.any():
            final = np.where(stepped.done[:, None], stepped.final_obs, 0.0)
            info["final_obs"] = final.astype(np.float32)
            info["_final_obs"] = stepped.done.copy()
        truncated = np.zeros(self.num_envs, dtype=bool)
        return stepped.obs, stepped.qoe.astype(np.float64), stepped.done.copy(), truncated, info
