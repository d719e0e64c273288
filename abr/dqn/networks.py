"""The Q-network: an MLP over the encoded observation, with an optional dueling head
(Wang et al., ICML 2016): Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a')."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from abr.player.ladder_observation import RUNG_FEATURES, LadderSpec
from abr.player.observation import AnySpec


def mlp(sizes: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    return nn.Sequential(*layers)


class QNetwork(nn.Module):
    def __init__(
        self, obs_dim: int, n_actions: int, hidden: Sequence[int] = (256, 256), dueling: bool = True
    ) -> None:
        super().__init__()
        self.obs_dim, self.n_actions, self.dueling = obs_dim, n_actions, dueling
        self.trunk = mlp([obs_dim, *hidden])
        width = hidden[-1] if hidden else obs_dim
        if dueling:
            self.value = nn.Linear(width, 1)
            self.advantage = nn.Linear(width, n_actions)
        else:
            self.q = nn.Linear(width, n_actions)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """[B, obs_dim] -> [B, n_actions]"""
        features = self.trunk(obs)
        if not self.dueling:
            return self.q(features)
        advantage = self.advantage(features)  # [B, A]
        return self.value(features) + advantage - advantage.mean(dim=1, keepdim=True)


class QEnsemble(nn.Module):
    """Several Q-networks over the same observation as one: the mean of their Q-values. Seeds of
    one setting make different mistakes, and the mean dilutes each one's."""

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """[B, obs_dim] -> [B, n_actions]"""
        return torch.stack([member(obs) for member in self.members]).mean(dim=0)


MASKED_Q = -1.0e6  # a rung the ladder does not have: never the greedy choice, never a max


class RungQNetwork(nn.Module):
    """Q-values for any ladder (the `abr-obs-v2` observation, abr/player/ladder_observation.py):
    a trunk reads the session's features; one small head, shared by every rung, scores each
    rung from the trunk's output and the rung's own features; rungs past the ladder get
    `MASKED_Q`. With `dueling`, Q = V(session) + A(rung) - mean of A over the ladder's rungs."""

    def __init__(
        self,
        session_dim: int,
        rung_features: int,
        max_rungs: int,
        hidden: Sequence[int] = (256, 256),
        dueling: bool = True,
    ) -> None:
        super().__init__()
        self.session_dim, self.rung_features, self.max_rungs = session_dim, rung_features, max_rungs
        self.n_actions, self.dueling = max_rungs, dueling
        self.obs_dim = session_dim + (rung_features + 1) * max_rungs
        self.trunk = mlp([session_dim, *hidden])
        width = hidden[-1] if hidden else session_dim
        head_width = max(width // 2, 16)
        self.rung_head = nn.Sequential(
            mlp([width + rung_features, head_width, head_width]), nn.Linear(head_width, 1)
        )
        self.value = nn.Linear(width, 1) if dueling else None

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """[B, obs_dim] -> [B, max_rungs]"""
        s, f, r = self.session_dim, self.rung_features, self.max_rungs
        session = obs[:, :s]
        rungs = obs[:, s : s + f * r].unflatten(1, (r, f))  # [B, R, F]
        mask = obs[:, s + f * r :] > 0.5  # [B, R]
        features = self.trunk(session)  # [B, W]
        paired = torch.cat([features.unsqueeze(1).expand(-1, r, -1), rungs], dim=2)
        score = self.rung_head(paired).squeeze(2)  # [B, R]
        if self.value is not None:
            count = mask.sum(dim=1, keepdim=True).clamp(min=1)
            mean = torch.where(mask, score, 0.0).sum(dim=1, keepdim=True) / count
            score = self.value(features) + score - mean
        return torch.where(mask, score, torch.full_like(score, MASKED_Q))


def make_network(spec: AnySpec, hidden: Sequence[int], dueling: bool) -> QNetwork | RungQNetwork:
    """The network an observation spec is read by: an MLP over one ladder's encoding, or the
    rung-shared network over the ladder-agnostic one."""
    if isinstance(spec, LadderSpec):
        return RungQNetwork(spec.session_dim, RUNG_FEATURES, spec.max_rungs, hidden, dueling)
    return QNetwork(spec.dim, spec.n_levels, hidden, dueling)
