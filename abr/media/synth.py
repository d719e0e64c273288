"""A seeded synthetic bandwidth-trace generator of our own design.

Bandwidth follows a Markov chain over `n_states` levels spaced evenly in log between `min_mbps`
and `max_mbps`. The chain stays in a state for an exponential dwell time (mean `mean_dwell_s`),
then moves one or two states up or down (a far jump with probability `jump_prob`). Within a
state, samples every `step_s` seconds are the level times log-normal AR(1) noise
(`noise_sigma`, `noise_correlation`). Outages (zero bandwidth for `outage_s` on average) start
with probability `outage_prob` per sample, so the traces exercise the simulator's zero runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from abr.media.traces import Trace, make_trace, write_cooked


@dataclass(frozen=True)
class SynthConfig:
    duration_s: float = 320.0
    step_s: float = 1.0
    min_mbps: float = 0.2
    max_mbps: float = 6.0
    n_states: int = 8
    mean_dwell_s: float = 20.0
    jump_prob: float = 0.1
    noise_sigma: float = 0.25
    noise_correlation: float = 0.6
    outage_prob: float = 0.002
    outage_s: float = 4.0

    def __post_init__(self) -> None:
        if self.duration_s <= self.step_s or self.step_s <= 0:
            raise ValueError("need duration_s > step_s > 0")
        if not 0 < self.min_mbps < self.max_mbps:
            raise ValueError("need 0 < min_mbps < max_mbps")
        if self.n_states < 2 or self.mean_dwell_s <= 0:
            raise ValueError("need n_states >= 2 and mean_dwell_s > 0")


def synth_trace(config: SynthConfig, rng: np.random.Generator, name: str = "synth") -> Trace:
    n_samples = int(config.duration_s / config.step_s) + 1
    levels_mbps = np.geomspace(config.min_mbps, config.max_mbps, config.n_states)
    state = int(rng.integers(config.n_states))
    dwell_left_s = rng.exponential(config.mean_dwell_s)
    log_noise = 0.0
    innovation = config.noise_sigma * np.sqrt(1 - config.noise_correlation**2)
    outage_left_s = 0.0
    mbps = np.empty(n_samples)
    for i in range(n_samples):
        dwell_left_s -= config.step_s
        if dwell_left_s <= 0:
            state = _next_state(state, config, rng)
            dwell_left_s = rng.exponential(config.mean_dwell_s)
        log_noise = config.noise_correlation * log_noise + rng.normal(0.0, innovation)
        if outage_left_s <= 0 and rng.random() < config.outage_prob:
            outage_left_s = rng.exponential(config.outage_s)
        if outage_left_s > 0:
            outage_left_s -= config.step_s
            mbps[i] = 0.0
        else:
            mbps[i] = levels_mbps[state] * np.exp(log_noise - config.noise_sigma**2 / 2)
    time_s = np.arange(n_samples) * config.step_s
    return make_trace(name, np.round(time_s, 3), np.round(mbps, 4))


def _next_state(state: int, config: SynthConfig, rng: np.random.Generator) -> int:
    if rng.random() < config.jump_prob:
        return int(rng.integers(config.n_states))
    move = int(rng.choice([-2, -1, 1, 2], p=[0.15, 0.35, 0.35, 0.15]))
    return int(np.clip(state + move, 0, config.n_states - 1))


def synth_traces(config: SynthConfig, count: int, seed: int, prefix: str = "synth") -> list[Trace]:
    rng = np.random.default_rng(seed)
    return [synth_trace(config, rng, f"{prefix}_{i:03d}") for i in range(count)]


def write_trace_set(traces: list[Trace], folder: str | Path, decimals: int = 4) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for trace in traces:
        path = folder / Path(trace.name).name
        write_cooked(trace, path, decimals=decimals)
        paths.append(path)
    return paths
