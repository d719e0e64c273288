"""The vectorised simulator against the scalar reference, chunk by chunk (EnvPool-style)."""

import numpy as np
import pytest

from abr.media.traces import Trace, make_trace
from abr.media.video import Video, make_video, nominal_sizes_bytes
from abr.sim import kernel as sim_kernel
from abr.sim.config import SimConfig
from abr.sim.reference import ReferenceSession
from abr.sim.simulator import BatchSimulator

BACKENDS = ["numpy"] + (["numba"] if sim_kernel.HAVE_NUMBA else [])
REL_TOL = 1e-9


def reference_sessions(
    traces: list[Trace],
    video: Video,
    cfg: SimConfig,
    trace_index: np.ndarray,
    start_sample: np.ndarray,
) -> list[ReferenceSession]:
    """One scalar reference player per session: session i on trace `trace_index[i]` from sample
    `start_sample[i]`."""
    return [
        ReferenceSession(
            traces[t].time_s.tolist(),
            traces[t].mbps.tolist(),
            video.chunk_s,
            int(s),
            cfg.rtt_s,
            cfg.payload_fraction,
            cfg.buffer_cap_s,
            cfg.sleep_quantum_s,
        )
        for t, s in zip(trace_index, start_sample, strict=True)
    ]


def run_aligned(
    traces: list[Trace],
    video: Video,
    mode: str,
    backend: str,
    seed: int,
    config: SimConfig | None = None,
    n_sessions: int | None = None,
) -> int:
    """Drive both simulators with the same actions and noise; return the chunks compared."""
    n = n_sessions or len(traces)
    cfg = config or SimConfig()
    sim = BatchSimulator(traces, video, n, mode=mode, config=cfg, seed=seed, backend=backend)
    refs = reference_sessions(traces, video, cfg, sim.trace, sim.ptr - sim.table.offsets[sim.trace])
    rng = np.random.default_rng(seed + 1000)
    for chunk in range(video.n_chunks):
        levels = rng.integers(0, video.n_levels, n)
        result = sim.step(levels)
        for i, ref in enumerate(refs):
            expected = ref.fetch(float(video.sizes_bytes[levels[i], chunk]), float(result.noise[i]))
            where = f"session {i} chunk {chunk}"
            for name in ("transfer_s", "download_s", "rebuffer_s", "sleep_s", "buffer_s"):
                got = float(getattr(result, name)[i])
                want = getattr(expected, name)
                assert got == pytest.approx(want, rel=REL_TOL, abs=1e-12), f"{name} at {where}"
    assert result.done.all()
    return video.n_chunks * n


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_matches_reference_on_pensieve_test(pensieve_test_traces, envivio, mode, backend):
    traces = pensieve_test_traces[::4]  # 36 traces, short ones included
    assert len(traces) >= 20
    assert run_aligned(traces, envivio, mode, backend, seed=7) == 48 * len(traces)


def tiny_video(levels_kbps=(300, 1200, 4300), n_chunks=30, chunk_s=4.0) -> Video:
    return make_video(
        levels_kbps, chunk_s, nominal_sizes_bytes(np.array(levels_kbps), chunk_s, n_chunks)
    )


