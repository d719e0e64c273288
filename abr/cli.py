"""The `abr` command line. Each subcommand's --help says what it does and what it prints."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from abr.policies import ONLINE_POLICIES, POLICY_HELP
from abr.qoe import QOE_NAMES
from abr.traces import DEFAULT_MAHIMAHI_BIN_MS, TRACE_FORMATS, TraceError
from abr.video import VideoError

if TYPE_CHECKING:
    from abr.dqn.config import DqnConfig

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TRACES = REPO_ROOT / "traces" / "default"
console = Console(stderr=True)


def _default_traces(split: str) -> list[str]:
    folder = DEFAULT_TRACES / split
    if not folder.is_dir():
        raise TraceError(f"{folder}: the default trace set is missing; pass --traces DIR")
    return [str(folder)]


def _print_json_last(data: object) -> None:
    """The machine-readable result: one JSON object on the last line of stdout."""
    print(json.dumps(data, default=float))


def _table(title: str, rows: Mapping[str, object]) -> Table:
    table = Table(title=title, show_header=False)
    for key, value in rows.items():
        table.add_row(key, f"{value:,.4g}" if isinstance(value, float) else str(value))
    return table


# ---------------------------------------------------------------- traces
def cmd_traces_stats(args: argparse.Namespace) -> None:
    from abr.trace_stats import trace_set_stats
    from abr.traces import load_traces

    stats = trace_set_stats(load_traces(args.sources, args.format, args.bin_ms))
    Console().print(_table(" ".join(args.sources), stats))
    if args.json:
        _print_json_last(stats)


def cmd_traces_convert(args: argparse.Namespace) -> None:
    from abr.traces import load_traces, trace_paths, write_cooked, write_mahimahi

    sources = trace_paths([args.source])
    traces = load_traces(sources, args.from_format, args.bin_ms)
    target = Path(args.dest)
    to_folder = Path(args.source).is_dir() or len(traces) > 1
    if to_folder:
        target.mkdir(parents=True, exist_ok=True)
    writer = write_mahimahi if args.to == "mahimahi" else write_cooked
    for path, trace in zip(sources, traces, strict=True):
        out = target / path.name if to_folder else target
        if args.to == "mahimahi" and to_folder and out.suffix != ".down":
            out = out.with_name(out.name + ".down")
        writer(trace, out)
    console.print(f"wrote {len(traces)} {args.to} trace(s) to {target}")


def cmd_traces_synth(args: argparse.Namespace) -> None:
    from abr.synth import SynthConfig, synth_traces, write_trace_set

    config = SynthConfig(
        duration_s=args.duration_s,
        step_s=args.step_s,
        min_mbps=args.min_mbps,
        max_mbps=args.max_mbps,
        mean_dwell_s=args.mean_dwell_s,
        outage_prob=args.outage_prob,
    )
    traces = synth_traces(config, args.count, args.seed, args.prefix)
    paths = write_trace_set(traces, args.out)
    console.print(f"wrote {len(paths)} traces to {args.out}")


# ---------------------------------------------------------------- video
def cmd_video_synth(args: argparse.Namespace) -> None:
    from abr.video import save_video_json, synth_video

    ladder = tuple(float(x) for x in args.ladder.split(","))
    video = synth_video(ladder, args.chunk_s, args.chunks, args.seed, name=args.name)
    save_video_json(video, args.out)
    console.print(f"wrote {args.out}: {video.n_levels} levels x {video.n_chunks} chunks")


def cmd_video_info(args: argparse.Namespace) -> None:
    from abr.video import load_video

    video = load_video(args.source)
    mean_kbps = video.sizes_bytes.mean(axis=1) * 8 / 1000 / video.chunk_s
    info = {
        "name": video.name,
        "levels": video.n_levels,
        "chunks": video.n_chunks,
        "chunk_s": video.chunk_s,
        "bitrates_kbps": video.bitrates_kbps.tolist(),
        "mean_encoded_kbps": [round(float(x), 1) for x in mean_kbps],
    }
    Console().print(_table(video.name, info))
    if args.json:
        _print_json_last(info)


# ---------------------------------------------------------------- bench-sim
def cmd_bench_sim(args: argparse.Namespace) -> None:
    from abr.bench_sim import run_benchmark
    from abr.traces import load_traces
    from abr.video import load_video

    traces = load_traces(args.traces or _default_traces("test"))
    video = load_video(args.video)
    counts = [int(x) for x in args.sessions.split(",")]
    backends = None if args.backend == "all" else [args.backend]
    with console.status("measuring simulator speed"):
        result = run_benchmark(traces, video, counts, args.seconds, backends)
    table = Table(title=f"chunk-steps/s ({len(traces)} traces, training mode)")
    table.add_column("sessions", justify="right")
    by_backend: dict[str, dict[str, float]] = result["steps_per_s_by_backend"]  # type: ignore[assignment]
    for backend in by_backend:
        table.add_column(backend, justify="right")
        table.add_column(f"{backend} / reference", justify="right")
    reference = float(result["reference_steps_per_s"])  # type: ignore[arg-type]
    for n in counts:
        cells = []
        for rates in by_backend.values():
            cells += [f"{rates[str(n)]:,.0f}", f"{rates[str(n)] / reference:.1f}x"]
        table.add_row(str(n), *cells)
    Console().print(table)
    Console().print(f"scalar reference: {reference:,.0f} chunk-steps/s")
    if args.json:
        _print_json_last(result)


# ---------------------------------------------------------------- bench
def cmd_bench(args: argparse.Namespace) -> None:
    from rich.progress import Progress

    from abr.bench import run_policy
    from abr.bench_report import plot_cdf, plot_timeline, summarize_runs, write_results
    from abr.policies import make_policy
    from abr.traces import load_traces
    from abr.video import load_video

    video = load_video(args.video)
    names = [n.strip() for n in args.policies.split(",") if n.strip()]
    sources = args.traces or _default_traces("test")
    out = Path(args.out)
    results: dict[str, dict[str, dict[str, float | None]]] = {}
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("benchmark", total=len(sources) * len(names))
        for source in sources:
            set_name = _set_name(source)
            traces = load_traces([source])
            runs = {}
            for name in names:
                progress.update(task, description=f"{set_name}: {name}")
                runs[name] = run_policy(make_policy(name, args.qoe), traces, video, args.qoe)
                progress.advance(task)
            summary = summarize_runs(runs)
            results[set_name] = summary
            write_results(out, set_name, runs, summary)
            plot_cdf(out / f"{set_name}_qoe_cdf.png", f"{set_name}: QoE_{args.qoe} per trace", runs)
            index = _timeline_index(runs, args.timeline_trace)
            plot_timeline(
                out / f"{set_name}_timeline.png", runs, index, video.bitrates_kbps, video.chunk_s
            )
            Console(width=140).print(
                _summary_table(f"{set_name} ({len(traces)} traces, QoE {args.qoe})", summary)
            )
    console.print(f"results and plots in {out}/")
    if args.json:
        _print_json_last(next(iter(results.values())) if len(results) == 1 else results)


def _set_name(source: str) -> str:
    """`pensieve_test` for .../pensieve/test; the folder's name otherwise."""
    path = Path(source)
    return f"{path.parent.name}_{path.name}" if path.name in ("test", "train") else path.name


