"""One update: every row with a loss in one forward pass, and no work for a loss of weight 0."""

from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")

from abr.dqn.buffers import ReplayBuffer  # noqa: E402
from abr.dqn.config import load_config  # noqa: E402
from abr.dqn.learner import Learner  # noqa: E402
from abr.dqn.networks import RungQNetwork  # noqa: E402
from abr.dqn.nstep import Transitions  # noqa: E402
from abr.dqn.teacher import LabelPool  # noqa: E402
from abr.player.ladder_observation import RUNG_FEATURES, LadderSpec  # noqa: E402

SPEC = LadderSpec(max_rungs=4)


class CountingReplay(ReplayBuffer):
    def __init__(self) -> None:
        super().__init__(64, SPEC.dim)
        self.samples = 0
        n = 64
        obs = torch.rand(n, SPEC.dim)
        obs[:, -SPEC.max_rungs :] = 1.0
        self.add(
            Transitions(
                obs.numpy(),
                torch.randint(0, 4, (n,)).numpy(),
                torch.rand(n).numpy(),
                obs.numpy(),
                torch.full((n,), 0.9).numpy(),
            )
        )

    def sample(self, batch_size, generator):  # type: ignore[override]
        self.samples += 1
        return super().sample(batch_size, generator)


def _learner(td_loss_weight: float) -> tuple[Learner, CountingReplay, list[int]]:
    config = replace(
        load_config(None, per=False, batch_size=8, demo_batch_size=8, teacher_batch_size=8),
        td_loss_weight=td_loss_weight,
    )
    network = RungQNetwork(SPEC.session_dim, RUNG_FEATURES, SPEC.max_rungs, (16, 16))
    forwards: list[int] = []
    network.register_forward_hook(lambda module, args, out: forwards.append(len(args[0])))
    labels = LabelPool(32, SPEC.dim, SPEC.max_rungs, torch.device("cpu"))
    obs = torch.rand(32, SPEC.dim)
    obs[:, -SPEC.max_rungs :] = 1.0
    labels.add(obs, torch.randint(0, 4, (32,)), torch.rand(32, 4))
    learner = Learner(config, network, torch.Generator().manual_seed(0), CountingReplay(), labels)
    return learner, CountingReplay(), forwards


def test_a_td_loss_of_weight_zero_draws_no_agent_batch_and_computes_no_target():
    learner, replay, forwards = _learner(td_loss_weight=0.0)
    learner.learn(replay, beta=0.4, label_weight=1.0)
    assert replay.samples == 0
    assert forwards == [8 + 8]  # demonstrations and labels, one forward; no target's


def test_with_a_td_loss_agent_demonstrations_and_labels_share_one_forward():
    learner, replay, forwards = _learner(td_loss_weight=1.0)
    before = [p.detach().clone() for p in learner.online_network.parameters()]
    learner.learn(replay, beta=0.4, label_weight=1.0)
    assert replay.samples == 1
    # all rows with a loss at once; then the target network (a copy, with the hook) and the
    # online network's Double-DQN argmax over the next states of the agent's and demo rows
    assert forwards == [8 + 8 + 8, 8 + 8, 8 + 8]
    after = list(learner.online_network.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
