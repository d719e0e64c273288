"""The ladder-agnostic observation: any ladder of 2..12 rungs in one width, padded rungs
masked, and the same features for the same situation in any units."""

from dataclasses import replace

import numpy as np
import pytest

from abr.media.traces import make_trace
from abr.media.video import synth_video
from abr.player.ladder_observation import RUNG_FEATURES, SESSION_FEATURES, LadderSpec, encode_ladder
from abr.player.observation import ObservationSpec, encode, spec_from_dict
from abr.sim.simulator import BatchSimulator

SPEC = LadderSpec()


def state_after(video, mbps: float, steps: int = 4):
    trace = make_trace("flat", np.arange(0.0, 600.0, 1.0), np.full(600, mbps))
    sim = BatchSimulator([trace], video, 3, "eval")
    for level in range(steps):
        sim.step(np.array([0, level % video.n_levels, video.n_levels - 1]))
    return sim.player_state()


def parts(obs: np.ndarray, spec: LadderSpec = SPEC):
    session = obs[:, : spec.session_dim]
    rungs = obs[:, spec.session_dim : spec.session_dim + RUNG_FEATURES * spec.max_rungs]
    mask = obs[:, spec.session_dim + RUNG_FEATURES * spec.max_rungs :]
    return session, rungs.reshape(len(obs), spec.max_rungs, RUNG_FEATURES), mask


@pytest.mark.parametrize("n_rungs", [2, 5, 12])
def test_any_rung_count_has_one_width_and_a_mask(n_rungs):
    ladder = tuple(np.geomspace(200.0, 8000.0, n_rungs).round())
    obs = encode_ladder(state_after(synth_video(ladder, 4.0, 20), 3.0), SPEC)
    assert obs.shape == (3, SPEC.dim) and obs.dtype == np.float32
    _, rungs, mask = parts(obs)
    assert mask[:, :n_rungs].tolist() == [[1.0] * n_rungs] * 3
    assert not mask[:, n_rungs:].any() and not rungs[:, n_rungs:].any()
    assert np.all(np.isfinite(obs))
    assert rungs[2, n_rungs - 1, -1] == 1.0  # the last rung fetched is flagged


def test_a_ladder_and_a_network_scaled_together_look_the_same():
    """A 4K ladder over a fast link and the same ladder 16x lower over a link 16x slower: every
    feature equal but the stall penalty's weight against the top rung (lin QoE is in Mbps)."""
    ladder = (1500.0, 3000.0, 6000.0, 12000.0, 16000.0)
    video = synth_video(ladder, 4.0, 20, seed=3)
    small = replace(
        video, bitrates_kbps=video.bitrates_kbps / 16, sizes_bytes=video.sizes_bytes / 16
    )
    big_obs = encode_ladder(state_after(video, 20.0), SPEC)
    small_obs = encode_ladder(state_after(small, 20.0 / 16), SPEC)
    penalty_column = 5
    other = [c for c in range(SPEC.dim) if c != penalty_column]
    np.testing.assert_allclose(big_obs[:, other], small_obs[:, other], atol=1e-5)
    assert small_obs[0, penalty_column] == pytest.approx(4 + big_obs[0, penalty_column])


def test_a_ladder_outside_the_range_is_refused_by_name():
    video = synth_video(tuple(float(100 * (k + 1)) for k in range(13)), 2.0, 10)
    with pytest.raises(ValueError, match="13 rungs; this model takes 2 to 12"):
        encode_ladder(state_after(video, 1.0), SPEC)


def test_encode_reads_the_spec_s_version():
    video = synth_video((300.0, 750.0, 1200.0), 4.0, 10)
    state = state_after(video, 1.0)
    one_ladder = ObservationSpec(n_levels=3)
    assert encode(state, one_ladder).shape == (3, one_ladder.dim)
    assert encode(state, SPEC).shape == (3, SPEC.dim)
    assert spec_from_dict(SPEC.to_dict()) == SPEC
    assert spec_from_dict(one_ladder.to_dict()) == one_ladder
    with pytest.raises(ValueError, match="unknown observation spec fields"):
        spec_from_dict({**SPEC.to_dict(), "extra": 1})
    assert SPEC.session_dim == SESSION_FEATURES + 2 * SPEC.history_len
