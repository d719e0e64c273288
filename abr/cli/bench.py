"""`abr bench`, `abr bench-sim`, `abr bench-policy`: QoE tables and speed figures."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from abr.cli.common import (
    command,
    console,
    default_traces,
    format_gain,
    json_option,
    print_json_last,
    show,
    summary_table,
    trace_and_video_options,
    trace_set_name,
)
from abr.player.qoe import QOE_NAMES
from abr.policies.registry import POLICY_HELP

if TYPE_CHECKING:
    from abr.bench.report import Gain
    from abr.bench.run import PolicyRun


def cmd_bench_sim(args: argparse.Namespace) -> None:
    from abr.bench.sim_speed import run_benchmark
    from abr.media.traces import load_traces
    from abr.media.video import load_video

    traces = load_traces(args.traces or default_traces("test"))
    video = load_video(args.video)
    counts = [int(x) for x in args.sessions.split(",")]
    backends = None if args.backend == "all" else [args.backend]
    with console.status("measuring simulator speed"):
        result = run_benchmark(traces, video, counts, args.seconds, backends)
    table = Table(title=f"chunk-steps/s ({len(traces)} traces, training mode)")
    table.add_column("sessions", justify="right")
    by_backend = result.steps_per_s_by_backend
    for backend in by_backend:
        table.add_column(backend, justify="right")
        table.add_column(f"{backend} / reference", justify="right")
    reference = result.reference_steps_per_s
    for n in counts:
        cells = []
        for rates in by_backend.values():
            cells += [f"{rates[str(n)]:,.0f}", f"{rates[str(n)] / reference:.1f}x"]
        table.add_row(str(n), *cells)
    show(table)
    show(f"scalar reference: {reference:,.0f} chunk-steps/s")
    if args.json:
        print_json_last(result.to_dict())


def cmd_bench(args: argparse.Namespace) -> None:
    from rich.progress import Progress

    from abr.bench.report import (
        add_gains_over_mpc,
        plot_cdf,
        plot_timeline,
        summarize_runs,
        write_results,
    )
    from abr.bench.run import run_policy
    from abr.media.ladders import load_bench_video
    from abr.media.traces import load_traces
    from abr.policies.registry import make_policy

    if args.video and args.videos:
        raise ValueError("give --video or --videos, not both")
    sources_of_videos = args.videos or [args.video]
    videos = {_video_label(source): load_bench_video(source) for source in sources_of_videos}
    names = [n.strip() for n in args.policies.split(",") if n.strip()]
    sources = args.traces or default_traces("test")
    out = Path(args.out)
    earlier = {path.name for path in out.glob("*_summary.json")} if out.is_dir() else set()
    matrix = len(videos) > 1 or bool(args.videos)
    results: dict[str, dict[str, dict[str, float | None]]] = {}
    cells: dict[str, dict[str, dict[str, dict[str, float | None]]]] = {}
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("benchmark", total=len(sources) * len(names) * len(videos))
        for source in sources:
            traces = load_traces([source])
            set_name = trace_set_name(source)
            for video_label, video in videos.items():
                cell_name = f"{set_name}@{video_label}" if matrix else set_name
                runs: dict[str, PolicyRun] = {}
                for name in names:
                    progress.update(task, description=f"{cell_name}: {name}")
                    runs[name] = run_policy(make_policy(name, args.qoe), traces, video, args.qoe)
                    progress.advance(task)
                summary = summarize_runs(runs)
                if "mpc" in runs:
                    add_gains_over_mpc(summary, runs)
                results[cell_name] = summary
                cells.setdefault(set_name, {})[video_label] = summary
                write_results(out, cell_name, runs, summary)
                plot_cdf(
                    out / f"{cell_name}_qoe_cdf.png", f"{cell_name}: QoE_{args.qoe} per trace", runs
                )
                index = _timeline_index(runs, args.timeline_trace)
                plot_timeline(
                    out / f"{cell_name}_timeline.png",
                    runs,
                    index,
                    video.bitrates_kbps,
                    video.chunk_s,
                )
                show(summary_table(f"{cell_name} ({len(traces)} traces, QoE {args.qoe})", summary))
    gains = gains_over_mpc(cells) if matrix and "mpc" in names else {}
    for policy, by_set in gains.items():
        show(_gain_table(policy, by_set, list(videos)))
    overwritten = sorted(cell for cell in results if f"{cell}_summary.json" in earlier)
    replaced = (
        f" (replacing an earlier run's results for {', '.join(overwritten)}; "
        "another --out keeps both)"
        if overwritten
        else ""
    )
    console.print(f"results and plots in {out}/{replaced}", highlight=False, soft_wrap=True)
    if args.json:
        if matrix:
            print_json_last(
                {
                    "cells": cells,
                    "gain_over_mpc": _per_cell(gains, lambda gain: gain[0]),
                    "gain_over_mpc_interval": _per_cell(gains, lambda gain: [gain[1], gain[2]]),
                }
            )
        else:
            print_json_last(next(iter(results.values())) if len(results) == 1 else results)


def _video_label(source: str | None) -> str:
    return "default" if source is None else Path(source).stem or str(source)


def gains_over_mpc(
    cells: Mapping[str, Mapping[str, Mapping[str, Mapping[str, float | None]]]],
) -> dict[str, dict[str, dict[str, Gain]]]:
    """policy -> trace set -> video -> its gain over RobustMPC in that cell, RobustMPC left out."""
    from abr.bench.report import gain_of

    gains: dict[str, dict[str, dict[str, Gain]]] = {}
    for set_name, by_video in cells.items():
        for video_label, summary in by_video.items():
            for policy, metrics in summary.items():
                if policy != "mpc":
                    by_set = gains.setdefault(policy, {}).setdefault(set_name, {})
                    by_set[video_label] = gain_of(metrics)
    return gains


def _per_cell(
    gains: Mapping[str, Mapping[str, Mapping[str, Gain]]], pick: Callable[[Gain], object]
) -> dict[str, dict[str, dict[str, object]]]:
    """policy -> trace set -> video -> one part of that cell's gain."""
    return {
        policy: {
            set_name: {video: pick(gain) for video, gain in by_video.items()}
            for set_name, by_video in by_set.items()
        }
        for policy, by_set in gains.items()
    }


