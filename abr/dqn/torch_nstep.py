"""n-step returns over many sessions (abr/dqn/nstep.py) in torch, on the training device: the
same transitions, in the same order, as tensors that go to the replay without leaving the
device. Held equal to `NStepAccumulator` by tests/dqn/test_torch_nstep.py."""

from __future__ import annotations

from typing import NamedTuple

import torch


class TorchTransitions(NamedTuple):
    obs: torch.Tensor  # [M, D] float32
    action: torch.Tensor  # [M] int64
    returns: torch.Tensor  # [M] float32
    next_obs: torch.Tensor  # [M, D] float32
    discount: torch.Tensor  # [M] float32


class TorchNStep:
    def __init__(
        self, n: int, gamma: float, n_sessions: int, obs_dim: int, device: torch.device
    ) -> None:
        if n < 1:
            raise ValueError(f"n-step must be >= 1, got {n}")
        self.n, self.gamma, self.device = n, gamma, device
        self.obs = torch.zeros((n, n_sessions, obs_dim), dtype=torch.float32, device=device)
        self.action = torch.zeros((n, n_sessions), dtype=torch.int64, device=device)
        self.reward = torch.zeros((n, n_sessions), dtype=torch.float64, device=device)
        self.pending = torch.zeros(n_sessions, dtype=torch.int64, device=device)
        self.t = 0

    def state_dict(self) -> dict[str, object]:
        return {
            "obs": self.obs.clone(),
            "action": self.action.clone(),
            "reward": self.reward.clone(),
            "pending": self.pending.clone(),
            "t": self.t,
        }

    def load_state_dict(self, state: dict[str, object]) -> None:
        for name in ("obs", "action", "reward", "pending"):
            value = state[name]
            assert isinstance(value, torch.Tensor)
            if value.shape != getattr(self, name).shape:
                raise ValueError(f"saved n-step state {name!r} has shape {tuple(value.shape)}")
            setattr(self, name, value.to(self.device, getattr(self, name).dtype).clone())
        self.t = int(state["t"])  # type: ignore[call-overload]

    def push(
        self,
        obs: torch.Tensor,
        action: torch.Tensor,
        reward: torch.Tensor,
        next_obs: torch.Tensor,
        terminal: torch.Tensor,
    ) -> TorchTransitions:
        slot = self.t % self.n
        self.obs[slot], self.action[slot], self.reward[slot] = obs, action, reward
        self.pending = self.pending + 1
        self.t += 1
        full = self.pending == self.n
        emitted = [self._window(next_obs, ~terminal & full, self.pending, bootstrap=True)]
        for age in range(self.n):  # flush finished sessions, oldest pending step first
            finished = terminal & (self.pending > age)
            emitted.append(self._window(next_obs, finished, self.pending - age, bootstrap=False))
        self.pending = torch.where(terminal, 0, torch.where(full, self.n - 1, self.pending))
        return TorchTransitions(*(torch.cat(field) for field in zip(*emitted, strict=True)))

    def _window(
        self, next_obs: torch.Tensor, mask: torch.Tensor, length: torch.Tensor, bootstrap: bool
    ) -> TorchTransitions:
        """Transitions starting `length` steps back and running to now, for the sessions in
        `mask` (in session order)."""
        sessions = torch.nonzero(mask).squeeze(1)
        k = length[sessions]
        start_slot = (self.t - k) % self.n
        returns = torch.zeros(len(sessions), dtype=torch.float64, device=self.device)
        for j in range(self.n):  # rewards start..now, discounted from the start
            slot = (start_slot + j) % self.n
            returns += torch.where(j < k, self.gamma**j * self.reward[slot, sessions], 0.0)
        discount = (
            torch.pow(torch.full_like(returns, self.gamma), k.to(torch.float64))
            if bootstrap
            else torch.zeros_like(returns)
        )
        return TorchTransitions(
            self.obs[start_slot, sessions],
            self.action[start_slot, sessions],
            returns.to(torch.float32),
            next_obs[sessions].to(torch.float32),
            discount.to(torch.float32),
        )
