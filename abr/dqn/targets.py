"""TD targets and the small pure helpers of the update (names from the papers)."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def td_target(
    online_network: nn.Module,
    target_network: nn.Module,
    next_obs: torch.Tensor,
    returns: torch.Tensor,
    discount: torch.Tensor,
    double: bool = True,
) -> torch.Tensor:
    """`returns + discount * Q_target(s', a*)`, [B].

    `returns` is the n-step discounted reward and `discount` is gamma^k, 0 after a terminal.
    Double DQN (van Hasselt et al., AAAI 2016) picks a* with the online network and evaluates it
    with the target network; plain DQN takes the target network's own max.
    """
    next_q_target = target_network(next_obs)  # [B, A]
    if double:
        best_action = online_network(next_obs).argmax(dim=1, keepdim=True)  # [B, 1]
    else:
        best_action = next_q_target.argmax(dim=1, keepdim=True)
    return returns + discount * next_q_target.gather(1, best_action).squeeze(1)


@torch.no_grad()
def polyak_update(online_network: nn.Module, target_network: nn.Module, tau: float) -> None:
    """target <- tau * online + (1 - tau) * target (tau = 1 copies)."""
    for online, target in zip(
        online_network.parameters(), target_network.parameters(), strict=True
    ):
        target.mul_(1.0 - tau).add_(online, alpha=tau)


def linear_schedule(start: float, end: float, duration: int, step: int) -> float:
    """From start to end over `duration` steps, then constant."""
    if duration <= 0:
        return end
    return start + (end - start) * min(step / duration, 1.0)
