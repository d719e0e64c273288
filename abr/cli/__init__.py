"""The `abr` command line: one module per command group, each registering its subcommands.
Each subcommand's --help says what it does and what it prints."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from rich.markup import escape

from abr.cli import bench, dashjs, media, serve, train
from abr.cli.common import Interrupted, console
from abr.media.traces import TraceError
from abr.media.video import VideoError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="abr",
        description=(
            "Adaptive-bitrate control: traces, videos, a Pensieve-exact simulator, baselines, "
            "a DQN trainer, ONNX export, the decision service and the tools around it."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True)

    for group in (media, bench, train, serve, dashjs):
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], None] = args.func
    try:
        func(args)
    except (TraceError, VideoError, ValueError) as exc:
        _error(str(exc))
        return 2
    except OSError as exc:  # a file named on the command line that cannot be read or written
        where = f"{exc.filename}: " if exc.filename else ""
        _error(f"{where}{exc.strerror or exc}")
        return 2
    except Interrupted as exc:
        console.print(escape(str(exc)), highlight=False, soft_wrap=True)
        return 130  # as a shell reports a command ended by Ctrl-C
    except KeyboardInterrupt:
        console.print("abr: interrupted", highlight=False)
        return 130
    return 0


def _error(message: str) -> None:
    # the message is the input's own text: printed as it is, never read as markup
    console.print(f"[red]abr: error:[/red] {escape(message)}", highlight=False, soft_wrap=True)


if __name__ == "__main__":
    sys.exit(main())
