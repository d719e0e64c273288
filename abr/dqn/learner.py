"""The DQN learner: the online, target and averaged networks, the optimizer, and one update.

One update is a gradient step on a batch of the agent's transitions (prioritized or uniform)
and, with DQfD, a batch of demonstrations: the TD loss (Huber, weighted by importance weights)
on both, DQfD's large-margin loss on the demonstrations; with a teacher (DAgger), the
large-margin loss toward the teacher's labels, or the regression onto its advantages, on a batch
of labelled states. All rows go through the network in one forward pass; a TD loss of weight 0
costs nothing (no agent batch is drawn, no target computed). Then the target network follows
(hard copies or Polyak) and so does the averaged copy that validation plays.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F

from abr.dqn.buffers import Batch, PrioritizedReplayBuffer, ReplayBuffer
from abr.dqn.config import DqnConfig
from abr.dqn.targets import (
    advantage_loss,
    large_margin_loss,
    linear_schedule,
    polyak_update,
    td_target,
)
from abr.dqn.teacher import LabelPool


class Learner:
    def __init__(
        self,
        config: DqnConfig,
        online_network: torch.nn.Module,
        generator: torch.Generator,
        demo_replay: ReplayBuffer | None = None,
        labels: LabelPool | None = None,
    ) -> None:
        self.config = config
        self.online_network = online_network
        self.target_network = copy.deepcopy(online_network)
        # foreach: one kernel per step for all parameters (the CPU default is one per tensor)
        self.optimizer = torch.optim.Adam(
            online_network.parameters(), lr=config.learning_rate, foreach=True
        )
        self.generator = generator
        self.demo_replay = demo_replay
        self.labels = labels  # the teacher's labels (DAgger), if the run has a teacher
        self.updates = 0

    def set_learning_rate(self, env_steps: int) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.config, env_steps)

    def learn(
        self, replay: ReplayBuffer | None, beta: float, label_weight: float = 0.0
    ) -> torch.Tensor:
        """One update on `replay` (if given), the demonstrations (if any) and the teacher's
        labels (if any, weighted by `label_weight`); the loss, left on the device."""
        loss = self._gradient_step(replay, beta, label_weight)
        self.updates += 1
        self._follow()
        return loss

    def _gradient_step(
        self, replay: ReplayBuffer | None, beta: float, label_weight: float
    ) -> torch.Tensor:
        """One forward pass over every row that has a loss: the agent's transitions (only when
        the TD loss weighs anything: else they teach nothing), the demonstrations and the
        teacher's labels, concatenated; the TD target's two forwards only with a TD loss."""
        config = self.config
        with_td = config.td_loss_weight > 0
        agent = replay if with_td else None
        parts: list[Batch] = []
        if isinstance(agent, PrioritizedReplayBuffer):
            parts.append(agent.sample(config.batch_size, self.generator, beta))
        elif agent is not None:
            parts.append(agent.sample(config.batch_size, self.generator))
        if self.demo_replay is not None:
            parts.append(self.demo_replay.sample(config.demo_batch_size, self.generator))
        batch = Batch(*(torch.cat(field) for field in zip(*parts, strict=True))) if parts else None
        teaching = self.labels is not None and len(self.labels) > 0 and label_weight > 0
        rows = [batch.obs] if batch is not None else []
        if teaching:
            assert self.labels is not None
            label_obs, teacher_action, teacher_values = self.labels.sample(
                config.teacher_batch_size, self.generator
            )
            rows.append(label_obs)
        if not rows:  # nothing weighs anything yet (e.g. a teacher's weight starting at 0)
            return torch.zeros((), device=next(self.online_network.parameters()).device)
        q_all = self.online_network(torch.cat(rows))  # [B_agent + B_demo + B_teacher, A]
        n_agent = config.batch_size if agent is not None else 0
        n_demo = config.demo_batch_size if self.demo_replay is not None else 0
        loss = q_all.new_zeros(())
        q = q_all[: n_agent + n_demo]
        if with_td and batch is not None:
            td_target_value = td_target(
                self.online_network,
                self.target_network,
                batch.next_obs,
                batch.returns,
                batch.discount,
                config.double,
            )  # [B]
            q_taken = q.gather(1, batch.action[:, None]).squeeze(1)  # [B]
            td_error = td_target_value - q_taken
            huber = F.huber_loss(q_taken, td_target_value, reduction="none")
            loss = loss + config.td_loss_weight * (batch.weight * huber).mean()
        if batch is not None and self.demo_replay is not None:
            margin = large_margin_loss(q[n_agent:], batch.action[n_agent:], config.demo_margin)
            loss = loss + config.demo_loss_weight * margin.mean()
        if teaching:
            q_labelled = q_all[n_agent + n_demo :]  # [B_T, A]
            if config.teacher_loss == "advantage":
                taught = advantage_loss(q_labelled, teacher_values)
            else:
                taught = large_margin_loss(q_labelled, teacher_action, config.teacher_margin)
            loss = loss + label_weight * taught.mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.online_network.parameters(), config.grad_clip)
        self.optimizer.step()
        if agent is not None:
            agent.update_priorities(parts[0].slot, td_error[:n_agent])
        return loss.detach()

    def _follow(self) -> None:
        config = self.config
        if config.target_tau < 1.0:
            polyak_update(self.online_network, self.target_network, config.target_tau)
        elif self.updates % config.target_update_every == 0:
            self.target_network.load_state_dict(self.online_network.state_dict())

    def state_dict(self) -> dict[str, Any]:
        return {
            "online": self.online_network.state_dict(),
            "target": self.target_network.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.online_network.load_state_dict(saved["online"])
        self.target_network.load_state_dict(saved["target"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.generator.set_state(saved["generator"].cpu())  # map_location moved it


def learning_rate(config: DqnConfig, env_steps: int) -> float:
    """Adam's step size now: annealed linearly to `learning_rate_end` (constant when equal)."""
    return linear_schedule(
        config.learning_rate, config.learning_rate_end, config.total_env_steps, env_steps
    )
