"""`abr bench-train`: how fast training goes, collector by collector (and, over sampled ladders,
by the number of videos a batch of sessions plays at once), in one run: env steps/s (chunk
downloads of all sessions) and gradient updates/s over the steady state (from the first update
to the last step; the start-up, demonstrations and validation left out)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from abr.dqn.config import DqnConfig
from abr.dqn.train import train


@dataclass(frozen=True)
class TrainSpeed:
    collector: str
    videos_per_batch: int
    played_by: str  # the collector's own name
    device: str
    env_steps_per_s: float
    updates_per_s: float
    env_steps: int
    updates: int

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def bench_train(
    config: DqnConfig,
    collectors: list[str],
    env_steps: int,
    videos_per_batch: list[int] | None = None,
) -> list[TrainSpeed]:
    """The same run once per collector and videos-a-batch count (no validation until its end,
    which is not timed)."""
    speeds = []
    variants = [
        (collector, videos)
        for collector in collectors
        for videos in (videos_per_batch or [config.videos_per_batch])
    ]
    for collector, videos in variants:
        run_config = replace(
            config,
            collector=collector,
            videos_per_batch=videos,
            total_env_steps=env_steps,
            val_every_env_steps=10 * env_steps,
            learning_starts=min(config.learning_starts, env_steps // 4),
        )
        marks: list[tuple[float, int, int]] = []  # (time, env steps, updates) from the first update
        with tempfile.TemporaryDirectory(prefix="abr-bench-train-") as folder:
            # a mark reads the loss, which waits for the device: a few a second, not every step
            result = train(run_config, Path(folder), _recorder(marks), progress_every_s=0.25)
        marks = marks[:-1]  # the last report follows the run's one validation: not timed
        if len(marks) < 2:
            raise ValueError(f"{env_steps} env steps are too few to time: give more")
        (t0, steps0, updates0), (t1, steps1, updates1) = marks[0], marks[-1]
        seconds = max(t1 - t0, 1e-9)
        speeds.append(
            TrainSpeed(
                collector,
                videos,
                result.collector,
                result.device,
                (steps1 - steps0) / seconds,
                (updates1 - updates0) / seconds,
                result.env_steps,
                result.updates,
            )
        )
    return speeds


def _recorder(marks: list[tuple[float, int, int]]) -> Callable[[dict[str, float]], None]:
    def record(figures: dict[str, float]) -> None:
        if figures["updates"] > 0:
            marks.append((time.perf_counter(), int(figures["env_steps"]), int(figures["updates"])))

    return record
