"""`abr dash-content`, `abr cdn`, `abr browser-bench`: the real player's tools."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.table import Table

from abr.cli.common import (
    command,
    console,
    json_option,
    print_json_last,
    show,
)
from abr.media.video import ENVIVIO_BITRATES_KBPS

ENVIVIO_LADDER = ",".join(str(kbps) for kbps in ENVIVIO_BITRATES_KBPS)


def cmd_dash_content(args: argparse.Namespace) -> None:
    from abr.dashjs.content import make_dash_content

    ladder = [int(kbps) for kbps in args.ladder.split(",")]
    manifest = make_dash_content(args.out, args.duration, args.chunk_s, ladder)
    console.print(f"DASH stream: {manifest} (its sizes: {Path(args.out) / 'video.json'})")


def cmd_cdn(args: argparse.Namespace) -> None:
    import uvicorn

    from abr.dashjs.shaped_cdn import create_cdn
    from abr.media.traces import load_traces

    if not (Path(args.content) / "manifest.mpd").is_file():
        raise ValueError(f"{args.content}: no manifest.mpd (make one with abr dash-content)")
    trace = load_traces([args.trace])[0]
    app = create_cdn(args.content, trace)
    console.print(f"stream: http://{args.host}:{args.port}/s/<session>/manifest.mpd ({trace.name})")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


def cmd_browser_bench(args: argparse.Namespace) -> None:
    from abr.dashjs.browser import browser_bench

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
    show(table)
    (Path(args.out) / "browser_bench.json").write_text(json.dumps(results, indent=1) + "\n")
    if args.json:
        print_json_last(results)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    content = command(sub, "dash-content", "encode a DASH test stream with ffmpeg")
    content.add_argument(
        "--out", required=True, help="folder for manifest.mpd, segments, video.json"
    )
    content.add_argument("--duration", type=float, default=40.0, help="seconds")
    content.add_argument("--chunk-s", type=float, default=4.0, help="segment duration")
    content.add_argument("--ladder", default=ENVIVIO_LADDER, help="kbps")
    content.set_defaults(func=cmd_dash_content)

    cdn = command(sub, "cdn", "serve a DASH folder over a link shaped by a bandwidth trace")
    cdn.add_argument("--content", required=True, help="folder made by abr dash-content")
    cdn.add_argument("--trace", required=True, help="one trace file (cooked, mahimahi or CSV)")
    cdn.add_argument("--host", default="127.0.0.1")
    cdn.add_argument("--port", type=int, default=8001)
    cdn.set_defaults(func=cmd_cdn)

    browser = command(
        sub, "browser-bench", "dash.js in headless Chromium: our rule vs dash.js's own, per trace"
    )
    browser.add_argument("--server", default="http://127.0.0.1:8000", help="a running abr serve")
    browser.add_argument("--content", required=True, help="folder made by abr dash-content")
    browser.add_argument("--traces", nargs="+", required=True, help="trace files")
    browser.add_argument("--policies", default="dqn,dashjs", help="service policies and dashjs")
    browser.add_argument("--out", default="out/browser", help="JSON results and a screenshot")
    json_option(browser)
    browser.set_defaults(func=cmd_browser_bench)
