"""The oracle teacher's own play, by the value it puts on a second of buffer left at the end of its
plans: its mean QoE minus RobustMPC's on sampled ladders (drawn as `configs/any_ladder.toml`'s
training draws them, from a seed that is neither training's nor validation's) over training
traces, in each ladder's reward units. A teacher that loses to RobustMPC by its own play teaches
a model to.

    python scripts/teacher_buffer_sweep.py --seed 11 --ladders 8 --traces 40
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from abr.bench.run import run_policy
from abr.dqn.config import load_config
from abr.dqn.video_mix import ladder_sampler, teacher_horizon
from abr.media.augment import rescaled
from abr.media.ladders import match_factor, median_rate_kbps
from abr.media.traces import load_traces
from abr.media.video import Video
from abr.player.qoe import Qoe, make_qoe
from abr.policies.oracle import FutureAwareOracle
from abr.policies.registry import make_policy

ENVIVIO_TOP_UTILITY, ENVIVIO_CHUNK_S = 4.3, 4.0
# the terminal buffer value (QoE per second) each rule gives a video
RULES: dict[str, Callable[[Qoe, Video], float]] = {
    "0.5": lambda qoe, video: 0.5,
    "0.25": lambda qoe, video: 0.25,
    "0.1": lambda qoe, video: 0.1,
    "0.5 x top utility per second": lambda qoe, video: (
        0.5 * (qoe.utility[-1] / video.chunk_s) / (ENVIVIO_TOP_UTILITY / ENVIVIO_CHUNK_S)
    ),
    "0.5 x top utility": lambda qoe, video: 0.5 * qoe.utility[-1] / ENVIVIO_TOP_UTILITY,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/any_ladder.toml")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--ladders", type=int, default=8)
    parser.add_argument("--traces", type=int, default=40, help="training traces a ladder")
    args = parser.parse_args()
    config = load_config(args.config)
    traces = load_traces(config.traces)
    median_kbps = median_rate_kbps(traces)
    rng = np.random.default_rng(args.seed)
    sampler = replace(ladder_sampler(config), library_probability=0.0)
    gains: dict[str, list[float]] = {name: [] for name in RULES}
    for index in range(args.ladders):
        video = sampler.sample(rng)
        factor = match_factor(rng, video, median_kbps, config.ladder_keep_traces)
        chosen = rng.choice(len(traces), size=min(args.traces, len(traces)), replace=False)
        played = [rescaled(traces[i], mbps_factor=factor) for i in chosen]
        qoe = make_qoe(config.qoe, video.bitrates_kbps)
        horizon = teacher_horizon(
            config.teacher_horizon, video.n_levels, config.teacher_horizon_fill
        )
        robust_mpc = make_policy("mpc", config.qoe)
        mpc = run_policy(robust_mpc, played, video, config.qoe).qoe_per_trace.mean()
        cells = []
        for name, rule in RULES.items():
            oracle = FutureAwareOracle(horizon, rule(qoe, video), config.qoe)
            played_qoe = run_policy(oracle, played, video, config.qoe).qoe_per_trace.mean()
            gain = (played_qoe - mpc) * qoe.ladder_scale
            gains[name].append(gain)
            cells.append(f"{name}: {gain:+.3f}")
        ladder = "/".join(f"{kbps:.0f}" for kbps in video.bitrates_kbps)
        print(
            f"{index} {video.chunk_s:.1f}s x{factor:.2g} [{ladder}] RobustMPC {mpc:.3f} | "
            + "  ".join(cells),
            flush=True,
        )
    for name, values in gains.items():
        print(
            f"{name}: mean gain {np.mean(values):+.3f}, worst {min(values):+.3f}, "
            f"behind RobustMPC on {sum(v < 0 for v in values)} of {len(values)}"
        )


if __name__ == "__main__":
    main()
