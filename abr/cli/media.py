"""`abr traces ...` and `abr video ...`: inspect, convert and generate the inputs."""

from __future__ import annotations

import argparse
from pathlib import Path

from abr.cli.common import (
    command,
    console,
    figures_table,
    json_option,
    print_json_last,
    show,
)
from abr.media.telemetry import MIN_CHUNKS
from abr.media.traces import DEFAULT_MAHIMAHI_BIN_MS, TRACE_FORMATS
from abr.media.video import ENVIVIO_BITRATES_KBPS

ENVIVIO_LADDER = ",".join(str(kbps) for kbps in ENVIVIO_BITRATES_KBPS)


def cmd_traces_stats(args: argparse.Namespace) -> None:
    from abr.media.trace_stats import trace_set_stats
    from abr.media.traces import load_traces

    stats = trace_set_stats(load_traces(args.sources, args.format, args.bin_ms))
    show(figures_table(" ".join(args.sources), stats))
    if args.json:
        print_json_last(stats)


def cmd_traces_convert(args: argparse.Namespace) -> None:
    from abr.media.traces import load_traces, trace_paths, write_cooked, write_mahimahi

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
    from abr.media.synth import SynthConfig, synth_traces, write_trace_set

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


def cmd_traces_split(args: argparse.Namespace) -> None:
    from abr.media.split import split_folder
    from abr.media.traces import trace_paths

    for source in args.sources:
        val_dir, rest_dir = split_folder(source, args.every, args.out)
        counts = [len(trace_paths([folder])) for folder in (val_dir, rest_dir)]
        console.print(f"{source}: {counts[0]} traces to {val_dir}, {counts[1]} to {rest_dir}")


def cmd_traces_from_telemetry(args: argparse.Namespace) -> None:
    from abr.media.synth import write_trace_set
    from abr.media.telemetry import traces_from_telemetry
    from abr.sim.config import SimConfig

    payload_fraction = SimConfig().payload_fraction
    traces = traces_from_telemetry(
        args.log, args.rtt_ms / 1000.0, payload_fraction, args.min_chunks
    )
    if not traces:
        raise ValueError(f"{args.log}: no session with at least {args.min_chunks} reports")
    paths = write_trace_set(traces, args.out, decimals=6)
    console.print(f"{args.log}: {len(paths)} traces (one per session) to {args.out}")


def cmd_video_synth(args: argparse.Namespace) -> None:
    from abr.media.video import save_video_json, synth_video

    ladder = tuple(float(x) for x in args.ladder.split(","))
    video = synth_video(ladder, args.chunk_s, args.chunks, args.seed, name=args.name)
    save_video_json(video, args.out)
    console.print(f"wrote {args.out}: {video.n_levels} levels x {video.n_chunks} chunks")


def cmd_video_info(args: argparse.Namespace) -> None:
    from abr.media.video import load_video

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
    show(figures_table(video.name, info))
    if args.json:
        print_json_last(info)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    traces = command(sub, "traces", "inspect, convert and generate bandwidth traces")
    traces_sub = traces.add_subparsers(dest="traces_command", required=True)
    stats = command(
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
    json_option(stats)
    stats.set_defaults(func=cmd_traces_stats)

    convert = command(traces_sub, "convert", "convert between mahimahi and cooked")
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

    synth = command(traces_sub, "synth", "generate Markov-modulated synthetic traces")
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

    split = command(
        traces_sub, "split", "hold out every k-th trace of training folders for validation"
    )
    split.add_argument("sources", nargs="+", help="training folders, e.g. .../pensieve/train")
    split.add_argument("--every", type=int, default=10, help="one trace in this many to val_*")
    split.add_argument("--out", required=True, help="folder for val_<set>/ and rest_<set>/")
    split.set_defaults(func=cmd_traces_split)

    telemetry = command(
        traces_sub,
        "from-telemetry",
        "one trace per session from the service's telemetry log (ABR_TELEMETRY)",
    )
    telemetry.add_argument("log", help="the JSON-lines file the service wrote")
    telemetry.add_argument("--out", required=True, help="folder for the cooked traces")
    telemetry.add_argument(
        "--rtt-ms", type=float, default=80.0, help="round trip taken off each download"
    )
    telemetry.add_argument(
        "--min-chunks", type=int, default=MIN_CHUNKS, help="shorter sessions are left out"
    )
    telemetry.set_defaults(func=cmd_traces_from_telemetry)

    video = command(sub, "video", "describe or generate videos")
    video_sub = video.add_subparsers(dest="video_command", required=True)
    vsynth = command(video_sub, "synth", "generate a VBR video manifest from a ladder")
    vsynth.add_argument("--out", required=True, help="output JSON manifest")
    vsynth.add_argument("--ladder", default=ENVIVIO_LADDER, help="kbps, comma-separated")
    vsynth.add_argument("--chunk-s", type=float, default=4.0)
    vsynth.add_argument("--chunks", type=int, default=48)
    vsynth.add_argument("--seed", type=int, default=0)
    vsynth.add_argument("--name", default="synthetic")
    vsynth.set_defaults(func=cmd_video_synth)
    vinfo = command(video_sub, "info", "ladder, chunks and mean encoded rates of a video")
    vinfo.add_argument("source", nargs="?", help="Pensieve size folder or JSON (default: embedded)")
    json_option(vinfo)
    vinfo.set_defaults(func=cmd_video_info)
