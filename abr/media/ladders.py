"""Videos to train and test one model for every ladder: a sampler of ladders (rung count, lowest
and highest rate, spacing with jitter, chunk length, VBR sizes from `synth_video`), a small
library of published ladders, the four videos of the ladder benchmark, and how traces are matched
to a ladder's range.

A video over traces whose bandwidth is scaled by f downloads exactly as the video with every
chunk size divided by f over the traces as recorded (the trace walk is linear in bytes; the RTT
and the noise do not depend on either). Training uses that: the simulator keeps one trace table
and plays `scaled_for_simulation(video, f)`, while the player is shown the true sizes and the
true throughputs (abr/dqn/video_mix.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from abr.media.trace_stats import mean_mbps
from abr.media.traces import Trace
from abr.media.video import (
    ENVIVIO_BITRATES_KBPS,
    ENVIVIO_CHUNK_S,
    Video,
    load_video,
    synth_video,
)

# Apple's HLS authoring specification for Apple devices, the H.264 16:9 ladder (kbps), 6-s chunks
APPLE_HLS_KBPS = (145.0, 365.0, 730.0, 1100.0, 2000.0, 3000.0, 4500.0, 6000.0, 7800.0)
APPLE_HLS_CHUNK_S = 6.0

# The ladder benchmark's videos (docs/results.md, "Any ladder"): none is in the training library;
# each a fixed synthetic VBR encode. Envivio joins them from its own size table.
BENCH_LADDERS: dict[str, tuple[tuple[float, ...], float, int]] = {
    # name: (ladder kbps, chunk_s, chunks)
    "hls10": ((235, 375, 560, 750, 1050, 1750, 2350, 3000, 4300, 5800), 6.0, 50),
    "low4": ((200, 400, 800, 1400), 2.0, 100),
    "uhd": ((1500, 3000, 6000, 9000, 12000, 16000), 4.0, 50),
}


def bench_video(name: str) -> Video:
    """One of the ladder benchmark's synthetic videos, the same on every machine."""
    if name not in BENCH_LADDERS:
        raise ValueError(
            f"unknown benchmark video {name!r}; expected one of {sorted(BENCH_LADDERS)}"
        )
    ladder, chunk_s, n_chunks = BENCH_LADDERS[name]
    return synth_video(tuple(float(kbps) for kbps in ladder), chunk_s, n_chunks, seed=7, name=name)


def load_bench_video(source: str | None) -> Video:
    """A benchmark ladder by name (hls10, low4, uhd), or any video `load_video` reads."""
    if source in BENCH_LADDERS:
        return bench_video(source)
    return load_video(source)


@dataclass(frozen=True)
class LadderSampler:
    """Random videos: `sample` draws a ladder and its encode."""

    min_rungs: int = 2
    max_rungs: int = 12
    lowest_kbps: tuple[float, float] = (100.0, 1000.0)  # log-uniform
    top_ratio: tuple[float, float] = (4.0, 60.0)  # highest / lowest, log-uniform
    max_top_kbps: float = 25_000.0
    chunk_s: tuple[float, float] = (1.0, 10.0)
    chunk_s_log: bool = False  # chunk lengths log-uniform (short ones as often as long), or uniform
    duration_s: tuple[float, float] = (120.0, 400.0)
    spacing_jitter: float = 0.25  # of the geometric step, in log rate
    library_probability: float = 0.25  # a published ladder instead of a drawn one
    library: tuple[Video, ...] = ()

    def sample(self, rng: np.random.Generator) -> Video:
        if self.library and rng.random() < self.library_probability:
            return self.library[int(rng.integers(len(self.library)))]
        n = self._rung_count(rng)
        lowest = _log_uniform(rng, *self.lowest_kbps)
        highest = min(lowest * _log_uniform(rng, *self.top_ratio), self.max_top_kbps)
        ladder = _spaced(rng, lowest, max(highest, lowest * 1.5), n, self.spacing_jitter)
        draw = _log_uniform if self.chunk_s_log else _uniform
        chunk_s = round(draw(rng, *self.chunk_s), 1)
        n_chunks = int(np.clip(round(rng.uniform(*self.duration_s) / chunk_s), 2, 300))
        return synth_video(
            tuple(ladder),
            chunk_s,
            n_chunks,
            seed=int(rng.integers(2**31)),
            complexity_sigma=float(rng.uniform(0.05, 0.4)),
            name=f"sampled-{n}x{chunk_s:g}s",
        )

    def _rung_count(self, rng: np.random.Generator) -> int:
        """Every count from min_rungs to max_rungs, the typical 4..10 three to six times as often
        as the extremes (a triangle around the middle of the range, floored at 1)."""
        counts = np.arange(self.min_rungs, self.max_rungs + 1)
        middle = (self.min_rungs + self.max_rungs) / 2
        weights = np.maximum(1.0, 6.0 - np.abs(counts - middle))
        return int(rng.choice(counts, p=weights / weights.sum()))


def published_ladders(seed: int = 0) -> tuple[Video, ...]:
    """Apple's HLS ladder and Envivio's, as synthetic VBR encodes of about 200 s."""
    return (
        synth_video(APPLE_HLS_KBPS, APPLE_HLS_CHUNK_S, 34, seed=seed, name="apple-hls"),
        synth_video(
            tuple(float(k) for k in ENVIVIO_BITRATES_KBPS),
            ENVIVIO_CHUNK_S,
            48,
            seed=seed + 1,
            name="envivio-synth",
        ),
    )


def _uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _spaced(
    rng: np.random.Generator, lowest: float, highest: float, n: int, jitter: float
) -> list[float]:
    """n rates from lowest to highest, geometric with jitter on the inner rungs, strictly
    increasing by at least 5 %, rounded to whole kbps."""
    log_rates = np.linspace(np.log(lowest), np.log(highest), n)
    if n > 2:
        step = (log_rates[-1] - log_rates[0]) / (n - 1)
        log_rates[1:-1] += rng.normal(0.0, jitter * step, n - 2)
        log_rates = np.sort(log_rates)
    rates = [float(np.round(np.exp(log_rates[0])))]
    for log_rate in log_rates[1:]:
        rates.append(float(np.round(max(np.exp(log_rate), rates[-1] * 1.05))))
    return rates


def scaled_for_simulation(video: Video, mbps_factor: float) -> Video:
    """The video to simulate over the recorded traces in place of `video` over traces scaled by
    `mbps_factor`: the same ladder, every size divided by the factor."""
    return replace(video, sizes_bytes=video.sizes_bytes / mbps_factor)


def median_rate_kbps(traces: Sequence[Trace]) -> float:
    """The median over traces of each trace's time-weighted mean throughput."""
    return float(np.median([mean_mbps(trace) for trace in traces])) * 1000.0


def match_factor(
    rng: np.random.Generator,
    video: Video,
    traces_median_kbps: float,
    keep_probability: float,
    from_position: float = 0.5,
) -> float:
    """The bandwidth factor for one episode of `video`: 1 (the traces as recorded) with
    `keep_probability`, else one that puts the traces' median at a log-uniform point between
    the ladder's log-position `from_position` (0: its lowest rung; 0.5: its middle, the geometric
    mean of its ends; 1: its top) and twice its top: a service picks its ladder for its viewers'
    networks, most of which can play most of it."""
    if rng.random() < keep_probability:
        return 1.0
    lowest, top = float(video.bitrates_kbps[0]), float(video.bitrates_kbps[-1])
    low_end = lowest ** (1.0 - from_position) * top**from_position
    target = _log_uniform(rng, low_end, top * 2.0)
    return target / traces_median_kbps
