import numpy as np
import pytest

from abr.player.observation import OBS_VERSION, ObservationSpec, encode
from abr.player.state import PlayerState
from abr.sim.simulator import BatchSimulator

LADDER = np.array([300.0, 1200.0, 4300.0])


def state(**changes) -> PlayerState:
    fields = dict(
        last_level=np.array([1]),
        buffer_s=np.array([12.0]),
        throughput_kbps=np.array([[0.0, 2150.0, 43000.0]]),
        download_s=np.array([[0.0, 2.0, 8.0]]),
        history_count=np.array([2]),
        next_sizes_bytes=np.array([[150_000.0, 600_000.0, 2_150_000.0]]),
        chunk_index=np.array([2]),
        chunks_left=np.array([46]),
        bitrates_kbps=LADDER,
        chunk_s=4.0,
        n_chunks=48,
    )
    fields.update(changes)
    return PlayerState(**fields)


def test_encoding_by_hand():
    spec = ObservationSpec(n_levels=3, history_len=3)
    obs = encode(state(), spec)
    assert obs.dtype == np.float32 and obs.shape == (1, spec.dim) == (1, 12)
    expected = [
        1200 / 4300,
        1.2,
        46 / 48,
        0.0,
        0.5,
        4.0,  # 43 Mbps is 10x the top rung: clipped to 4
        0.0,
        0.5,
        2.0,
        150_000 / 2_150_000,
        600_000 / 2_150_000,
        1.0,
    ]
    np.testing.assert_allclose(obs[0], expected, rtol=1e-6)


def test_spec_round_trip_and_version_check():
    spec = ObservationSpec(n_levels=6)
    assert ObservationSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ValueError, match="unsupported observation version"):
        ObservationSpec.from_dict({**spec.to_dict(), "version": "abr-obs-v0"})
    with pytest.raises(ValueError, match="unknown observation spec fields"):
        ObservationSpec.from_dict({**spec.to_dict(), "extra": 1})
    assert spec.version == OBS_VERSION


def test_level_count_must_match():
    with pytest.raises(ValueError, match="spec expects 6"):
        encode(state(), ObservationSpec(n_levels=6, history_len=3))


def test_encoding_of_a_simulated_session_is_bounded(envivio, pensieve_test_traces):
    sim = BatchSimulator(pensieve_test_traces, envivio, len(pensieve_test_traces))
    spec = ObservationSpec(n_levels=6)
    for level in (1, 5, 5, 0):
        sim.step(np.full(sim.n_sessions, level))
        obs = encode(sim.player_state(), spec)
        assert np.isfinite(obs).all()
        assert obs.min() >= 0 and obs[:, 3 : 3 + 8].max() <= spec.throughput_clip


def test_robust_columns_by_hand():
    history = np.array([[0.0, 0.0, 9000.0, 1000.0, 4000.0]])  # 3 chunks so far
    spec = ObservationSpec(n_levels=3, history_len=5, robust_window=2)
    obs = encode(
        state(throughput_kbps=history, download_s=np.ones((1, 5)), history_count=[3]), spec
    )
    assert spec.dim == 3 + 2 * 5 + 3 + 2 == obs.shape[1]
    harmonic = 2 / (1 / 1000 + 1 / 4000)  # the window's two chunks, not the 9000 before them
    np.testing.assert_allclose(obs[0, -2:], [harmonic / 4300, 1000 / 4300], rtol=1e-6)
    first = encode(
        state(throughput_kbps=history, download_s=np.ones((1, 5)), history_count=[0]), spec
    )
    np.testing.assert_array_equal(first[0, -2:], [0.0, 0.0])  # no chunk yet
    no_robust = ObservationSpec(n_levels=3, history_len=5)
    plain = encode(
        state(throughput_kbps=history, download_s=np.ones((1, 5)), history_count=[3]), no_robust
    )
    np.testing.assert_array_equal(plain[0], obs[0, :-2])  # the same columns before them
    assert ObservationSpec.from_dict(spec.to_dict()) == spec
