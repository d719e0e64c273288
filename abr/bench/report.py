"""Tables, files and plots for `abr bench` results."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from abr.bench.paired import paired_gain
from abr.bench.run import PolicyRun

GAP_KEYS = ("gap_to_best_online", "gap_to_optimal")
FUTURE_AWARE = ("optimal", "oracle")  # they read the trace: not online, not in "best online"


def summarize_runs(runs: Mapping[str, PolicyRun]) -> dict[str, dict[str, float | None]]:
    """Aggregate per policy, with each policy's gap (mean QoE) to the best online policy (the
    optimum and the future-aware teacher are not online) and to the optimum (None when the
    optimum was not run)."""
    summary: dict[str, dict[str, float | None]] = {
        name: dict(run.aggregate()) for name, run in runs.items()
    }
    online = [name for name in runs if name.split(":")[0] not in FUTURE_AWARE]
    best_online = max((summary[n]["mean_qoe"] or 0.0 for n in online), default=None)
    optimal = summary.get("optimal", {}).get("mean_qoe")
    for metrics in summary.values():
        mean = metrics["mean_qoe"]
        assert mean is not None
        metrics["gap_to_best_online"] = None if best_online is None else best_online - mean
        metrics["gap_to_optimal"] = None if optimal is None else optimal - mean
    return summary


def add_gains_over_mpc(
    summary: dict[str, dict[str, float | None]], runs: Mapping[str, PolicyRun]
) -> None:
    """Each policy's mean QoE minus RobustMPC's (`mpc` among the runs) over the same traces, with
    its 95 % paired bootstrap interval (abr/bench/paired.py): `gain_over_mpc`, `_low`, `_high`
    (RobustMPC's own row: 0, so that every row has the same columns)."""
    reference = runs["mpc"].qoe_per_trace
    for name, run in runs.items():
        gain = paired_gain(run.qoe_per_trace, reference)
        summary[name]["gain_over_mpc"] = gain.mean
        summary[name]["gain_over_mpc_low"] = gain.low
        summary[name]["gain_over_mpc_high"] = gain.high


Gain = tuple[float, float, float]  # mean QoE minus RobustMPC's, and its 95 % interval's ends


def gain_of(metrics: Mapping[str, float | None]) -> Gain:
    """The gain over RobustMPC that `add_gains_over_mpc` put in a policy's summary."""
    mean, low, high = (metrics[f"gain_over_mpc{end}"] for end in ("", "_low", "_high"))
    assert mean is not None and low is not None and high is not None
    return mean, low, high


def write_results(
    out: Path, set_name: str, runs: Mapping[str, PolicyRun], summary: Mapping[str, Mapping]
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / f"{set_name}_per_trace.csv", "w", newline="") as f:
        writer = csv.writer(f)
        fields = list(next(iter(runs.values())).summaries[0].to_dict())
        writer.writerow(["policy", "trace", *fields])
        for name, run in runs.items():
            for trace, session in zip(run.trace_names, run.summaries, strict=True):
                writer.writerow([name, Path(trace).name, *session.to_dict().values()])
    with open(out / f"{set_name}_summary.csv", "w", newline="") as f:
        writer = csv.writer(f)
        fields = list(next(iter(summary.values())))
        writer.writerow(["policy", *fields])
        for name, metrics in summary.items():
            writer.writerow([name, *metrics.values()])
    (out / f"{set_name}_summary.json").write_text(json.dumps(summary, indent=1) + "\n")


def plot_cdf(path: Path, title: str, runs: Mapping[str, PolicyRun]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, run in runs.items():
        qoe = np.sort(run.qoe_per_trace)
        ax.step(qoe, np.arange(1, len(qoe) + 1) / len(qoe), where="post", label=name)
    ax.set_xlabel("mean QoE per chunk (trace)")
    ax.set_ylabel("fraction of traces")
    _finish(fig, ax, title, path)


def plot_timeline(
    path: Path,
    runs: Mapping[str, PolicyRun],
    trace_index: int,
    bitrates_kbps: np.ndarray,
    chunk_s: float,
) -> None:
    """`timeline_figure`, saved as a PNG."""
    import matplotlib.pyplot as plt

    fig = timeline_figure(runs, trace_index, bitrates_kbps, chunk_s)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def timeline_figure(
    runs: Mapping[str, PolicyRun], trace_index: int, bitrates_kbps: np.ndarray, chunk_s: float
) -> Any:
    """Bitrate, buffer, measured throughput and rebuffering per chunk of one trace; each
    policy in one colour, its stalls as bars of its own beside the others', named with their
    total in the last panel's legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(4, 1, figsize=(8, 9), sharex=True)
    bar_width = 0.8 / len(runs)  # each policy's stalls side by side within a chunk
    for position, (name, run) in enumerate(runs.items()):
        chunks = np.arange(1, run.levels.shape[0] + 1)
        (line,) = axes[0].step(
            chunks, bitrates_kbps[run.levels[:, trace_index]], where="post", label=name
        )
        colour = line.get_color()
        axes[1].plot(chunks, run.buffer_s[:, trace_index], color=colour, label=name)
        axes[2].plot(chunks, run.throughput_kbps[:, trace_index], color=colour, label=name)
        stalls_s = run.rebuffer_s[:, trace_index]
        if stalls_s.sum() > 0:
            offset = (position - (len(runs) - 1) / 2) * bar_width
            label = f"{name}: {stalls_s.sum():.1f} s"
            axes[3].bar(chunks + offset, stalls_s, width=bar_width, color=colour, label=label)
    if axes[3].get_legend_handles_labels()[0]:
        axes[3].legend(fontsize=8, ncol=3, title="stalled", title_fontsize=8)
    else:
        axes[3].text(0.5, 0.5, "no policy stalled", transform=axes[3].transAxes, ha="center")
    labels = ("bitrate (kbps)", "buffer (s)", "throughput (kbps)", "rebuffer (s)")
    for ax, label in zip(axes, labels, strict=True):
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel(f"chunk ({chunk_s:g} s each)")
    trace_name = Path(next(iter(runs.values())).trace_names[trace_index]).name
    axes[0].set_title(f"timeline of {trace_name}")
    axes[0].legend(fontsize=8, ncol=3)
    fig.tight_layout()
    return fig


def plot_latency(path: Path, title: str, answered_at_s: np.ndarray, latency_s: np.ndarray) -> None:
    """Request latency over the run: p50, p99 and max per one-second bin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    if len(latency_s):
        bins = np.floor(answered_at_s).astype(np.int64)
        seconds = np.unique(bins)
        for q, label in ((50, "p50"), (99, "p99"), (100, "max")):
            values = [np.percentile(latency_s[bins == s], q) * 1000.0 for s in seconds]
            ax.plot(seconds, values, label=label)
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("latency (ms)")
    ax.set_yscale("log")
    _finish(fig, ax, title, path)


def _finish(fig: Any, ax: Any, title: str, path: Path) -> None:
    """Title, grid and legend, then the PNG; the figure is closed."""
    import matplotlib.pyplot as plt

    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
