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


def large_margin_loss(q: torch.Tensor, expert_action: torch.Tensor, margin: float) -> torch.Tensor:
    """DQfD's supervised loss (Hester et al., AAAI 2018), [B]:
    `max_a [Q(s, a) + l(a_E, a)] - Q(s, a_E)`, with l = margin for a != a_E and 0 for a_E.

    It is 0 only when the expert's action leads every other by at least the margin, so the greedy
    action stays the expert's unless the TD loss pushes another above it by more than that.
    """
    expert = expert_action[:, None]  # [B, 1]
    margins = torch.full_like(q, margin).scatter_(1, expert, 0.0)  # [B, A]
    return (q + margins).max(dim=1).values - q.gather(1, expert).squeeze(1)


def advantage_loss(q: torch.Tensor, teacher_values: torch.Tensor) -> torch.Tensor:
    """Squared error between the network's advantages and the teacher's, [B]: both sides centred
    on their mean over actions, so only how the teacher ranks and spaces the levels is taught,
    not the scale of its (undiscounted, few-chunk) values. A NaN value marks a level the video
    does not have (a ladder shorter than the network's outputs): left out of both means."""
    valid = torch.isfinite(teacher_values)
    count = valid.sum(dim=1, keepdim=True).clamp(min=1)

    def centred(values: torch.Tensor) -> torch.Tensor:
        values = torch.where(valid, values, 0.0)
        return values - values.sum(dim=1, keepdim=True) / count

    squared = torch.where(valid, (centred(q) - centred(teacher_values)).pow(2), 0.0)
    return squared.sum(dim=1) / count.squeeze(1)


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
