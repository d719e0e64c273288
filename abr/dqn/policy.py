"""A Q-network as a batched policy (greedy), for validation through the bench code path."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from abr.media.traces import Trace
from abr.media.video import Video
from abr.player.ladder_observation import LadderSpec, decide_over_kept_rungs
from abr.player.observation import AnySpec, encode
from abr.player.state import PlayerState


class GreedyQPolicy:
    name = "dqn"

    def __init__(self, network: torch.nn.Module, spec: AnySpec, device: torch.device):
        self.network, self.spec, self.device = network, spec, device

    def reset(self, n_sessions: int, video: Video, traces: Sequence[Trace] | None = None) -> None:
        # a model for any ladder takes every video (`ModelMetadata.check_video`)
        if not isinstance(self.spec, LadderSpec) and video.n_levels != self.spec.n_levels:
            raise ValueError(f"model has {self.spec.n_levels} levels, video has {video.n_levels}")

    def act(self, state: PlayerState) -> np.ndarray:
        if isinstance(self.spec, LadderSpec):
            return decide_over_kept_rungs(state, self.spec, self._greedy)
        return self._greedy(state)

    @torch.no_grad()
    def _greedy(self, state: PlayerState) -> np.ndarray:
        obs = torch.as_tensor(encode(state, self.spec), device=self.device)
        q = self.network(obs)[:, : state.n_levels]  # the video's rungs only, as OnnxModel
        return q.argmax(dim=1).cpu().numpy().astype(np.int64)
