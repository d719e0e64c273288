"""Replay buffers on the training device: uniform, and prioritized (Schaul et al., ICLR 2016).

Prioritized replay samples transition i with probability P(i) = p_i^alpha / sum_j p_j^alpha
from a sum tree held in one tensor (so it lives on the GPU when training does), and weights it
by w_i = (N * P(i))^-beta / max_batch w. New transitions get the largest priority seen so far;
after an update a transition's priority is |TD error| + eps.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from abr.dqn.nstep import Transitions


class Batch(NamedTuple):
    obs: torch.Tensor  # [B, D]
    action: torch.Tensor  # [B] int64
    returns: torch.Tensor  # [B]
    next_obs: torch.Tensor  # [B, D]
    discount: torch.Tensor  # [B]
    weight: torch.Tensor  # [B] importance weight (1 for uniform replay)
    slot: torch.Tensor  # [B] int64 position in the buffer, for priority updates


class SumTree:
    """A complete binary tree of priorities in one tensor: leaves at [size, 2 * size)."""

    def __init__(self, capacity: int, device: torch.device | str = "cpu") -> None:
        self.capacity = capacity
        self.size = 1 << max(0, math.ceil(math.log2(capacity)))
        self.depth = int(math.log2(self.size))
        self.tree = torch.zeros(2 * self.size, dtype=torch.float64, device=device)

    @property
    def total(self) -> float:
        return float(self.tree[1])

    def leaves(self, index: torch.Tensor) -> torch.Tensor:
        return self.tree[self.size + index]

    def update(self, index: torch.Tensor, priority: torch.Tensor) -> None:
        node = self.size + index
        self.tree[node] = priority.to(torch.float64)
        for _ in range(self.depth):
            # A parent listed twice is written twice with the same sum: no need to deduplicate
            # (torch.unique sorts and, on a GPU, waits for the device at every level).
            node = node // 2
            self.tree[node] = self.tree[2 * node] + self.tree[2 * node + 1]

    def find(self, mass: torch.Tensor) -> torch.Tensor:
        """Leaf index whose cumulative-priority interval holds each mass in [0, total)."""
        node = torch.ones_like(mass, dtype=torch.int64)
        mass = mass.to(torch.float64).clone()
        for _ in range(self.depth):
            left = self.tree[2 * node]
            go_right = mass >= left
            mass = torch.where(go_right, mass - left, mass)
            node = 2 * node + go_right.to(torch.int64)
        return node - self.size


class ReplayBuffer:
    """A ring of transitions; `sample` draws uniformly."""

    def __init__(self, capacity: int, obs_dim: int, device: torch.device | str = "cpu") -> None:
        self.capacity, self.device = capacity, torch.device(device)
        self.obs = torch.zeros((capacity, obs_dim), dtype=torch.float32, device=device)
        self.next_obs = torch.zeros((capacity, obs_dim), dtype=torch.float32, device=device)
        self.action = torch.zeros(capacity, dtype=torch.int64, device=device)
        self.returns = torch.zeros(capacity, dtype=torch.float32, device=device)
        self.discount = torch.zeros(capacity, dtype=torch.float32, device=device)
        self.position = 0  # next slot to write
        self.count = 0  # slots filled

    def __len__(self) -> int:
        return self.count

    def add(self, transitions: Transitions) -> torch.Tensor:
        """Store transitions (overwriting the oldest when full); return their slots."""
        m = len(transitions.action)
        if m > self.capacity:
            raise ValueError(f"cannot add {m} transitions to a buffer of {self.capacity}")
        index = torch.arange(self.position, self.position + m, device=self.device) % self.capacity
        for name, values in zip(Transitions._fields, transitions, strict=True):
            getattr(self, name)[index] = torch.as_tensor(values, device=self.device)
        self.position = (self.position + m) % self.capacity
        self.count = min(self.count + m, self.capacity)
        return index

    _TENSORS = ("obs", "next_obs", "action", "returns", "discount")

    def state_dict(self) -> dict[str, object]:
        state: dict[str, object] = {name: getattr(self, name) for name in self._TENSORS}
        state.update(position=self.position, count=self.count)
        return state

    def load_state_dict(self, state: dict[str, object]) -> None:
        for name in self._TENSORS:
            value = state[name]
            assert isinstance(value, torch.Tensor)
            if value.shape != getattr(self, name).shape:
                raise ValueError(f"saved replay {name!r} has shape {tuple(value.shape)}")
            getattr(self, name).copy_(value)
        self.position, self.count = int(state["position"]), int(state["count"])  # type: ignore[call-overload]

    def _batch(self, index: torch.Tensor, weight: torch.Tensor) -> Batch:
        return Batch(
            self.obs[index],
            self.action[index],
            self.returns[index],
            self.next_obs[index],
            self.discount[index],
            weight,
            index,
        )

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        index = torch.randint(0, self.count, (batch_size,), generator=generator, device=self.device)
        return self._batch(index, torch.ones(batch_size, device=self.device))

    def update_priorities(self, index: torch.Tensor, td_error: torch.Tensor) -> None:
        """Uniform replay ignores priorities."""


class PrioritizedReplayBuffer(ReplayBuffer):
    def __init__(
        self,
        capacity: int,
        obs_dim: int,
        alpha: float = 0.6,
        eps: float = 1e-3,
        device: torch.device | str = "cpu",
    ) -> None:
        super().__init__(capacity, obs_dim, device)
        self.alpha, self.eps = alpha, eps
        self.tree = SumTree(capacity, device)
        # before alpha; a tensor on the device, so that updates never wait for the GPU
        self.max_priority = torch.ones((), dtype=torch.float64, device=self.device)

    def add(self, transitions: Transitions) -> torch.Tensor:
        index = super().add(transitions)
        priority = (self.max_priority**self.alpha).expand(len(index))
        self.tree.update(index, priority)
        return index

    def sample(self, batch_size: int, generator: torch.Generator, beta: float = 0.4) -> Batch:
        """Stratified: one draw in each of batch_size equal slices of the total priority."""
        total = self.tree.tree[1]  # a tensor: reading it as a float would wait for the GPU
        u = torch.rand(batch_size, generator=generator, device=self.device, dtype=torch.float64)
        mass = (torch.arange(batch_size, device=self.device) + u) * (total / batch_size)
        index = self.tree.find(torch.minimum(mass, torch.nextafter(total, total.new_zeros(()))))
        index = index.clamp(max=self.count - 1)
        probability = self.tree.leaves(index) / total
        weight = (self.count * probability) ** (-beta)
        weight = (weight / weight.max()).to(torch.float32)
        return self._batch(index, weight)

    def state_dict(self) -> dict[str, object]:
        state = super().state_dict()
        state.update(tree=self.tree.tree, max_priority=float(self.max_priority))
        return state

    def load_state_dict(self, state: dict[str, object]) -> None:
        super().load_state_dict(state)
        tree = state["tree"]
        assert isinstance(tree, torch.Tensor)
        self.tree.tree.copy_(tree)
        self.max_priority.fill_(float(state["max_priority"]))  # type: ignore[arg-type]

    def update_priorities(self, index: torch.Tensor, td_error: torch.Tensor) -> None:
        priority = td_error.detach().abs().to(torch.float64) + self.eps
        self.max_priority = torch.maximum(self.max_priority, priority.max())
        self.tree.update(index, priority**self.alpha)