def _timeline_index(runs: Mapping[str, object], wanted: str | None) -> int:
    names = [Path(n).name for n in next(iter(runs.values())).trace_names]  # type: ignore[attr-defined]
    if wanted is None:
        return 0
    if wanted in names:
        return names.index(wanted)
    raise ValueError(f"--timeline-trace {wanted!r} is not in the trace set")


def _summary_table(title: str, summary: Mapping[str, Mapping[str, float | None]]) -> Table:
    columns = (
        ("mean_qoe", "mean QoE", "{:.3f}"),
        ("median_qoe", "median", "{:.3f}"),
        ("p10_qoe", "p10", "{:.3f}"),
        ("avg_bitrate_kbps", "kbps", "{:.0f}"),
        ("rebuffer_ratio", "rebuf %", "{:.2%}"),
        ("switches", "switches", "{:.1f}"),
        ("gap_to_best_online", "gap online", "{:+.3f}"),
        ("gap_to_optimal", "gap opt", "{:+.3f}"),
        ("seconds", "s", "{:.2f}"),
    )
    table = Table(title=title)
    table.add_column("policy")
    for _, header, _ in columns:
        table.add_column(header, justify="right")
    for name, metrics in summary.items():
        cells = [
            fmt.format(metrics[key]) if metrics[key] is not None else "-" for key, _, fmt in columns
        ]
        table.add_row(name, *cells)
    return table


