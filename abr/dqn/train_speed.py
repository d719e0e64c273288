"""`abr bench-train`: how fast training goes: env steps/s (chunk downloads of all sessions) and
gradient updates/s over the steady state (from the first update to the last step; the start-up,
demonstrations and validation left out). Compare two versions of the code by running it under
each, alternating, in one sitting: this machine's speed varies from day to day."""

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
    played_by: str  # the collector's name, e.g. "host (numba), sampled ladders"
    device: str
    env_steps_per_s: float
    updates_per_s: float
    env_steps: int
    updates: int

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def bench_train(config: DqnConfig, env_steps: int) -> TrainSpeed:
    """One run of `config` for `env_steps` (no validation until its end, which is not timed)."""
    run_config = replace(
        config,
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
    return TrainSpeed(
        result.collector,
        result.device,
        (steps1 - steps0) / seconds,
        (updates1 - updates0) / seconds,
        result.env_steps,
        result.updates,
    )


def _recorder(marks: list[tuple[float, int, int]]) -> Callable[[dict[str, float]], None]:
    def record(figures: dict[str, float]) -> None:
        if figures["updates"] > 0:
            marks.append((time.perf_counter(), int(figures["env_steps"]), int(figures["updates"])))

    return record
