"""Simulator speed: chunk-steps per second, vectorised vs the scalar reference, in one run."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from abr.media.traces import Trace
from abr.media.video import Video
from abr.sim import kernel as sim_kernel
from abr.sim.reference import ReferenceSession
from abr.sim.simulator import BatchSimulator

DEFAULT_SESSION_COUNTS = (1, 64, 1024, 4096)


def best_rate(run_once: Callable[[], int], min_seconds: float, rounds: int = 3) -> float:
    """Steps per second of `run_once` (which returns steps done): the best of `rounds` rounds of
    min_seconds / rounds each, so that a burst of load from elsewhere on a shared machine
    lowers one round, not the figure."""
    run_once()  # warm-up: compilation, caches
    best = 0.0
    for _ in range(rounds):
        steps, start = 0, time.perf_counter()
        while True:
            steps += run_once()
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds / rounds:
                break
        best = max(best, steps / elapsed)
    return best


def reference_steps_per_s(traces: Sequence[Trace], video: Video, min_seconds: float) -> float:
    rng = np.random.default_rng(0)
    sizes = video.sizes_bytes.tolist()
    series = [(t.time_s.tolist(), t.mbps.tolist()) for t in traces]
    counter = iter(range(10**12))

    def one_video() -> int:
        time_s, mbps = series[next(counter) % len(series)]
        session = ReferenceSession(time_s, mbps, video.chunk_s, int(rng.integers(1, len(mbps))))
        levels = rng.integers(0, video.n_levels, video.n_chunks).tolist()
        noise = rng.uniform(0.9, 1.1, video.n_chunks).tolist()  # drawn up front: time the loop
        for chunk, level in enumerate(levels):
            session.fetch(sizes[level][chunk], noise[chunk])
        return video.n_chunks

    return best_rate(one_video, min_seconds)


def vectorised_steps_per_s(
    traces: Sequence[Trace], video: Video, n_sessions: int, backend: str, min_seconds: float
) -> float:
    sim = BatchSimulator(traces, video, n_sessions, mode="train", seed=0, backend=backend)  # type: ignore[arg-type]
    levels = np.random.default_rng(1).integers(0, video.n_levels, (video.n_chunks, n_sessions))

    def one_video() -> int:
        sim.reset()
        for chunk in range(video.n_chunks):
            sim.step(levels[chunk])
        return video.n_chunks * n_sessions

    return best_rate(one_video, min_seconds)


def available_backends() -> list[str]:
    """numba (when installed) and numpy."""
    return ["numba", "numpy"] if sim_kernel.HAVE_NUMBA else ["numpy"]


@dataclass(frozen=True)
class SimSpeed:
    """Chunk-steps/s of the scalar reference and of each backend at each session count."""

    traces: int
    chunks_per_video: int
    reference_steps_per_s: float
    steps_per_s_by_backend: dict[str, dict[str, float]]  # backend -> session count -> rate

    @property
    def backend(self) -> str:
        """What `BatchSimulator` runs: numba when installed, else numpy (listed first)."""
        return next(iter(self.steps_per_s_by_backend))

    def to_dict(self) -> dict[str, object]:
        largest = max(self.steps_per_s_by_backend[self.backend], key=int)
        return {
            "traces": self.traces,
            "chunks_per_video": self.chunks_per_video,
            "reference_steps_per_s": self.reference_steps_per_s,
            "backend": self.backend,
            "steps_per_s": self.steps_per_s_by_backend[self.backend],
            "steps_per_s_by_backend": self.steps_per_s_by_backend,
            f"speedup_at_{largest}": self.steps_per_s_by_backend[self.backend][largest]
            / self.reference_steps_per_s,
            "speedup_by_backend": {
                b: r[largest] / self.reference_steps_per_s
                for b, r in self.steps_per_s_by_backend.items()
            },
        }


def run_benchmark(
    traces: Sequence[Trace],
    video: Video,
    session_counts: Sequence[int] = DEFAULT_SESSION_COUNTS,
    min_seconds: float = 2.0,
    backends: Sequence[str] | None = None,
) -> SimSpeed:
    """Training-mode stepping (random traces and starts, noise, random levels)."""
    if backends is None:
        backends = available_backends()
    reference = reference_steps_per_s(traces, video, min_seconds)
    by_backend = {
        backend: {
            str(n): vectorised_steps_per_s(traces, video, n, backend, min_seconds)
            for n in session_counts
        }
        for backend in backends
    }
    return SimSpeed(len(traces), video.n_chunks, reference, by_backend)