# ---------------------------------------------------------------- train
def cmd_train(args: argparse.Namespace) -> None:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from abr.dqn.train import resume_config, train

    if args.resume:
        config, out = resume_config(args.resume), args.resume
    else:
        config, out = _train_config(args), args.out

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[figures]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("training", total=config.total_env_steps, figures="")

        def show(figures: dict[str, float]) -> None:
            progress.update(
                task,
                completed=figures["env_steps"],
                figures=(
                    f"{figures['steps_per_s']:,.0f} steps/s  eps {figures['epsilon']:.2f}  "
                    f"loss {figures['loss']:.3f}  val QoE {figures['val_qoe']:.3f}"
                ),
            )

        result = train(config, out, show, resume=bool(args.resume))
    Console().print(_table(f"trained: {out}", result.to_dict()))
    table = json.loads((Path(out) / "validation_table.json").read_text())
    Console(width=140).print(_summary_table(f"validation traces, QoE {config.qoe}", table))
    by_set_path = Path(out) / "validation_table_by_set.json"
    if by_set_path.is_file():
        for name, set_table in json.loads(by_set_path.read_text()).items():
            Console(width=140).print(_summary_table(f"validation set {name}", set_table))
    if args.json:
        _print_json_last(result.to_dict())


def _train_config(args: argparse.Namespace) -> DqnConfig:
    from abr.dqn.config import load_config

    return load_config(
        args.config,
        traces=args.traces,
        val_traces=args.val_traces,
        video=args.video,
        qoe=args.qoe,
        device=args.device,
        seed=args.seed,
        n_sessions=args.sessions,
        total_env_steps=args.total_env_steps,
        n_step=args.n_step,
        double=False if args.no_double else None,
        dueling=False if args.no_dueling else None,
        per=False if args.no_per else None,
        demo_policy=args.demo_policy,
    )


# ---------------------------------------------------------------- export
def cmd_export(args: argparse.Namespace) -> None:
    from abr.dqn.export import export_onnx

    metadata = export_onnx(args.source, args.out)
    summary = {
        "out": args.out,
        "model_version": metadata.version,
        "ladder_kbps": metadata.ladder_kbps,
        "val_qoe": metadata.val_qoe,
        "env_steps": metadata.env_steps,
        "train_traces_digest": metadata.train_traces_digest,
    }
    if metadata.ensemble_members:
        summary["ensemble_members"] = len(metadata.ensemble_members)
    Console().print(_table(f"exported {' '.join(args.source)}", summary))
    if args.json:
        _print_json_last(summary)


def cmd_bench_policy(args: argparse.Namespace) -> None:
    from abr.bench_policy import decisions_per_s
    from abr.policies import make_policy
    from abr.traces import load_traces
    from abr.video import load_video

    video = load_video(args.video)
    traces = load_traces(args.traces or _default_traces("test"))
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
    Console().print(table)
    if args.json:
        _print_json_last(result)


# ---------------------------------------------------------------- serve
def cmd_serve(args: argparse.Namespace) -> None:
    import os

    import uvicorn

    if args.model:
        os.environ["ABR_MODEL_PATH"] = args.model  # the app (in every worker) reads settings
    from service.settings import ServiceSettings

    settings = ServiceSettings.from_environment()  # fail here, with the reason, not in a worker
    if settings.model_path is not None and not settings.model_path.is_file():
        raise ValueError(f"{settings.model_path}: no such model file")
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=False,
    )


