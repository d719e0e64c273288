"""Simulator properties on generated traces (hypothesis): zero runs, repeated timestamps, very
short and long traces, random actions. Both backends agree with the scalar reference chunk by
chunk (`run_aligned` asserts it), buffers never go negative, every delay is at least the RTT,
the bytes fetched are the chunk's size, and no step takes long.

The videos are VBR (`synth_video`), not round numbers. With round sizes and round traces a chunk
can end exactly on an interval boundary that a zero-bandwidth run follows; Pensieve's rule
(`sent + payload > size`, strict) then waits out the whole run or not depending on the last bit
of rounding, and the two simulators, which add the same bytes in a different order, can differ
by the length of the run (hypothesis found one: 0.3 s against 31.9 s). Real traces do not hit such
ties; `test_sim.py` pins the exact-tie case with exactly representable numbers."""

import time

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abr.media.traces import make_trace
from abr.media.video import synth_video
from abr.sim.config import SimConfig
from abr.sim.simulator import BatchSimulator
from tests.sim.test_simulator import BACKENDS, run_aligned

LADDER_KBPS = (300.0, 1200.0, 4300.0)

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
        video = synth_video(LADDER_KBPS, 4.0, 12, seed=seed)
        run_aligned([trace], video, mode, backend, seed=seed, n_sessions=3)


@given(trace=traces(), seed=st.integers(0, 1000))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_buffer_delay_bytes_and_step_time(trace, seed):
    video = synth_video(LADDER_KBPS, 4.0, 20, seed=seed)
    config = SimConfig()
    sim = BatchSimulator([trace], video, 4, mode="train", seed=seed)
    rng = np.random.default_rng(seed)
    for chunk in range(video.n_chunks):
        levels = rng.integers(0, video.n_levels, 4)
        started = time.perf_counter()
        result = sim.step(levels)
        assert time.perf_counter() - started < STEP_LIMIT_S
        assert np.all(result.buffer_s >= 0) and np.all(result.rebuffer_s >= 0)
        assert np.all(result.download_s >= config.rtt_s * config.noise_low)
        assert np.all(result.transfer_s >= 0) and np.all(result.sleep_s >= 0)
        np.testing.assert_array_equal(result.size_bytes, video.sizes_bytes[levels, chunk])
    assert result.done.all()
