"""Simulator properties on generated traces (hypothesis): zero runs, repeated timestamps, very
short and long traces, random actions. Both backends agree with the scalar reference chunk by
chunk (`run_aligned` asserts it), buffers never go negative, every delay is at least the RTT,
the bytes fetched are the chunk's size, and no step takes long."""

import time

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abr.sim import BatchSimulator, SimConfig
from abr.traces import make_trace
from tests.test_sim import BACKENDS, run_aligned, tiny_video

STEP_LIMIT_S = 0.5  # a step is ~0.1 ms; anything near this limit is a hang


@st.composite
def traces(draw):
    n = draw(st.integers(2, 400))
    steps = draw(
        st.lists(
            st.sampled_from([0.0, 0.05, 0.3, 1.0, 1.0, 2.5, 30.0]), min_size=n - 1, max_size=n - 1
        )
    )
    mbps = draw(
        st.lists(st.sampled_from([0.0, 0.0, 0.05, 0.4, 1.5, 4.0, 60.0]), min_size=n, max_size=n)
    )
    if sum(steps) == 0:
        steps[-1] = 1.0
    positive = [i for i in range(1, n) if steps[i - 1] > 0]
    mbps[draw(st.sampled_from(positive))] = draw(st.sampled_from([0.3, 2.0, 20.0]))  # data flows
    start = draw(st.sampled_from([0.0, 0.0, 1.7]))
    return make_trace("generated", start + np.concatenate(([0.0], np.cumsum(steps))), mbps)


@given(trace=traces(), mode=st.sampled_from(["eval", "train"]), seed=st.integers(0, 1000))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_vectorised_matches_the_scalar_reference(trace, mode, seed):
    for backend in BACKENDS:
        run_aligned([trace], tiny_video(n_chunks=12), mode, backend, seed=seed, n_sessions=3)


@given(trace=traces(), seed=st.integers(0, 1000))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_buffer_delay_bytes_and_step_time(trace, seed):
    video = tiny_video(n_chunks=20)
    config = SimConfig()
    sim = BatchSimulator([trace], video, 4, mode="train", seed=seed)
    rng = np.random.default_rng(seed)
    for chunk in range(video.n_chunks):
        levels = rng.integers(0, video.n_levels, 4)
        started = time.perf_counter()
        result = sim.step(levels)
        assert time.perf_counter() - started < STEP_LIMIT_S
        assert np.all(result.buffer_s >= 0) and np.all(result.rebuffer_s >= 0)
        assert np.all(result.delay_s >= config.rtt_s * config.noise_low)
        assert np.all(result.download_s >= 0) and np.all(result.sleep_s >= 0)
        np.testing.assert_array_equal(result.size_bytes, video.sizes_bytes[levels, chunk])
    assert result.done.all()