HAND_MADE = {
    # a 6-s trace at 1 Mbps: every big chunk wraps around it, several times
    "wrap_around": make_trace("wrap", [0, 2, 4, 6], [1, 1, 0.5, 1.5]),
    # 50 Mbps: the buffer hits the 60-s cap and the player sleeps through the trace
    "buffer_cap_and_sleep": make_trace("fast", np.arange(0, 40.0, 0.7), np.full(58, 50.0)),
    # 30-s zero-bandwidth runs between good stretches
    "zero_runs": make_trace(
        "zeros", np.arange(0, 100.0), np.where((np.arange(100) // 20) % 2 == 1, 0.0, 3.0)
    ),
    # repeated timestamps (zero-length intervals), as in Lumos 4G
    "repeated_timestamps": make_trace(
        "repeats", [0, 1, 1, 2, 3, 3, 3, 4, 5], [2, 2, 9, 3, 1, 7, 8, 2, 4]
    ),
    # first sample after 0, as in Lumos 5G and Ghent: the first pass starts at time_s[0]
    "late_start": make_trace("late", [1.0, 2.0, 3.0, 4.5], [5, 2, 0.4, 6]),
    # irregular sub-second sampling with a long gap
    "irregular": make_trace("irregular", [0, 0.3, 0.55, 19.5, 19.8, 25], [4, 3, 8, 0.2, 5, 1]),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize("case", sorted(HAND_MADE))
def test_matches_reference_on_hand_made_traces(case, mode, backend):
    trace = HAND_MADE[case]
    run_aligned([trace], tiny_video(), mode, backend, seed=3, n_sessions=8)


def test_hand_made_cases_exercise_what_they_claim():
    video = tiny_video()
    top = np.full(8, 2)

    def play(trace: Trace, levels=top):
        sim = BatchSimulator([trace], video, 8, backend="numpy")
        results = [sim.step(levels) for _ in range(video.n_chunks)]
        return sim, results

    sim, results = play(HAND_MADE["buffer_cap_and_sleep"])
    assert max(r.sleep_s.max() for r in results) > 0
    assert max(r.buffer_s.max() for r in results) <= 60.0
    _, results = play(HAND_MADE["wrap_around"])
    assert results[0].transfer_s[0] > 6.0  # one 2150-KB chunk takes several passes of the trace
    _, results = play(HAND_MADE["zero_runs"])
    assert max(r.transfer_s.max() for r in results) > 20.0  # a download stalled by a zero run


def test_first_chunk_is_all_rebuffering_and_buffer_never_negative(pensieve_test_traces, envivio):
    sim = BatchSimulator(pensieve_test_traces, envivio, len(pensieve_test_traces))
    first = sim.step(np.ones(sim.n_sessions, dtype=np.int64))
    np.testing.assert_array_equal(first.rebuffer_s, first.download_s)
    rng = np.random.default_rng(0)
    for _ in range(envivio.n_chunks - 1):
        result = sim.step(rng.integers(0, 6, sim.n_sessions))
        assert (result.buffer_s >= 0).all() and (result.buffer_s <= 60.0).all()
        assert (result.rebuffer_s >= 0).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_seed_same_run_other_seed_other_run(pensieve_test_traces, envivio, backend):
    def run(seed):
        sim = BatchSimulator(pensieve_test_traces, envivio, 64, "train", seed=seed, backend=backend)
        levels = np.random.default_rng(0).integers(0, 6, (envivio.n_chunks, 64))
        return np.stack([sim.step(levels[c]).download_s for c in range(envivio.n_chunks)])

    np.testing.assert_array_equal(run(1), run(1))
    assert not np.allclose(run(1), run(2))


@pytest.mark.skipif(not sim_kernel.HAVE_NUMBA, reason="numba not installed")
def test_numba_and_numpy_backends_agree(pensieve_test_traces, envivio):
    levels = np.random.default_rng(5).integers(0, 6, (envivio.n_chunks, 300))
    runs = {}
    for backend in ("numpy", "numba"):
        sim = BatchSimulator(pensieve_test_traces, envivio, 300, "train", seed=9, backend=backend)
        runs[backend] = [sim.step(levels[c]) for c in range(envivio.n_chunks)]
    for a, b in zip(runs["numpy"], runs["numba"], strict=True):
        for field in ("transfer_s", "download_s", "rebuffer_s", "sleep_s", "buffer_s"):
            np.testing.assert_allclose(getattr(a, field), getattr(b, field), rtol=1e-12)


def test_explicit_reset_of_finished_sessions(envivio, pensieve_test_traces):
    sim = BatchSimulator(pensieve_test_traces[:3], envivio, 3, "train", seed=0)
    for _ in range(envivio.n_chunks):
        result = sim.step(np.zeros(3, dtype=np.int64))
    assert result.done.all()
    with pytest.raises(RuntimeError, match="finished session"):
        sim.step(np.zeros(3, dtype=np.int64))
    sim.reset(mask=np.array([True, False, True]))
    np.testing.assert_array_equal(sim.chunk, [0, envivio.n_chunks, 0])
    np.testing.assert_array_equal(sim.buffer_s[[0, 2]], [0.0, 0.0])


def test_player_state_histories(envivio, pensieve_test_traces):
    sim = BatchSimulator(pensieve_test_traces[:2], envivio, 2, config=SimConfig(history_len=3))
    delays, sizes = [], []
    for level in (0, 3, 5, 1):
        result = sim.step(np.full(2, level))
        delays.append(result.download_s)
        sizes.append(result.size_bytes)
    state = sim.player_state()
    np.testing.assert_array_equal(state.download_s, np.stack(delays[-3:], axis=1))
    expected_kbps = np.stack(sizes[-3:], axis=1) * 8 / 1000 / np.stack(delays[-3:], axis=1)
    np.testing.assert_allclose(state.throughput_kbps, expected_kbps)
    np.testing.assert_array_equal(state.last_level, [1, 1])
    np.testing.assert_array_equal(state.history_count, [3, 3])
    np.testing.assert_array_equal(state.next_sizes_bytes, envivio.sizes_bytes[:, [4, 4]].T)
    np.testing.assert_array_equal(state.chunks_left, [44, 44])


def test_bad_arguments_are_rejected(envivio, pensieve_test_traces):
    sim = BatchSimulator(pensieve_test_traces[:2], envivio, 2)
    with pytest.raises(ValueError, match="levels must lie"):
        sim.step(np.array([0, 6]))
    with pytest.raises(ValueError, match="shape"):
        sim.step(np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="trace_indices"):
        sim.reset(trace_indices=np.array([0, 5]))
    with pytest.raises(ValueError, match="mode"):
        BatchSimulator(pensieve_test_traces[:2], envivio, 2, mode="fast")  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", BACKENDS)
def test_chunk_ending_exactly_at_a_boundary_waits_out_the_zero_run(backend):
    # Pensieve finishes a chunk only where `sent + payload > size`: a chunk that fills an
    # interval exactly goes on through the following zero-bandwidth interval.
    trace = make_trace("edge", [0, 1, 2, 3, 4], [0, 8, 0, 8, 8])  # 1e6 bytes/s when on
    video = make_video([8000], 1.0, np.full((1, 3), 1e6))
    config = SimConfig(payload_fraction=1.0, rtt_s=0.0, default_level=0)
    sim = BatchSimulator([trace], video, 1, config=config, backend=backend)
    assert sim.step(np.zeros(1, dtype=np.int64)).transfer_s[0] == 2.0
    run_aligned([trace], video, "eval", backend, seed=0, config=config, n_sessions=1)


def test_the_callers_levels_are_never_modified(envivio, pensieve_test_traces):
    sim = BatchSimulator(pensieve_test_traces[:2], envivio, 2)
    levels = np.array([4, 5])
    sim.step(levels)
    sim.reset()
    np.testing.assert_array_equal(levels, [4, 5])


def test_a_simulator_built_unstarted_steps_as_a_started_one_from_a_loaded_state(
    pensieve_test_traces, envivio
) -> None:
    """What a planner does: build, load_state, step. Without the reset it would throw away,
    the same results to the last bit."""
    source = BatchSimulator(pensieve_test_traces, envivio, 12, "train", seed=4)
    for _ in range(5):
        source.step(np.arange(12) % envivio.n_levels)
    saved = (source.trace, source.ptr, source.clock_s, source.buffer_s, source.chunk)
    sims = [
        BatchSimulator(source.table, envivio, 12, "eval", start=start) for start in (True, False)
    ]
    for sim in sims:
        sim.load_state(*saved, source.last_level)
    levels = (np.arange(12) * 5) % envivio.n_levels
    for _ in range(3):
        a, b = (sim.step(levels) for sim in sims)
        for name in a._fields:
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
