"""n-step returns over many sessions stepping together.

Every step, each session adds (obs, action, reward, next_obs, terminal). A session with n
pending steps emits its oldest: return `r_t + g r_{t+1} + ... + g^{n-1} r_{t+n-1}`, discount
`g^n`, and the latest next_obs to bootstrap from. At a terminal (end of the video) it emits all
its pending steps, each with the rewards up to the end and discount 0 (nothing to bootstrap),
and starts afresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np


class Transitions(NamedTuple):
    obs: np.ndarray  # [M, D] float32
    action: np.ndarray  # [M] int64
    returns: np.ndarray  # [M] float32: discounted sum of up to n rewards
    next_obs: np.ndarray  # [M, D] float32: the state to bootstrap from
    discount: np.ndarray  # [M] float32: gamma^k, or 0 after a terminal


class NStepAccumulator:
    def __init__(self, n: int, gamma: float, n_sessions: int, obs_dim: int) -> None:
        if n < 1:
            raise ValueError(f"n-step must be >= 1, got {n}")
        self.n, self.gamma = n, gamma
        self.obs = np.zeros((n, n_sessions, obs_dim), dtype=np.float32)  # slot = step % n
        self.action = np.zeros((n, n_sessions), dtype=np.int64)
        self.reward = np.zeros((n, n_sessions), dtype=np.float64)
        self.pending = np.zeros(n_sessions, dtype=np.int64)  # steps not yet emitted
        self.t = 0

    def state_dict(self) -> dict[str, object]:
        return {
            "obs": self.obs.copy(),
            "action": self.action.copy(),
            "reward": self.reward.copy(),
            "pending": self.pending.copy(),
            "t": self.t,
        }

    def load_state_dict(self, state: dict[str, object]) -> None:
        for name in ("obs", "action", "reward", "pending"):
            value = np.asarray(state[name])
            if value.shape != getattr(self, name).shape:
                raise ValueError(f"saved n-step state {name!r} has shape {value.shape}")
            setattr(self, name, value.astype(getattr(self, name).dtype))
        self.t = int(state["t"])  # type: ignore[call-overload]

    def push(
        self,
        obs: np.ndarray,
        action: np.ndarray,
        reward: np.ndarray,
        next_obs: np.ndarray,
        terminal: np.ndarray,
    ) -> Transitions:
        slot = self.t % self.n
        self.obs[slot], self.action[slot], self.reward[slot] = obs, action, reward
        self.pending = self.pending + 1
        self.t += 1
        emitted = [self._emit_oldest(next_obs, ~terminal & (self.pending == self.n))]
        for age in range(self.n):  # flush finished sessions, oldest pending step first
            emitted.append(self._emit_age(next_obs, terminal & (self.pending > age), age))
        self.pending = np.where(
            terminal, 0, np.where(self.pending == self.n, self.n - 1, self.pending)
        )
        return concatenate(emitted)

    def _emit_oldest(self, next_obs: np.ndarray, sessions: np.ndarray) -> Transitions:
        return self._window(next_obs, np.flatnonzero(sessions), self.pending, bootstrap=True)

    def _emit_age(self, next_obs: np.ndarray, sessions: np.ndarray, age: int) -> Transitions:
        """For finished sessions: the pending step `age` steps after the oldest one."""
        length = self.pending - age
        return self._window(next_obs, np.flatnonzero(sessions), length, bootstrap=False)

    def _window(
        self, next_obs: np.ndarray, sessions: np.ndarray, length: np.ndarray, bootstrap: bool
    ) -> Transitions:
        """Transitions starting `length` steps back and running to now, for `sessions`."""
        k = length[sessions]
        start_slot = (self.t - k) % self.n
        returns = np.zeros(len(sessions))
        for j in range(self.n):  # rewards start..now, discounted from the start
            inside = j < k
            slot = (start_slot + j) % self.n
            returns += np.where(inside, self.gamma**j * self.reward[slot, sessions], 0.0)
        discount = self.gamma ** k.astype(np.float64) if bootstrap else np.zeros(len(sessions))
        return Transitions(
            self.obs[start_slot, sessions],
            self.action[start_slot, sessions],
            returns.astype(np.float32),
            next_obs[sessions].astype(np.float32),
            discount.astype(np.float32),
        )


def concatenate(parts: Sequence[Transitions]) -> Transitions:
    """The transitions of `parts`, one after another."""
    return Transitions(*(np.concatenate(field) for field in zip(*parts, strict=True)))
