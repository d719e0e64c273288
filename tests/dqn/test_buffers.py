import numpy as np
import pytest

torch = pytest.importorskip("torch")

from abr.dqn.buffers import PrioritizedReplayBuffer, ReplayBuffer, SumTree  # noqa: E402
from abr.dqn.nstep import Transitions  # noqa: E402


def transitions(values):
    values = np.asarray(values, dtype=np.float32)
    m = len(values)
    return Transitions(
        values[:, None], np.arange(m), values, values[:, None] + 1, np.full(m, 0.9, np.float32)
    )


def test_sum_tree_totals_and_search():
    tree = SumTree(5)
    tree.update(torch.tensor([0, 1, 2, 3, 4]), torch.tensor([1.0, 2.0, 3.0, 0.0, 4.0]))
    assert tree.total == 10.0
    mass = torch.tensor([0.0, 0.99, 1.0, 2.9, 3.0, 5.99, 6.0, 9.99])
    assert tree.find(mass).tolist() == [0, 0, 1, 1, 2, 2, 4, 4]  # leaf 3 (priority 0) never
    tree.update(torch.tensor([4]), torch.tensor([0.5]))
    assert tree.total == 6.5


def test_uniform_buffer_ring_and_sampling():
    buffer = ReplayBuffer(4, obs_dim=1)
    buffer.add(transitions([1, 2, 3]))
    buffer.add(transitions([4, 5]))  # overwrites the oldest
    assert len(buffer) == 4
    assert sorted(buffer.returns.tolist()) == [2, 3, 4, 5]
    batch = buffer.sample(64, torch.Generator().manual_seed(0))
    assert set(batch.returns.tolist()) <= {2.0, 3.0, 4.0, 5.0}
    assert (batch.weight == 1).all()
    with pytest.raises(ValueError, match="cannot add 5"):
        buffer.add(transitions([1, 2, 3, 4, 5]))


def test_prioritized_sampling_is_proportional_to_priority():
    buffer = PrioritizedReplayBuffer(4, obs_dim=1, alpha=1.0, eps=0.0)
    index = buffer.add(transitions([0, 1, 2, 3]))
    buffer.update_priorities(index, torch.tensor([1.0, 2.0, 3.0, 4.0]))
    generator = torch.Generator().manual_seed(0)
    counts = np.zeros(4)
    for _ in range(200):
        batch = buffer.sample(50, generator, beta=0.0)
        counts += np.bincount(batch.slot.numpy(), minlength=4)
    np.testing.assert_allclose(counts / counts.sum(), [0.1, 0.2, 0.3, 0.4], atol=0.01)


def test_importance_weights_by_hand():
    buffer = PrioritizedReplayBuffer(4, obs_dim=1, alpha=1.0, eps=0.0)
    index = buffer.add(transitions([0, 1, 2, 3]))
    buffer.update_priorities(index, torch.tensor([1.0, 2.0, 3.0, 4.0]))
    batch = buffer.sample(4, torch.Generator().manual_seed(1), beta=0.5)
    probability = np.array([0.1, 0.2, 0.3, 0.4])[batch.slot.numpy()]
    expected = (4 * probability) ** -0.5
    np.testing.assert_allclose(batch.weight.numpy(), expected / expected.max(), rtol=1e-6)


def test_new_transitions_get_the_largest_priority_and_alpha_applies():
    buffer = PrioritizedReplayBuffer(8, obs_dim=1, alpha=0.5, eps=0.01)
    index = buffer.add(transitions([0, 1]))
    buffer.update_priorities(index, torch.tensor([3.99, -0.99]))  # |delta| + eps: 4.0 and 1.0
    np.testing.assert_allclose(buffer.tree.leaves(index).numpy(), [2.0, 1.0])
    new = buffer.add(transitions([5]))
    np.testing.assert_allclose(buffer.tree.leaves(new).numpy(), [2.0])  # max priority 4 ** 0.5