def cmd_loadtest(args: argparse.Namespace) -> None:
    from abr.loadtest import loadtest, process_rss_mb

    rss_before = process_rss_mb(args.server_pid) if args.server_pid else None
    load = loadtest(
        server=args.server,
        connections=args.connections,
        duration_s=args.duration,
        mode=args.mode,
        policy=args.policy,
        batch_size=args.batch_size,
        sessions=args.sessions,
        rate=args.rate,
        abandon=args.abandon,
        server_pid=args.server_pid if args.mode == "soak" else None,
    )
    result = load.summary()
    result.update(mode=args.mode, connections=args.connections, policy=args.policy)
    if args.mode == "batch":
        result["batch_size"] = args.batch_size
    if args.server_pid:
        result["server_rss_mb_before"] = rss_before
        result["server_rss_mb_after"] = process_rss_mb(args.server_pid)
    if args.mode == "soak":
        windows = load.windows(max(1.0, args.duration / 20))
        result.update(rate=args.rate, abandon=args.abandon, abandoned_sessions=load.abandoned)
        result["windows"] = windows
        if load.rss_mb:
            warm = [mb for t, mb in load.rss_mb if t >= 0.1 * args.duration] or [load.rss_mb[-1][1]]
            result["rss_mb_warm"], result["rss_mb_end"] = warm[0], load.rss_mb[-1][1]
            result["rss_growth_after_warm_pct"] = 100.0 * (warm[-1] - warm[0]) / warm[0]
        table = Table(title="soak: per window")
        for column in ("t_s", "requests_per_s", "p50_ms", "p99_ms"):
            table.add_column(column, justify="right")
        for row in windows:
            table.add_row(
                *(f"{row[c]:,.1f}" for c in ("t_s", "requests_per_s", "p50_ms", "p99_ms"))
            )
        Console().print(table)
    Console().print(
        _table(
            f"load on {args.server} ({args.mode})",
            {k: v for k, v in result.items() if k != "windows"},
        )
    )
    if args.json:
        _print_json_last(result)


def cmd_bench_service(args: argparse.Namespace) -> None:
    from abr.bench_service import bench_service

    modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    rows = bench_service(args.rounds, args.duration, modes, batch_size=args.batch_size)
    table = Table(title="the service beside a bare uvicorn app, alternating (one run)")
    for column in ("round", "mode", "server", "decisions/s", "p50 ms", "p99 ms", "errors", "ratio"):
        table.add_column(column, justify="right")
    for row in rows:
        ratio = row.get("ratio")
        table.add_row(
            *(str(row[c]) for c in ("round", "mode", "server")),
            f"{row['decisions_per_s']:,.0f}",
            f"{row['p50_ms']:.2f}",
            f"{row['p99_ms']:.2f}",
            str(row["errors"]),
            f"{ratio:.2f}" if isinstance(ratio, float) else "",
        )
    Console().print(table)
    if args.json:
        _print_json_last({"rows": rows})


def cmd_replay(args: argparse.Namespace) -> None:
    import numpy as np
    from rich.progress import Progress

    from abr.bench_report import plot_cdf, plot_latency, summarize_runs, write_results
    from abr.replay import as_policy_run, replay
    from abr.traces import load_traces
    from abr.video import load_video

    video = load_video(args.video)
    sources = args.traces or _default_traces("test")
    traces = load_traces(sources)
    set_name = _set_name(sources[0]) if len(sources) == 1 else "replay"
    out = Path(args.out)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("virtual players", total=max(len(traces), args.concurrency))
        results, players, log = replay(
            server=args.server,
            traces=traces,
            video=video,
            policy=args.policy,
            concurrency=args.concurrency,
            pace=args.pace,
            timeout_s=args.timeout,
            retries=args.retries,
            on_done=lambda: progress.advance(task),
        )
    wall_s = time.perf_counter() - log.start_s
    run = as_policy_run(args.policy, results, players, video, args.qoe)
    summary = summarize_runs({args.policy: run})
    write_results(out, set_name, {args.policy: run}, summary)
    plot_cdf(
        out / f"{set_name}_qoe_cdf.png", f"{set_name}: QoE_{args.qoe} over HTTP", {args.policy: run}
    )
    plot_latency(
        out / f"{set_name}_latency.png",
        f"{args.server}: {args.concurrency} players, pace {args.pace}",
        np.array(log.answered_at_s),
        np.array(log.latencies_s),
    )
    service = log.service_summary(wall_s)
    Console(width=140).print(_summary_table(f"{set_name} over {args.server}", summary))
    Console().print(_table("service", {k: v for k, v in service.items() if "by_kind" not in k}))
    for kind in ("errors_by_kind", "retries_by_kind"):
        if service[kind]:
            console.print(f"{kind}: {service[kind]}")
    console.print(f"results and plots in {out}/")
    if args.json:
        _print_json_last({**summary, "service": service})


# ---------------------------------------------------------------- real player
def cmd_dash_content(args: argparse.Namespace) -> None:
    from abr.dash_content import make_dash_content

    ladder = [int(kbps) for kbps in args.ladder.split(",")]
    manifest = make_dash_content(args.out, args.duration, args.chunk_s, ladder)
    console.print(f"DASH stream: {manifest} (its sizes: {Path(args.out) / 'video.json'})")