def _gain_table(policy: str, by_set: Mapping[str, Mapping[str, Gain]], videos: list[str]) -> Table:
    table = Table(title=f"{policy} minus RobustMPC, mean QoE [95% paired bootstrap]")
    table.add_column("trace set")
    for video in videos:
        table.add_column(video, justify="right")
    for set_name, by_video in by_set.items():
        table.add_row(set_name, *(format_gain(by_video[video]) for video in videos))
    return table


def _timeline_index(runs: Mapping[str, PolicyRun], wanted: str | None) -> int:
    names = [Path(n).name for n in next(iter(runs.values())).trace_names]
    if wanted is None:
        return 0
    if wanted in names:
        return names.index(wanted)
    raise ValueError(f"--timeline-trace {wanted!r} is not in the trace set")


def cmd_bench_policy(args: argparse.Namespace) -> None:
    from abr.bench.policy_speed import decisions_per_s
    from abr.media.traces import load_traces
    from abr.media.video import load_video
    from abr.policies.registry import make_policy

    video = load_video(args.video)
    traces = load_traces(args.traces or default_traces("test"))
    policy = make_policy(args.policy)
    result: dict[str, object] = {"policy": args.policy}
    if hasattr(policy, "model"):
        result["providers"] = policy.model.providers
    rates: dict[str, float] = {}
    for batch_size in (int(b) for b in args.batch_sizes.split(",")):
        rates[str(batch_size)] = decisions_per_s(policy, traces, video, batch_size, args.seconds)
    result["decisions_per_s"] = rates
    table = Table(title=f"{args.policy}: decisions/s (encoding included)")
    table.add_column("batch", justify="right")
    table.add_column("decisions/s", justify="right")
    table.add_column("calls/s", justify="right")
    for size, rate in rates.items():
        table.add_row(size, f"{rate:,.0f}", f"{rate / int(size):,.0f}")
    show(table)
    if args.json:
        print_json_last(result)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = command(sub, "bench", "replay trace sets through policies: QoE tables, CSV/JSON, plots")
    trace_and_video_options(bench, "trace folders, one table each (default: traces/default/test)")
    bench.add_argument(
        "--videos",
        nargs="+",
        help="a matrix: every trace set with every video (a folder, a JSON, or a benchmark "
        "ladder: hls10, low4, uhd); a table per pair and each policy's gains over RobustMPC",
    )
    bench.add_argument("--policies", default="bb,rb,bola,mpc,dynamic", help=POLICY_HELP)
    bench.add_argument("--qoe", choices=QOE_NAMES, default="lin")
    bench.add_argument("--out", default="out/bench", help="folder for CSV, JSON and PNG results")
    bench.add_argument(
        "--timeline-trace", help="trace file name for the timeline plot (default: first)"
    )
    json_option(bench)
    bench.set_defaults(func=cmd_bench)

    bench_policy = command(sub, "bench-policy", "policy speed: decisions/s at given batch sizes")
    trace_and_video_options(bench_policy, "trace folders for states (default: traces/default/test)")
    bench_policy.add_argument("--policy", default="onnx", help=POLICY_HELP)
    bench_policy.add_argument("--batch-sizes", default="1,1024", help="comma-separated")
    bench_policy.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    json_option(bench_policy)
    bench_policy.set_defaults(func=cmd_bench_policy)

    bench_sim = command(
        sub, "bench-sim", "simulator speed: vectorised vs scalar reference, chunk-steps/s"
    )
    trace_and_video_options(bench_sim, "trace folders (default: traces/default/test)")
    bench_sim.add_argument("--sessions", default="1,64,1024,4096", help="session counts")
    bench_sim.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    bench_sim.add_argument("--backend", choices=("all", "numba", "numpy"), default="all")
    json_option(bench_sim)
    bench_sim.set_defaults(func=cmd_bench_sim)
