"""The rung-shared Q-network: one score per rung from the same head, masked past the ladder."""

import pytest

torch = pytest.importorskip("torch")

from abr.dqn.networks import (  # noqa: E402
    MASKED_Q,
    FusedRungEnsemble,
    QEnsemble,
    QNetwork,
    RungQNetwork,
    ensemble,
    make_network,
)
from abr.player.ladder_observation import RUNG_FEATURES, LadderSpec  # noqa: E402
from abr.player.observation import ObservationSpec  # noqa: E402

SPEC = LadderSpec(max_rungs=6)


def observation(n_rungs: int, batch: int = 4, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    session = torch.randn(batch, SPEC.session_dim, generator=generator)
    rungs = torch.randn(batch, SPEC.max_rungs, RUNG_FEATURES, generator=generator)
    rungs[:, n_rungs:] = 0.0
    mask = torch.zeros(batch, SPEC.max_rungs)
    mask[:, :n_rungs] = 1.0
    return torch.cat([session, rungs.flatten(1), mask], dim=1)


@pytest.mark.parametrize("dueling", [True, False])
def test_rungs_past_the_ladder_are_never_chosen(dueling):
    network = make_network(SPEC, (32, 32), dueling)
    assert isinstance(network, RungQNetwork)
    q = network(observation(n_rungs=3))
    assert q.shape == (4, SPEC.max_rungs)
    assert torch.all(q[:, 3:] == MASKED_Q) and torch.all(q[:, :3] > MASKED_Q / 2)
    assert torch.all(q.argmax(dim=1) < 3)


def test_each_rung_is_scored_by_the_same_head():
    """Swapping two rungs' features swaps their Q-values (and leaves the rest alone)."""
    network = RungQNetwork(SPEC.session_dim, RUNG_FEATURES, SPEC.max_rungs, (32, 32))
    obs = observation(n_rungs=5)
    swapped = obs.clone()
    start = SPEC.session_dim
    first, third = (
        slice(start, start + RUNG_FEATURES),
        slice(start + 2 * RUNG_FEATURES, start + 3 * RUNG_FEATURES),
    )
    swapped[:, first], swapped[:, third] = obs[:, third], obs[:, first]
    q, q_swapped = network(obs), network(swapped)
    torch.testing.assert_close(q_swapped[:, [2, 1, 0, 3, 4]], q[:, :5])


def test_a_one_ladder_spec_gets_the_plain_network():
    spec = ObservationSpec(n_levels=6)
    assert isinstance(make_network(spec, (16,), True), QNetwork)


@pytest.mark.parametrize("dueling", [True, False])
def test_a_fused_ensemble_gives_the_mean_of_its_members_q_values(dueling):
    members = [make_network(SPEC, (32, 24), dueling) for _ in range(3)]
    fused = FusedRungEnsemble(members)
    for n_rungs in (2, 4, 6):
        obs = observation(n_rungs, batch=16, seed=n_rungs)
        torch.testing.assert_close(fused(obs), QEnsemble(members)(obs), atol=1e-5, rtol=1e-5)


def test_ensemble_fuses_rung_networks_of_one_shape_only():
    rung = [make_network(SPEC, (32, 32), True) for _ in range(2)]
    assert isinstance(ensemble(rung), FusedRungEnsemble)
    wider = make_network(SPEC, (64, 32), True)
    assert isinstance(ensemble([*rung, wider]), QEnsemble)
    plain = [make_network(ObservationSpec(n_levels=6), (16,), True) for _ in range(2)]
    assert isinstance(ensemble(plain), QEnsemble)
    with pytest.raises(ValueError, match="of one shape"):
        FusedRungEnsemble([*rung, wider])


def test_the_rung_head_split_is_the_head_over_concatenated_pairs():
    """The first layer applied in a session part and a rung part gives what the head gives on
    [trunk output, rung features] rows, as it was defined."""
    network = RungQNetwork(SPEC.session_dim, RUNG_FEATURES, SPEC.max_rungs, (32, 16), False)
    obs = observation(n_rungs=SPEC.max_rungs, batch=8)
    s, f, r = SPEC.session_dim, RUNG_FEATURES, SPEC.max_rungs
    features = network.trunk(obs[:, :s])
    rungs = obs[:, s : s + f * r].unflatten(1, (r, f))
    paired = torch.cat([features.unsqueeze(1).expand(-1, r, -1), rungs], dim=2)
    expected = network.rung_head(paired).squeeze(2)
    assert torch.allclose(network(obs), expected, atol=1e-6)
