"""n-step returns over many sessions (abr/dqn/nstep.py) in torch, on the training device, in a
fixed shape so that nothing is read back to the host.

`NStepAccumulator` emits a varying number of transitions a step (a finished session flushes up
to n at once, a fresh one emits none for n - 1 steps), and a varying shape means the host must
read how many. Here every push after the first n - 1 emits exactly one transition per session:
the one that starts n - 1 steps back, with the rewards up to now or up to the end of its episode
if that came first (then discount 0, nothing to bootstrap). Each step a session plays enters
the replay once, as in `NStepAccumulator`, n - 1 steps later; the same transitions, in another
order (held equal as sets by tests/dqn/test_torch_nstep.py). The last n - 1 steps of a run are
never emitted.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from abr.sim.device_arrays import restore_tensors


class TorchTransitions(NamedTuple):
    obs: torch.Tensor  # [M, D] float32
    action: torch.Tensor  # [M] int64
    returns: torch.Tensor  # [M] float32
    next_obs: torch.Tensor  # [M, D] float32
    discount: torch.Tensor  # [M] float32


class TorchNStep:
    _TENSORS = ("obs", "action", "reward", "terminal")

    def __init__(
        self, n: int, gamma: float, n_sessions: int, obs_dim: int, device: torch.device
    ) -> None:
        if n < 1:
            raise ValueError(f"n-step must be >= 1, got {n}")
        self.n, self.gamma, self.device = n, gamma, device
        self.obs = torch.zeros((n, n_sessions, obs_dim), dtype=torch.float32, device=device)
        self.action = torch.zeros((n, n_sessions), dtype=torch.int64, device=device)
        self.reward = torch.zeros((n, n_sessions), dtype=torch.float64, device=device)
        self.terminal = torch.zeros((n, n_sessions), dtype=torch.bool, device=device)
        self.powers = gamma ** torch.arange(n, dtype=torch.float64, device=device)  # [n]
        self.t = 0  # steps pushed; step s sits in slot s % n

    def state_dict(self) -> dict[str, object]:
        state: dict[str, object] = {name: getattr(self, name).clone() for name in self._TENSORS}
        return state | {"t": self.t}

    def load_state_dict(self, state: dict[str, object]) -> None:
        restore_tensors(self, state, self._TENSORS, "n-step")
        self.t = int(state["t"])  # type: ignore[call-overload]

    def push(
        self,
        obs: torch.Tensor,
        action: torch.Tensor,
        reward: torch.Tensor,
        next_obs: torch.Tensor,
        terminal: torch.Tensor,
    ) -> TorchTransitions:
        """Add one step of every session; the transitions that start n - 1 steps back ([N] of
        each, or none during the first n - 1 steps)."""
        slot = self.t % self.n
        self.obs[slot], self.action[slot] = obs, action
        self.reward[slot], self.terminal[slot] = reward, terminal
        self.t += 1
        if self.t < self.n:
            return self._none(obs.shape[1])
        oldest = self.t % self.n  # the slot of the step n - 1 back
        # oldest step first; a roll by a host integer, where a list index would copy to the device
        reward_window = torch.roll(self.reward, -oldest, dims=0)  # [n, N]
        terminal_window = torch.roll(self.terminal, -oldest, dims=0)
        # reward j counts while no earlier step of the window ended the episode
        ended_before = torch.cumsum(terminal_window.to(torch.int64), dim=0) - terminal_window.long()
        counts = ended_before == 0
        returns = (self.powers[:, None] * reward_window * counts).sum(dim=0)
        open_ = ~terminal_window.any(dim=0)
        discount = torch.where(open_, self.gamma**self.n, 0.0)
        return TorchTransitions(
            self.obs[oldest].clone(),
            self.action[oldest].clone(),
            returns.to(torch.float32),
            next_obs.to(torch.float32),
            discount.to(torch.float32),
        )

    def _none(self, obs_dim: int) -> TorchTransitions:
        def empty(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
            return torch.zeros(shape, dtype=dtype, device=self.device)

        return TorchTransitions(
            empty(0, obs_dim), empty(0, dtype=torch.int64), empty(0), empty(0, obs_dim), empty(0)
        )