def cmd_cdn(args: argparse.Namespace) -> None:
    import uvicorn

    from abr.shaped_cdn import create_cdn
    from abr.traces import load_traces

    if not (Path(args.content) / "manifest.mpd").is_file():
        raise ValueError(f"{args.content}: no manifest.mpd (make one with abr dash-content)")
    trace = load_traces([args.trace])[0]
    app = create_cdn(args.content, trace)
    console.print(f"stream: http://{args.host}:{args.port}/s/<session>/manifest.mpd ({trace.name})")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


def cmd_browser_bench(args: argparse.Namespace) -> None:
    from abr.browser import browser_bench

    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    results = browser_bench(
        args.server, Path(args.content), [Path(t) for t in args.traces], policies, Path(args.out)
    )
    table = Table(title="real browser (dash.js in headless Chromium), QoE over chunks 2..N")
    for column in ("trace", "policy", "mean QoE", "kbps", "stall s", "switches"):
        table.add_column(column)
    for trace, by_policy in results.items():
        for policy, m in by_policy.items():
            table.add_row(
                trace,
                policy,
                f"{m['mean_qoe']:.3f}",
                f"{m['avg_bitrate_kbps']:.0f}",
                f"{m['stall_s']:.2f}",
                str(m["switches"]),
            )
    Console(width=140).print(table)
    (Path(args.out) / "browser_bench.json").write_text(json.dumps(results, indent=1) + "\n")
    if args.json:
        _print_json_last(results)


# ---------------------------------------------------------------- parser
def _command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, text: str
) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=text, description=text)


def _trace_and_video_options(parser: argparse.ArgumentParser, traces_help: str) -> None:
    parser.add_argument("--traces", nargs="+", help=traces_help)
    parser.add_argument("--video", help="video folder or JSON (default: embedded)")


