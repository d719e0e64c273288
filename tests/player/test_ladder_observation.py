"""The ladder-agnostic observation: any ladder of 2..12 rungs in one width, padded rungs
masked, and the same features for the same situation in any units; longer ladders decided over
12 of their rungs."""

from dataclasses import replace

import numpy as np
import pytest

from abr.media.traces import make_trace
from abr.media.video import synth_video
from abr.player.ladder_observation import (
    RUNG_FEATURES,
    SESSION_FEATURES,
    LadderSpec,
    decide_over_kept_rungs,
    encode_ladder,
    kept_rungs,
)
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
    with pytest.raises(ValueError, match="13 rungs; this encoding takes 2 to 12"):
        encode_ladder(state_after(video, 1.0), SPEC)


@pytest.mark.parametrize("n_levels", [13, 16, 40])
def test_a_longer_ladder_keeps_twelve_rungs_spread_from_lowest_to_highest(n_levels):
    kept = kept_rungs(n_levels, 12)
    assert len(kept) == 12 and kept[0] == 0 and kept[-1] == n_levels - 1
    steps = np.diff(kept)
    assert steps.min() >= 1 and steps.max() - steps.min() <= 1  # increasing, evenly spread


def test_a_longer_ladder_is_decided_over_its_kept_rungs_and_mapped_back():
    ladder = tuple(100.0 * (k + 1) for k in range(20))
    state = state_after(synth_video(ladder, 2.0, 10), 3.0, steps=5)  # last rungs 0, 4, 19
    kept = kept_rungs(20, 12)
    seen = []

    def decide(sub):  # the top kept rung for session 0, the one below the last for the rest
        seen.append(sub)
        return np.array([sub.n_levels - 1, *np.maximum(sub.last_level[1:] - 1, 0)])

    levels = decide_over_kept_rungs(state, SPEC, decide)
    (sub,) = seen
    assert sub.bitrates_kbps.tolist() == [ladder[k] for k in kept]
    np.testing.assert_array_equal(sub.next_sizes_bytes, state.next_sizes_bytes[:, kept])
    # rung 4 was dropped: it counts as the kept rung nearest in log rate (600 kbps, not 400)
    nearest = np.abs(np.log(sub.bitrates_kbps) - np.log(ladder[4])).argmin()
    assert 4 not in kept and kept[nearest] == 5 and sub.last_level.tolist() == [0, nearest, 11]
    assert levels.tolist() == [19, kept[max(nearest - 1, 0)], kept[10]]
    encode_ladder(sub, SPEC)  # what the model is given is a ladder it takes


def test_a_single_rung_is_the_only_choice_and_a_short_ladder_is_decided_as_it_is():
    def never(_):
        raise AssertionError("nothing to decide")

    two = state_after(synth_video((800.0, 1600.0), 2.0, 10), 3.0)
    one = replace(
        two,
        bitrates_kbps=two.bitrates_kbps[:1],
        next_sizes_bytes=two.next_sizes_bytes[:, :1],
        last_level=np.zeros(3, dtype=np.int64),
    )
    assert decide_over_kept_rungs(one, SPEC, never).tolist() == [0, 0, 0]
    short = state_after(synth_video((300.0, 750.0, 1200.0), 2.0, 10), 3.0)
    assert decide_over_kept_rungs(short, SPEC, lambda s: s.last_level).tolist() == (
        short.last_level.tolist()
    )


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
