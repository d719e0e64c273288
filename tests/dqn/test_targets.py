import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from abr.dqn.networks import QNetwork  # noqa: E402
from abr.dqn.targets import (  # noqa: E402
    large_margin_loss,
    linear_schedule,
    polyak_update,
    td_target,
)


class Fixed(nn.Module):
    """A 'network' that answers the same Q-values for every observation."""

    def __init__(self, q):
        super().__init__()
        self.q = torch.tensor(q)

    def forward(self, obs):
        return self.q.expand(len(obs), -1)


def test_double_dqn_target_by_hand():
    online = Fixed([[1.0, 5.0, 2.0]])  # prefers action 1
    target = Fixed([[10.0, 3.0, 7.0]])  # would prefer action 0
    next_obs = torch.zeros(2, 4)
    returns = torch.tensor([1.0, 2.0])
    discount = torch.tensor([0.5, 0.0])  # the second transition ended the video
    double = td_target(online, target, next_obs, returns, discount, double=True)
    assert double.tolist() == [1.0 + 0.5 * 3.0, 2.0]
    plain = td_target(online, target, next_obs, returns, discount, double=False)
    assert plain.tolist() == [1.0 + 0.5 * 10.0, 2.0]


def test_dueling_head_identity():
    torch.manual_seed(0)
    net = QNetwork(obs_dim=5, n_actions=4, hidden=(16,), dueling=True)
    obs = torch.randn(3, 5)
    q = net(obs)
    features = net.trunk(obs)
    value, advantage = net.value(features), net.advantage(features)
    torch.testing.assert_close(q.mean(dim=1, keepdim=True), value)
    torch.testing.assert_close(q - value, advantage - advantage.mean(dim=1, keepdim=True))
    assert QNetwork(5, 4, dueling=False)(obs).shape == (3, 4)


def test_polyak_update_and_schedule():
    online, target = nn.Linear(2, 2), nn.Linear(2, 2)
    before = target.weight.detach().clone()
    polyak_update(online, target, tau=0.25)
    torch.testing.assert_close(target.weight, 0.25 * online.weight + 0.75 * before)
    polyak_update(online, target, tau=1.0)
    torch.testing.assert_close(target.weight, online.weight)
    assert linear_schedule(1.0, 0.1, 100, 0) == 1.0
    assert linear_schedule(1.0, 0.1, 100, 50) == pytest.approx(0.55)
    assert linear_schedule(1.0, 0.1, 100, 500) == pytest.approx(0.1)


def test_large_margin_loss_by_hand():
    q = torch.tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [0.0, 0.5, 0.0]])
    expert = torch.tensor([2, 0, 1])
    loss = large_margin_loss(q, expert, margin=0.8)
    # expert best by more than the margin: 0; expert worst: the best other + margin - its own;
    # expert best by less than the margin (0.5 < 0.8): the shortfall 0.3
    torch.testing.assert_close(loss, torch.tensor([0.0, 3.0 + 0.8 - 1.0, 0.3]))
    assert large_margin_loss(q, expert, margin=0.0)[0] == 0.0