def _json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON object as the last line")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="abr",
        description=(
            "Adaptive-bitrate control: traces, videos, a Pensieve-exact simulator, baselines, "
            "a DQN trainer, ONNX export, the decision service and the tools around it."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True)

    traces = _command(sub, "traces", "inspect, convert and generate bandwidth traces")
    traces_sub = traces.add_subparsers(dest="traces_command", required=True)
    stats = _command(
        traces_sub, "stats", "files, duration, time-weighted mean/median Mbps, zero-bandwidth runs"
    )
    stats.add_argument("sources", nargs="+", help="trace folders, files or globs")
    stats.add_argument("--format", choices=TRACE_FORMATS, default="auto")
    stats.add_argument(
        "--bin-ms",
        type=int,
        default=DEFAULT_MAHIMAHI_BIN_MS,
        help="bin width when reading mahimahi traces",
    )
    _json_option(stats)
    stats.set_defaults(func=cmd_traces_stats)

    convert = _command(traces_sub, "convert", "convert between mahimahi and cooked")
    convert.add_argument("source", help="a trace file or a folder of traces")
    convert.add_argument("dest", help="output file (one trace) or folder")
    convert.add_argument("--to", choices=("cooked", "mahimahi"), required=True)
    convert.add_argument("--from", dest="from_format", choices=TRACE_FORMATS, default="auto")
    convert.add_argument(
        "--bin-ms",
        type=int,
        default=DEFAULT_MAHIMAHI_BIN_MS,
        help="bin width when reading mahimahi traces",
    )
    convert.set_defaults(func=cmd_traces_convert)

    synth = _command(traces_sub, "synth", "generate Markov-modulated synthetic traces")
    synth.add_argument("--out", required=True, help="output folder")
    synth.add_argument("--count", type=int, default=20)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--prefix", default="synth")
    synth.add_argument("--duration-s", type=float, default=320.0)
    synth.add_argument("--step-s", type=float, default=1.0)
    synth.add_argument("--min-mbps", type=float, default=0.2)
    synth.add_argument("--max-mbps", type=float, default=6.0)
    synth.add_argument("--mean-dwell-s", type=float, default=20.0)
    synth.add_argument("--outage-prob", type=float, default=0.002)
    synth.set_defaults(func=cmd_traces_synth)

    video = _command(sub, "video", "describe or generate videos")
    video_sub = video.add_subparsers(dest="video_command", required=True)
    vsynth = _command(video_sub, "synth", "generate a VBR video manifest from a ladder")
    vsynth.add_argument("--out", required=True, help="output JSON manifest")
    vsynth.add_argument(
        "--ladder", default="300,750,1200,1850,2850,4300", help="kbps, comma-separated"
    )
    vsynth.add_argument("--chunk-s", type=float, default=4.0)
    vsynth.add_argument("--chunks", type=int, default=48)
    vsynth.add_argument("--seed", type=int, default=0)
    vsynth.add_argument("--name", default="synthetic")
    vsynth.set_defaults(func=cmd_video_synth)
    vinfo = _command(video_sub, "info", "ladder, chunks and mean encoded rates of a video")
    vinfo.add_argument("source", nargs="?", help="Pensieve size folder or JSON (default: embedded)")
    _json_option(vinfo)
    vinfo.set_defaults(func=cmd_video_info)

    bench = _command(
        sub, "bench", "replay trace sets through policies: QoE tables, CSV/JSON, plots"
    )
    _trace_and_video_options(bench, "trace folders, one table each (default: traces/default/test)")
    bench.add_argument("--policies", default="bb,rb,bola,mpc,dynamic", help=POLICY_HELP)
    bench.add_argument("--qoe", choices=QOE_NAMES, default="lin")
    bench.add_argument("--out", default="out/bench", help="folder for CSV, JSON and PNG results")
    bench.add_argument(
        "--timeline-trace", help="trace file name for the timeline plot (default: first)"
    )
    _json_option(bench)
    bench.set_defaults(func=cmd_bench)

    train = _command(sub, "train", "train a DQN policy on the simulator (needs torch)")
    train.add_argument("--config", help="TOML file of settings (see abr/dqn/config.py)")
    train.add_argument("--out", default="runs/dqn", help="run folder")
    train.add_argument("--resume", metavar="RUN_DIR", help="go on with an interrupted run")
    _trace_and_video_options(train, "training trace folders (default: traces/default/train)")
    train.add_argument(
        "--val-traces", nargs="+", help="validation folders (default: 1 in 10 of --traces)"
    )
    train.add_argument("--qoe", choices=QOE_NAMES)
    train.add_argument("--device", choices=("auto", "cpu", "cuda"))
    train.add_argument("--seed", type=int)
    train.add_argument("--sessions", type=int, help="simulator sessions stepped together")
    train.add_argument("--total-env-steps", type=int)
    train.add_argument("--n-step", type=int)
    train.add_argument("--no-double", action="store_true", help="plain DQN targets")
    train.add_argument("--no-dueling", action="store_true", help="plain Q head")
    train.add_argument("--no-per", action="store_true", help="uniform replay")
    train.add_argument(
        "--demo-policy",
        choices=("none", *ONLINE_POLICIES),
        help="DQfD: a baseline whose play is kept as demonstrations (none: no demonstrations)",
    )
    _json_option(train)
    train.set_defaults(func=cmd_train)

    export = _command(sub, "export", "export a trained Q-network to ONNX (needs torch and onnx)")
    export.add_argument(
        "source",
        nargs="+",
        help="run folder (its best.pt) or a checkpoint file; several: one ensemble (mean Q)",
    )
    export.add_argument("--out", required=True, help="the .onnx file to write")
    _json_option(export)
    export.set_defaults(func=cmd_export)

    bench_policy = _command(sub, "bench-policy", "policy speed: decisions/s at given batch sizes")
    _trace_and_video_options(
        bench_policy, "trace folders for states (default: traces/default/test)"
    )
    bench_policy.add_argument("--policy", default="onnx", help=POLICY_HELP)
    bench_policy.add_argument("--batch-sizes", default="1,1024", help="comma-separated")
    bench_policy.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    _json_option(bench_policy)
    bench_policy.set_defaults(func=cmd_bench_policy)

    serve = _command(sub, "serve", "run the decision service (settings: ABR_* variables)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers", type=int, default=1, help="processes; sessions live in one (see README)"
    )
    serve.add_argument("--model", help="ONNX model (default: ABR_MODEL_PATH or the shipped one)")
    serve.add_argument("--log-level", default="warning")
    serve.set_defaults(func=cmd_serve)

    load = _command(sub, "loadtest", "drive a running service: decisions/s and latency")
    load.add_argument("--server", default="http://127.0.0.1:8000")
    load.add_argument("--connections", type=int, default=16)
    load.add_argument("--duration", type=float, default=10.0, help="seconds")
    modes = ("chunks", "batch", "columns", "sessions", "soak")
    load.add_argument("--mode", choices=modes, default="chunks")
    load.add_argument("--rate", type=float, default=2000.0, help="soak: requests/s in all")
    load.add_argument(
        "--abandon", type=float, default=0.3, help="soak: share of players leaving mid-video"
    )
    load.add_argument("--policy", default="dqn")
    load.add_argument("--batch-size", type=int, default=1024)
    load.add_argument("--sessions", type=int, default=100_000, help="sessions mode: how many")
    load.add_argument("--server-pid", type=int, help="report this process's RSS before and after")
    _json_option(load)
    load.set_defaults(func=cmd_loadtest)

    bench_service = _command(
        sub, "bench-service", "service speed beside a bare uvicorn app, both started here"
    )
    bench_service.add_argument("--rounds", type=int, default=3)
    bench_service.add_argument("--duration", type=float, default=8.0, help="seconds per load")
    bench_service.add_argument("--modes", default="chunks,columns", help="chunks and/or columns")
    bench_service.add_argument("--batch-size", type=int, default=1024, help="columns: players")
    _json_option(bench_service)
    bench_service.set_defaults(func=cmd_bench_service)

    replay_cmd = _command(
        sub, "replay", "virtual players: replay traces against a running service over HTTP"
    )
    replay_cmd.add_argument("--server", default="http://127.0.0.1:8000")
    _trace_and_video_options(
        replay_cmd, "trace folders, one player per trace (default: traces/default/test)"
    )
    replay_cmd.add_argument("--policy", default="dqn", help="dqn, bb, rb, bola, mpc or dynamic")
    replay_cmd.add_argument("--qoe", choices=QOE_NAMES, default="lin")
    replay_cmd.add_argument("--concurrency", type=int, default=16, help="players at once")
    replay_cmd.add_argument(
        "--pace", default="max", help="max, realtime, or xK (K times real time)"
    )
    replay_cmd.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    replay_cmd.add_argument("--retries", type=int, default=3, help="for 5xx and connection errors")
    replay_cmd.add_argument(
        "--out", default="out/replay", help="folder for CSV, JSON and PNG results"
    )
    _json_option(replay_cmd)
    replay_cmd.set_defaults(func=cmd_replay)

    content = _command(sub, "dash-content", "encode a DASH test stream with ffmpeg")
    content.add_argument(
        "--out", required=True, help="folder for manifest.mpd, segments, video.json"
    )
    content.add_argument("--duration", type=float, default=40.0, help="seconds")
    content.add_argument("--chunk-s", type=float, default=4.0, help="segment duration")
    content.add_argument("--ladder", default="300,750,1200,1850,2850,4300", help="kbps")
    content.set_defaults(func=cmd_dash_content)

    cdn = _command(sub, "cdn", "serve a DASH folder over a link shaped by a bandwidth trace")
    cdn.add_argument("--content", required=True, help="folder made by abr dash-content")
    cdn.add_argument("--trace", required=True, help="one trace file (cooked, mahimahi or CSV)")
    cdn.add_argument("--host", default="127.0.0.1")
    cdn.add_argument("--port", type=int, default=8001)
    cdn.set_defaults(func=cmd_cdn)

    browser = _command(
        sub, "browser-bench", "dash.js in headless Chromium: our rule vs dash.js's own, per trace"
    )
    browser.add_argument("--server", default="http://127.0.0.1:8000", help="a running abr serve")
    browser.add_argument("--content", required=True, help="folder made by abr dash-content")
    browser.add_argument("--traces", nargs="+", required=True, help="trace files")
    browser.add_argument("--policies", default="dqn,dashjs", help="service policies and dashjs")
    browser.add_argument("--out", default="out/browser", help="JSON results and a screenshot")
    _json_option(browser)
    browser.set_defaults(func=cmd_browser_bench)

    bench_sim = _command(
        sub, "bench-sim", "simulator speed: vectorised vs scalar reference, chunk-steps/s"
    )
    _trace_and_video_options(bench_sim, "trace folders (default: traces/default/test)")
    bench_sim.add_argument("--sessions", default="1,64,1024,4096", help="session counts")
    bench_sim.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    bench_sim.add_argument("--backend", choices=("all", "numba", "numpy"), default="all")
    _json_option(bench_sim)
    bench_sim.set_defaults(func=cmd_bench_sim)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], None] = args.func
    try:
        func(args)
    except (TraceError, VideoError, ValueError) as exc:
        console.print(f"[red]abr: error:[/red] {exc}", highlight=False, soft_wrap=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
