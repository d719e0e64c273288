"""The Q-network: an MLP over the encoded observation, with an optional dueling head
(Wang et al., ICML 2016): Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a')."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
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
        score = self._score_rungs(features, rungs)  # [B, R]
        if self.value is not None:
            count = mask.sum(dim=1, keepdim=True).clamp(min=1)
            mean = torch.where(mask, score, 0.0).sum(dim=1, keepdim=True) / count
            score = self.value(features) + score - mean
        return torch.where(mask, score, torch.full_like(score, MASKED_Q))

    def _score_rungs(self, features: torch.Tensor, rungs: torch.Tensor) -> torch.Tensor:
        """The rung head over [features, rung] pairs, [B, W] and [B, R, F] -> [B, R]. Its first
        layer is applied in two parts, the session's once per session and the rung's once per
        rung, rather than to R concatenated copies: the same values, a fraction of the work."""
        layers = self.rung_head[0]
        assert isinstance(layers, nn.Sequential)
        entry, rest = layers[0], layers[1:]
        assert isinstance(entry, nn.Linear)
        width = features.shape[1]
        per_session = F.linear(features, entry.weight[:, :width], entry.bias)  # [B, H]
        per_rung = F.linear(rungs, entry.weight[:, width:])  # [B, R, H]
        hidden = rest(torch.relu(per_session.unsqueeze(1) + per_rung))
        return self.rung_head[1](hidden).squeeze(2)


def make_network(spec: AnySpec, hidden: Sequence[int], dueling: bool) -> QNetwork | RungQNetwork:
    """The network an observation spec is read by: an MLP over one ladder's encoding, or the
    rung-shared network over the ladder-agnostic one."""
    if isinstance(spec, LadderSpec):
        return RungQNetwork(spec.session_dim, RUNG_FEATURES, spec.max_rungs, hidden, dueling)
    return QNetwork(spec.dim, spec.n_levels, hidden, dueling)


class FusedRungEnsemble(nn.Module):
    """The mean of several `RungQNetwork`s of one shape, computed as one network whose every
    layer is a batched matmul over the members: the same Q-values as `QEnsemble` up to float
    rounding, in one ONNX node per layer instead of one per layer and member, which is most of
    the cost of a decision at small batches. The rung head's first layer is split into its
    session part (once per member and session) and its rung part (once per rung)."""

    def __init__(self, members: Sequence[RungQNetwork]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        if not _one_shape(members):
            raise ValueError("a fused ensemble needs members of one shape")
        first = members[0]
        self.session_dim, self.rung_features = first.session_dim, first.rung_features
        self.max_rungs = self.n_actions = first.max_rungs
        self.obs_dim, self.dueling = first.obs_dim, first.value is not None
        trunks = [_linears(member.trunk) for member in members]
        heads = [_linears(member.rung_head) for member in members]
        self.n_trunk, self.n_head = len(trunks[0]), len(heads[0])
        for i in range(self.n_trunk):
            self._stack(f"trunk{i}", [trunk[i] for trunk in trunks], extra_dims=0)
        width = heads[0][0].in_features - self.rung_features
        entry = [head[0] for head in heads]
        self._stack("head_session", entry, extra_dims=1, columns=slice(0, width))
        self._stack("head_rung", entry, extra_dims=1, columns=slice(width, None), bias=False)
        for i in range(1, self.n_head):
            self._stack(f"head{i}", [head[i] for head in heads], extra_dims=1)
        if self.dueling:
            self._stack("value", [m.value for m in members if m.value is not None], extra_dims=0)

    def _stack(
        self,
        name: str,
        linears: Sequence[nn.Linear],
        extra_dims: int,
        columns: slice = slice(None),
        bias: bool = True,
    ) -> None:
        """The members' copies of one layer (its input `columns`) as a weight [E, 1.., in, out]
        and a bias [E, 1.., out], `extra_dims` ones between, for a batched matmul over inputs
        [E or 1, .., in]."""
        weight = torch.stack([linear.weight.detach()[:, columns].T for linear in linears])
        biases = torch.stack([linear.bias.detach() for linear in linears]).unsqueeze(1)
        for _ in range(extra_dims):
            weight, biases = weight.unsqueeze(1), biases.unsqueeze(1)
        self.register_buffer(f"{name}_w", weight)
        self.register_buffer(f"{name}_b", biases if bias else torch.zeros_like(biases))

    def _layer(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return x @ getattr(self, f"{name}_w") + getattr(self, f"{name}_b")

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """[B, obs_dim] -> [B, max_rungs]"""
        s, f, r = self.session_dim, self.rung_features, self.max_rungs
        rungs = obs[:, s : s + f * r].unflatten(1, (r, f))  # [B, R, F]
        mask = obs[:, s + f * r :] > 0.5  # [B, R]
        features = obs[:, :s].unsqueeze(0)  # [1, B, S]
        for i in range(self.n_trunk):
            features = torch.relu(self._layer(f"trunk{i}", features))  # [E, B, W]
        hidden = self._layer("head_session", features.unsqueeze(2))  # [E, B, 1, H]
        hidden = torch.relu(hidden + self._layer("head_rung", rungs.unsqueeze(0)))  # [E, B, R, H]
        for i in range(1, self.n_head):
            hidden = self._layer(f"head{i}", hidden)
            if i < self.n_head - 1:
                hidden = torch.relu(hidden)
        score = hidden.squeeze(3)  # [E, B, R]
        if self.dueling:
            count = mask.sum(dim=1, keepdim=True).clamp(min=1)
            mean = torch.where(mask, score, 0.0).sum(dim=2, keepdim=True) / count
            score = self._layer("value", features) + score - mean
        q = score.mean(dim=0)
        return torch.where(mask, q, torch.full_like(q, MASKED_Q))


def _linears(module: nn.Module) -> list[nn.Linear]:
    return [layer for layer in module.modules() if isinstance(layer, nn.Linear)]


def _one_shape(members: Sequence[RungQNetwork]) -> bool:
    """Every member has the first one's inputs, layers and heads."""
    first = members[0]
    shapes = [p.shape for p in first.parameters()]
    return all(
        member.session_dim == first.session_dim
        and (member.value is None) == (first.value is None)
        and [p.shape for p in member.parameters()] == shapes
        for member in members
    )


def ensemble(members: Sequence[nn.Module]) -> nn.Module:
    """The mean of the members' Q-values: fused into one network when they are rung-shared
    networks of one shape, a plain `QEnsemble` otherwise."""
    rung_members = [m for m in members if isinstance(m, RungQNetwork)]
    if len(rung_members) == len(members) > 0 and _one_shape(rung_members):
        return FusedRungEnsemble(rung_members)
    return QEnsemble(members)
