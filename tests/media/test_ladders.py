"""Sampled ladders stay in their ranges; a scaled link is simulated exactly by scaled sizes; the
benchmark's videos are the same everywhere."""

import numpy as np
import pytest

from abr.media.augment import rescaled
from abr.media.ladders import (
    BENCH_LADDERS,
    LadderSampler,
    bench_video,
    load_bench_video,
    match_factor,
    median_rate_kbps,
    published_ladders,
    scaled_for_simulation,
)
from abr.sim.simulator import BatchSimulator


def test_sampled_ladders_stay_in_their_ranges():
    sampler = LadderSampler()
    rng = np.random.default_rng(0)
    videos = [sampler.sample(rng) for _ in range(300)]
    counts = [video.n_levels for video in videos]
    assert min(counts) >= 2 and max(counts) <= 12 and len(set(counts)) == 11
    for video in videos:
        ladder = video.bitrates_kbps
        assert np.all(np.diff(ladder) > 0) and np.all(ladder[1:] / ladder[:-1] >= 1.049)
        assert 99 <= ladder[0] <= 1001 and ladder[-1] <= 25_000
        assert 1.0 <= video.chunk_s <= 10.0 and 12 <= video.n_chunks <= 300
    mid = sum(4 <= count <= 10 for count in counts) / len(counts)
    assert mid > 0.7  # the typical counts, most of the time


def test_chunk_lengths_drawn_log_uniform_put_short_chunks_as_often_as_long():
    rng = np.random.default_rng(2)
    for log_scale, share_below_2s in ((False, 1 / 9), (True, np.log(2) / np.log(10))):
        sampler = LadderSampler(chunk_s=(1.0, 10.0), chunk_s_log=log_scale)
        chunks = np.array([sampler.sample(rng).chunk_s for _ in range(600)])
        assert np.all((chunks >= 1.0) & (chunks <= 10.0))
        assert np.mean(chunks < 2.0) == pytest.approx(share_below_2s, abs=0.05)


def test_the_lowest_rung_follows_its_range():
    sampler = LadderSampler(lowest_kbps=(1500.0, 2000.0))
    rng = np.random.default_rng(3)
    lowest = [sampler.sample(rng).bitrates_kbps[0] for _ in range(100)]
    assert min(lowest) >= 1499 and max(lowest) <= 2001


def test_the_library_is_drawn_at_its_rate():
    library = published_ladders()
    sampler = LadderSampler(library=library, library_probability=0.5)
    rng = np.random.default_rng(1)
    drawn = [sampler.sample(rng).name for _ in range(400)]
    share = sum(name in {video.name for video in library} for name in drawn) / len(drawn)
    assert 0.4 < share < 0.6


def test_scaled_sizes_download_as_a_scaled_link(pensieve_test_traces, envivio):
    traces, factor = pensieve_test_traces[:20], 2.5
    over_scaled_link = BatchSimulator(
        [rescaled(t, mbps_factor=factor) for t in traces], envivio, 20, "eval"
    )
    scaled_sizes = BatchSimulator(traces, scaled_for_simulation(envivio, factor), 20, "eval")
    rng = np.random.default_rng(0)
    for _ in range(envivio.n_chunks):
        levels = rng.integers(0, envivio.n_levels, 20)
        a, b = over_scaled_link.step(levels), scaled_sizes.step(levels)
        np.testing.assert_allclose(a.download_s, b.download_s, rtol=1e-9)
        np.testing.assert_allclose(a.buffer_s, b.buffer_s, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(a.rebuffer_s, b.rebuffer_s, rtol=1e-9, atol=1e-12)


def test_a_match_puts_the_median_in_the_ladder_s_range(pensieve_test_traces):
    median = median_rate_kbps(pensieve_test_traces)
    assert 500 < median < 2000  # PROVENANCE.md: a time-weighted mean of 1.2 Mbps over the set
    video = bench_video("uhd")
    rng = np.random.default_rng(0)
    factors = [match_factor(rng, video, median, keep_probability=0.3) for _ in range(200)]
    kept = sum(f == 1.0 for f in factors) / len(factors)
    assert 0.2 < kept < 0.4
    targets = [f * median for f in factors if f != 1.0]
    ladder = video.bitrates_kbps
    assert min(targets) >= np.sqrt(ladder[0] * ladder[-1]) and max(targets) <= 2 * ladder[-1]


def test_a_match_from_lower_on_the_ladder_reaches_below_its_middle(pensieve_test_traces):
    median = median_rate_kbps(pensieve_test_traces)
    video = bench_video("uhd")
    lowest, top = video.bitrates_kbps[0], video.bitrates_kbps[-1]
    rng = np.random.default_rng(0)
    targets = [
        match_factor(rng, video, median, 0.0, from_position=0.25) * median for _ in range(400)
    ]
    low_end = lowest**0.75 * top**0.25
    assert min(targets) >= low_end * (1 - 1e-12) and max(targets) <= 2 * top
    assert min(targets) < 1.1 * low_end  # log-uniform: the low end is reached
    assert np.mean(np.array(targets) < np.sqrt(lowest * top)) > 0.2  # a quarter of the range


def test_the_benchmark_videos_are_fixed():
    for name, (ladder, chunk_s, n_chunks) in BENCH_LADDERS.items():
        video = bench_video(name)
        assert video.bitrates_kbps.tolist() == list(ladder) and video.chunk_s == chunk_s
        assert video.n_chunks == n_chunks
        np.testing.assert_array_equal(video.sizes_bytes, load_bench_video(name).sizes_bytes)
    with pytest.raises(ValueError, match="unknown benchmark video 'x'"):
        bench_video("x")
