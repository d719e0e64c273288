"""The Q-network: an MLP over the encoded observation, with an optional dueling head
(Wang et al., ICML 2016): Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a')."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


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
