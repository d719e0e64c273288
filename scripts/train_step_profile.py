"""Where a step of training goes: one `abr bench-train` run of a config under cProfile, the
loop's step (`play_and_learn`) alone profiled, its time split by part. Prints a table; the
figures in docs/results.md ("Training speed") come from it.

    python scripts/train_step_profile.py --config configs/default_model.toml --env-steps 30000
"""

from __future__ import annotations

import argparse
import cProfile
import pstats

from abr.dqn import train as training
from abr.dqn.config import load_config
from abr.dqn.train_speed import bench_train

# the part of a step each function is, by (file's ending, function name)
PARTS = {
    ("collect.py", "teach"): "the teacher's labels (the oracle's lookahead)",
    ("collect.py", "act"): "acting (one forward pass)",
    ("collect.py", "step"): "the environment (simulate, encode, reward) and n-step returns",
    ("buffers.py", "add"): "replay insertion",
    ("learner.py", "learn"): "updates (sampling, forward, backward, Adam, target)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--env-steps", type=int, default=30_000)
    args = parser.parse_args()
    profile = cProfile.Profile()
    step = training.play_and_learn

    def profiled(*given, **named):  # type: ignore[no-untyped-def]
        profile.enable()
        try:
            return step(*given, **named)
        finally:
            profile.disable()

    training.play_and_learn = profiled  # type: ignore[assignment]
    speed = bench_train(load_config(args.config), args.env_steps)
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    total = next(t for (_, _, name), (*_, t, _) in stats.items() if name == "play_and_learn")
    steps = args.env_steps
    print(
        f"{speed.env_steps_per_s:,.0f} env steps/s, {speed.updates_per_s:,.1f} updates/s "
        f"(steady state, without the profiler's overhead: rerun bench-train)"
    )
    print(f"{'part of a step':<66} {'ms/1k env steps':>16} {'share':>7}")
    by_part: dict[str, float] = {}
    for (path, _, name), (*_, cumulative, _) in stats.items():
        part = PARTS.get((path.rsplit("/", 1)[-1], name))
        if part is not None:  # an override calling its parent's: the outer one's time
            by_part[part] = max(by_part.get(part, 0.0), cumulative)
    for part in PARTS.values():
        seconds = by_part.get(part, 0.0)
        print(f"{part:<66} {seconds / steps * 1e6:>16.1f} {seconds / total:>7.0%}")
    accounted = sum(by_part.values())
    other, rest = total - accounted, "the rest (schedules, bookkeeping)"
    print(f"{rest:<66} {other / steps * 1e6:>16.1f} {other / total:>7.0%}")


if __name__ == "__main__":
    main()
