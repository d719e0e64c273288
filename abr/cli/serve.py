"""`abr serve` and the clients that drive a running service: `abr loadtest`,
`abr bench-service`, `abr replay` (virtual players)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rich.table import Table

from abr.cli.common import (
    command,
    console,
    default_traces,
    figures_table,
    json_option,
    print_json_last,
    show,
    summary_table,
    trace_and_video_options,
    trace_set_name,
)
from abr.player.qoe import QOE_NAMES


def cmd_serve(args: argparse.Namespace) -> None:
    import os

    import uvicorn

    if args.model:
        os.environ["ABR_MODEL_PATH"] = args.model  # the app (in every worker) reads settings
    from abr.policies.onnx import default_model_path
    from service.settings import ServiceSettings
    from service.telemetry import Telemetry

    settings = ServiceSettings.from_environment()  # fail here, with the reason, not in a worker
    if settings.model_path is not None and not settings.model_path.is_file():
        raise ValueError(f"{settings.model_path}: no such model file")
    telemetry = Telemetry.from_settings(settings)  # an unwritable log: one line now, not later
    if telemetry is not None:
        telemetry.close()
    if args.workers > 1 and settings.store == "memory":
        raise ValueError(
            f"--workers {args.workers} needs a shared session store: set ABR_STORE=redis://... "
            "(with the memory store each session would live in one worker only)"
        )
    model = settings.model_path or default_model_path()
    store = "this process's memory" if settings.store == "memory" else "Redis"  # no URL: secrets
    workers = f"{args.workers} worker" + ("s" if args.workers > 1 else "")
    print(
        f"abr serve: http://{args.host}:{args.port}, {workers}, model {model}, sessions in {store};"
        " the API at /docs",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=False,
        http="service.connections:GuardedHttpProtocol",
        timeout_keep_alive=max(1, round(settings.idle_timeout_s)),
    )


def cmd_loadtest(args: argparse.Namespace) -> None:
    from abr.clients.loadtest import loadtest, process_rss_mb

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
        show(table)
    show(
        figures_table(
            f"load on {args.server} ({args.mode})",
            {k: v for k, v in result.items() if k != "windows"},
        )
    )
    if args.json:
        print_json_last(result)


def cmd_bench_service(args: argparse.Namespace) -> None:
    from abr.clients.service_speed import bench_service

    modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    stores = tuple(s.strip() for s in args.stores.split(",") if s.strip())
    rows = bench_service(
        args.rounds, args.duration, modes, batch_size=args.batch_size, stores=stores
    )
    table = Table(title="the service beside a bare uvicorn app, alternating (one run)")
    columns = ("round", "mode", "store", "server", "decisions/s", "p50 ms", "p99 ms", "errors")
    for column in (*columns, "ratio"):
        table.add_column(column, justify="right")
    for row in rows:
        ratio = row.get("ratio")
        table.add_row(
            *(str(row[c]) for c in ("round", "mode", "store", "server")),
            f"{row['decisions_per_s']:,.0f}",
            f"{row['p50_ms']:.2f}",
            f"{row['p99_ms']:.2f}",
            str(row["errors"]),
            f"{ratio:.2f}" if isinstance(ratio, float) else "",
        )
    show(table)
    if args.json:
        print_json_last({"rows": rows})


def cmd_bench_neighbour(args: argparse.Namespace) -> None:
    from abr.clients.neighbour import bench_neighbour

    result = bench_neighbour(args.duration, args.connections, args.idle)
    figures = {k: v for k, v in result.to_dict().items() if k != "noisy_statuses"}
    figures["noisy_statuses"] = ", ".join(f"{k}: {v}" for k, v in result.noisy_statuses.items())
    show(figures_table("normal traffic, alone and beside a noisy neighbour", figures))
    if args.json:
        print_json_last(result.to_dict())


def cmd_bench_memory(args: argparse.Namespace) -> None:
    from abr.clients.neighbour import bench_memory

    result = bench_memory(args.requests, args.rungs, args.chunks)
    show(
        figures_table(
            "server RSS (MB) under refused and accepted worst-case requests", result.to_dict()
        )
    )
    if args.json:
        print_json_last(result.to_dict())


def cmd_bench_failover(args: argparse.Namespace) -> None:
    import tempfile

    from abr.clients.cluster import failover_run, running_cluster
    from abr.media.traces import load_traces
    from abr.media.video import load_video

    video = load_video(args.video)
    traces = load_traces(args.traces or default_traces("test"))
    runs = []
    with (
        tempfile.TemporaryDirectory(prefix="abr-cluster-") as folder,
        running_cluster(Path(folder), args.replicas, args.workers) as cluster,
    ):
        for failure in args.fail:
            run = failover_run(
                cluster,
                failure,
                traces,
                video,
                args.policy,
                args.players,
                args.pace,
                args.kill_after,
            )
            figures = run.to_dict()
            for kind, counts in (
                ("retries_by_kind", run.retries_by_kind),
                ("errors_by_kind", run.errors_by_kind),
            ):
                figures[kind] = ", ".join(f"{k}: {v}" for k, v in counts.items())
            title = f"{args.players} players, {args.replicas} replicas: {failure} killed"
            show(figures_table(title, figures))
            runs.append(run.to_dict())
    if args.json:
        print_json_last({"runs": runs})


def cmd_bench_telemetry(args: argparse.Namespace) -> None:
    import tempfile

    from abr.clients.telemetry_loop import telemetry_loop
    from abr.media.synth import write_trace_set
    from abr.media.traces import load_traces
    from abr.media.video import load_video

    video = load_video(args.video)
    traces = load_traces(args.traces or default_traces("test"))
    with tempfile.TemporaryDirectory(prefix="abr-telemetry-") as folder:
        figures, rebuilt = telemetry_loop(traces, video, args.policy, Path(folder))
    write_trace_set(rebuilt, args.out, decimals=6)
    show(figures_table(f"telemetry -> traces ({args.out})", figures.to_dict()))
    if args.json:
        print_json_last(figures.to_dict())


def cmd_bench_redis_memory(args: argparse.Namespace) -> None:
    from abr.clients.redis_memory import bench_redis_memory

    result = bench_redis_memory(args.sessions)
    show(figures_table("Redis memory of live sessions", result.to_dict()))
    if args.json:
        print_json_last(result.to_dict())


def cmd_replay(args: argparse.Namespace) -> None:
    import numpy as np
    from rich.progress import Progress

    from abr.bench.report import plot_cdf, plot_latency, summarize_runs, write_results
    from abr.clients.virtual_players import as_policy_run, replay
    from abr.media.traces import load_traces
    from abr.media.video import load_video

    video = load_video(args.video)
    sources = args.traces or default_traces("test")
    traces = load_traces(sources)
    set_name = trace_set_name(sources[0]) if len(sources) == 1 else "replay"
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
    show(summary_table(f"{set_name} over {args.server}", summary))
    show(figures_table("service", {k: v for k, v in service.items() if "by_kind" not in k}))
    for kind in ("errors_by_kind", "retries_by_kind"):
        if service[kind]:
            console.print(f"{kind}: {service[kind]}")
    console.print(f"results and plots in {out}/")
    if args.json:
        print_json_last({**summary, "service": service})


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = command(sub, "serve", "run the decision service (settings: ABR_* variables)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes; more than one needs ABR_STORE=redis://... (docs/http-api.md)",
    )
    serve.add_argument("--model", help="ONNX model (default: ABR_MODEL_PATH or the shipped one)")
    serve.add_argument("--log-level", default="warning")
    serve.set_defaults(func=cmd_serve)

    load = command(sub, "loadtest", "drive a running service: decisions/s and latency")
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
    json_option(load)
    load.set_defaults(func=cmd_loadtest)

    bench_service = command(
        sub, "bench-service", "service speed beside a bare uvicorn app, both started here"
    )
    bench_service.add_argument("--rounds", type=int, default=3)
    bench_service.add_argument("--duration", type=float, default=8.0, help="seconds per load")
    bench_service.add_argument("--modes", default="chunks,columns", help="chunks and/or columns")
    bench_service.add_argument("--batch-size", type=int, default=1024, help="columns: players")
    bench_service.add_argument(
        "--stores",
        default="memory",
        help="session stores, one service each: memory, redis (1 worker), redis-2w (2 workers)",
    )
    json_option(bench_service)
    bench_service.set_defaults(func=cmd_bench_service)

    neighbour = command(
        sub,
        "bench-neighbour",
        "normal per-chunk traffic alone and beside the worst requests and idle connections",
    )
    neighbour.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    neighbour.add_argument("--connections", type=int, default=16, help="normal connections")
    neighbour.add_argument("--idle", type=int, default=500, help="idle connections held open")
    json_option(neighbour)
    neighbour.set_defaults(func=cmd_bench_neighbour)

    memory = command(
        sub, "bench-memory", "server memory after refused and accepted worst-case requests"
    )
    memory.add_argument("--requests", type=int, default=1000, help="of each kind")
    memory.add_argument("--rungs", type=int, default=32, help="ladder rungs of each request")
    memory.add_argument("--chunks", type=int, default=100_000, help="chunks of each video")
    json_option(memory)
    memory.set_defaults(func=cmd_bench_memory)

    failover = command(
        sub,
        "bench-failover",
        "players through nginx and Redis-backed replicas while a replica or Redis is killed",
    )
    trace_and_video_options(failover, "trace folders, one player per trace, cycled")
    failover.add_argument("--players", type=int, default=200)
    failover.add_argument("--replicas", type=int, default=2)
    failover.add_argument("--workers", type=int, default=1, help="per replica")
    failover.add_argument("--policy", default="mpc", help="dqn, bb, rb, bola, mpc or dynamic")
    failover.add_argument("--pace", default="x10", help="max, realtime, or xK")
    failover.add_argument(
        "--kill-after", type=float, default=5.0, help="seconds into each run before the kill"
    )
    failover.add_argument(
        "--fail",
        nargs="+",
        choices=("replica", "redis"),
        default=["replica", "redis"],
        help="what is killed (SIGKILL) and restarted, one run each",
    )
    json_option(failover)
    failover.set_defaults(func=cmd_bench_failover)

    redis_memory = command(sub, "bench-redis-memory", "Redis memory of live sessions")
    redis_memory.add_argument("--sessions", type=int, default=100_000)
    json_option(redis_memory)
    redis_memory.set_defaults(func=cmd_bench_redis_memory)

    loop = command(
        sub,
        "bench-telemetry",
        "replay traces through a server that logs telemetry, rebuild traces, compare",
    )
    trace_and_video_options(loop, "trace folders, one player per trace")
    loop.add_argument("--policy", default="dqn", help="dqn, bb, rb, bola, mpc or dynamic")
    loop.add_argument("--out", required=True, help="folder for the rebuilt traces")
    json_option(loop)
    loop.set_defaults(func=cmd_bench_telemetry)

    replay_cmd = command(
        sub, "replay", "virtual players: replay traces against a running service over HTTP"
    )
    replay_cmd.add_argument("--server", default="http://127.0.0.1:8000")
    trace_and_video_options(
        replay_cmd, "trace folders, one player per trace (default: traces/default/test)"
    )
    replay_cmd.add_argument("--policy", default="dqn", help="dqn, bb, rb, bola, mpc or dynamic")
    replay_cmd.add_argument("--qoe", choices=QOE_NAMES, default="lin")
    replay_cmd.add_argument("--concurrency", type=int, default=16, help="players at once")
    replay_cmd.add_argument(
        "--pace", default="max", help="max, realtime, or xK (K times real time)"
    )
    replay_cmd.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    replay_cmd.add_argument(
        "--retries", type=int, default=5, help="for 5xx, timeouts and connection errors"
    )
    replay_cmd.add_argument(
        "--out", default="out/replay", help="folder for CSV, JSON and PNG results"
    )
    json_option(replay_cmd)
    replay_cmd.set_defaults(func=cmd_replay)
