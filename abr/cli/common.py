"""What every command shares: the console, JSON output, tables, and common options."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path

from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.table import Table

from abr.media.traces import TraceError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TRACES = REPO_ROOT / "traces" / "default"
console = Console(stderr=True)
_stdout = Console()


def show(renderable: RenderableType) -> None:
    """Print a table (or any rich renderable) to stdout at its full width: as wide as the
    terminal, or wider where it needs more, and whole when stdout is a file or a pipe (where
    rich would cut it at 80 columns)."""
    unbounded = _stdout.options.update_width(100_000)
    needed = Measurement.get(_stdout, unbounded, renderable).maximum
    width = max(needed, _stdout.width if _stdout.is_terminal else 0)
    Console(width=width).print(renderable)  # print(width=…) is capped at the console's own


class Interrupted(Exception):
    """A command stopped by Ctrl-C, with what it kept and how to go on (printed as it is)."""


def default_traces(split: str) -> list[str]:
    folder = DEFAULT_TRACES / split
    if not folder.is_dir():
        raise TraceError(f"{folder}: the default trace set is missing; pass --traces DIR")
    return [str(folder)]


def print_json_last(data: object) -> None:
    """The machine-readable result: one JSON object on the last line of stdout."""
    print(json.dumps(data, default=float))


def figures_table(title: str, rows: Mapping[str, object]) -> Table:
    table = Table(title=title, show_header=False)
    for key, value in rows.items():
        table.add_row(key, f"{value:,.4g}" if isinstance(value, float) else str(value))
    return table


def trace_set_name(source: str) -> str:
    """`pensieve_test` for .../pensieve/test; the folder's name otherwise."""
    path = Path(source)
    return f"{path.parent.name}_{path.name}" if path.name in ("test", "train") else path.name


def summary_table(title: str, summary: Mapping[str, Mapping[str, float | None]]) -> Table:
    from abr.bench.report import gain_of

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
    with_gains = all("gain_over_mpc" in metrics for metrics in summary.values())
    table = Table(title=title)
    table.add_column("policy")
    for _, header, _ in columns:
        table.add_column(header, justify="right")
    if with_gains:
        table.add_column("vs RobustMPC [95%]", justify="right")
    for name, metrics in summary.items():
        cells = [
            fmt.format(metrics[key]) if metrics[key] is not None else "-" for key, _, fmt in columns
        ]
        if with_gains:
            cells.append(format_gain(gain_of(metrics)))
        table.add_row(name, *cells)
    return table


def format_gain(gain: tuple[float, float, float]) -> str:
    """A gain over RobustMPC with its 95 % interval: +0.024 [-0.010, +0.060]."""
    mean, low, high = gain
    return f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]"


def command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, text: str
) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=text, description=text)


def trace_and_video_options(parser: argparse.ArgumentParser, traces_help: str) -> None:
    parser.add_argument("--traces", nargs="+", help=traces_help)
    parser.add_argument("--video", help="video folder or JSON (default: embedded)")


def json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON object as the last line")
