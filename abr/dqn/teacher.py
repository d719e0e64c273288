"""On-policy teaching (DAgger; Ross et al., AISTATS 2011): the learner plays the training traces
in training mode, and a future-aware teacher (`abr/policies/oracle.py`) labels the states the
learner actually visits with the level it would choose there, knowing the future trace. The
labelled pairs go to a pool that the update samples from beside its TD batch, with DQfD's
large-margin loss toward the teacher's level (`teacher_loss = "margin"`), or, from the oracle,
a regression of the network's advantages onto the teacher's (`"advantage"`), weighted by a
schedule over the run.

Why the regression: a label says what the teacher would do knowing the future, and imitating
it teaches the student the teacher's usual move, which a player who cannot see a drop coming
pays for in rebuffering. The oracle's value of each first level (the best plan that starts with
it) regressed by least squares is, for the student, the expected value of each level over all
the futures that look alike to it, so a level that is usually right but sometimes stalls is
scored by both.

The teacher reads each training session's exact simulator state (trace, clock, buffer, last
level, chunk) and plans without the delay noise the learner meets, so a label is the best
level for the network the learner will face on average, not a noise-aware one. RobustMPC can
teach the same way (`teacher = "mpc"`), from what a player observes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


class LabelPool:
    """The latest `capacity` (observation, teacher level, teacher values) triples, on the
    training device; the values are zeros for a teacher that gives none."""

    def __init__(self, capacity: int, obs_dim: int, n_levels: int, device: torch.device) -> None:
        self.capacity, self.device = capacity, device
        self.obs = torch.zeros((capacity, obs_dim), dtype=torch.float32, device=device)
        self.action = torch.zeros(capacity, dtype=torch.int64, device=device)
        self.values = torch.zeros((capacity, n_levels), dtype=torch.float32, device=device)
        self.position = self.count = 0

    def add(
        self,
        obs: np.ndarray | torch.Tensor,
        action: np.ndarray | torch.Tensor,
        values: np.ndarray | torch.Tensor | None = None,
    ) -> None:
        first = self.position
        index = torch.arange(first, first + len(action), device=self.device) % self.capacity
        self.obs[index] = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        self.action[index] = torch.as_tensor(action, dtype=torch.int64, device=self.device)
        if values is not None:
            self.values[index] = torch.as_tensor(values, dtype=torch.float32, device=self.device)
        self.position = int((self.position + len(action)) % self.capacity)
        self.count = min(self.count + len(action), self.capacity)

    def sample(
        self, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        index = torch.randint(0, self.count, (batch_size,), generator=generator, device=self.device)
        return self.obs[index], self.action[index], self.values[index]  # [B, D], [B], [B, L]

    def __len__(self) -> int:
        return self.count

    def state_dict(self) -> dict[str, Any]:
        return {
            "obs": self.obs[: self.count],
            "action": self.action[: self.count],
            "values": self.values[: self.count],
            "position": self.position,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        count = len(state["action"])
        self.obs[:count] = state["obs"].to(self.device)
        self.action[:count] = state["action"].to(self.device)
        self.values[:count] = state["values"].to(self.device)
        self.position, self.count = int(state["position"]), count


def label_weight(start: float, end: float, decay_env_steps: int, env_steps: int) -> float:
    """How much the labels weigh now: linear from `start` to `end` over `decay_env_steps`, then
    `end`; with `decay_env_steps` 0, `start` throughout."""
    if decay_env_steps == 0:
        return start
    return start + min(env_steps / decay_env_steps, 1.0) * (end - start)
