"""`abr train` and `abr export`: a DQN trained on the simulator, and its ONNX model."""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing
from pathlib import Path

from rich.table import Table

from abr.cli.common import (
    Interrupted,
    command,
    console,
    figures_table,
    json_option,
    print_json_last,
    show,
    summary_table,
)
from abr.dqn.config import CHOICES, DqnConfig

CONFIG_FLAGS = tuple(f.name for f in dataclasses.fields(DqnConfig))
FLAG_ALIASES = {"n_sessions": ("--sessions",)}


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

        def report_progress(figures: dict[str, float]) -> None:
            progress.update(
                task,
                completed=figures["env_steps"],
                figures=(
                    f"{figures['steps_per_s']:,.0f} steps/s  eps {figures['epsilon']:.2f}  "
                    f"loss {figures['loss']:.3f}  val QoE {figures['val_qoe']:.3f}"
                ),
            )

        try:
            result = train(config, out, report_progress, resume=bool(args.resume))
        except KeyboardInterrupt:
            raise Interrupted(_interrupted(Path(out))) from None
    show(figures_table(f"trained: {out}", result.to_dict()))
    table = json.loads((Path(out) / "validation_table.json").read_text())
    show(summary_table(f"validation traces, QoE {config.qoe}", table))
    by_set_path = Path(out) / "validation_table_by_set.json"
    if by_set_path.is_file():
        for name, set_table in json.loads(by_set_path.read_text()).items():
            show(summary_table(f"validation set {name}", set_table))
    if args.json:
        print_json_last(result.to_dict())


def _interrupted(run_dir: Path) -> str:
    """What an interrupted run kept: its last checkpoint (written at every validation, with a
    row of metrics.csv) and the command that goes on from there."""
    from abr.dqn.checkpoint import BEST, CHECKPOINT

    rows = (run_dir / "metrics.csv").read_text().splitlines()[1:] if run_dir.is_dir() else []
    if not rows or not (run_dir / CHECKPOINT).is_file():
        return (
            f"abr: training interrupted before its first validation: {run_dir} holds no "
            "checkpoint yet; start it again to train"
        )
    env_steps = rows[-1].split(",")[0]
    return (
        f"abr: training interrupted; {run_dir / CHECKPOINT} holds the run at its last validation "
        f"({int(env_steps):,} env steps; best model so far in {run_dir / BEST}). "
        f"Go on with: abr train --resume {run_dir}"
    )


def _train_config(args: argparse.Namespace) -> DqnConfig:
    from abr.dqn.config import load_config

    given = {name: getattr(args, name) for name in CONFIG_FLAGS}
    return load_config(args.config, **given)


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per setting of `DqnConfig` (`--n-step` for n_step; booleans also as `--no-…`),
    typed from the dataclass, its help the setting's docstring, in the settings' groups; a flag
    not given leaves the setting to the TOML file or the default."""
    from abr.dqn.config import setting_groups, setting_help

    hints = typing.get_type_hints(DqnConfig)
    helps = setting_help()
    defaults = {f.name: _default(f) for f in dataclasses.fields(DqnConfig)}
    for group_name, names in setting_groups().items():
        group = parser.add_argument_group(f"settings: {group_name}")
        for name in names:
            flags = [f"--{name.replace('_', '-')}", *FLAG_ALIASES.get(name, ())]
            text = f"{helps[name]} (default: {defaults[name]})".replace("%", "%%")
            kind = hints[name]
            options: dict[str, typing.Any] = {"dest": name, "help": text, "default": None}
            if kind is bool:
                options["action"] = argparse.BooleanOptionalAction
            elif typing.get_origin(kind) is list:
                options |= {"nargs": "+", "type": typing.get_args(kind)[0]}
            else:
                options["type"] = _without_none(kind)
            if name in CHOICES:
                options["choices"] = CHOICES[name]
            group.add_argument(*flags, **options)


def _without_none(kind: typing.Any) -> typing.Any:
    """`float` for `float | None`; the type itself otherwise."""
    kinds = [k for k in typing.get_args(kind) if k is not type(None)]
    return kinds[0] if kinds else kind


def _default(field: dataclasses.Field[typing.Any]) -> object:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


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
        "teacher": metadata.teacher,
    }
    if metadata.ensemble_members:
        summary["ensemble_members"] = len(metadata.ensemble_members)
    show(figures_table(f"exported {' '.join(args.source)}", summary))
    if args.json:
        print_json_last(summary)


def cmd_validate(args: argparse.Namespace) -> None:
    from abr.dqn.train import build_validation, validation_traces
    from abr.media.video import load_video
    from abr.policies.registry import make_policy

    config = _train_config(args)
    validation = build_validation(config, validation_traces(config), load_video(config.video))
    scored: dict[str, dict[str, typing.Any]] = {}
    for name in args.policies:
        qoe = validation.qoe_per_set(make_policy(name, config.qoe))
        scored[name] = {"score": validation.score(qoe), "qoe": qoe, "gain": validation.gains(qoe)}
    show(_validation_table(config.val_score, validation.mpc_qoe, scored))
    if args.json:
        print_json_last(
            {"score_kind": config.val_score, "mpc_qoe": validation.mpc_qoe, "policies": scored}
        )


def _validation_table(
    score_kind: str, mpc_qoe: dict[str, float], scored: dict[str, dict[str, typing.Any]]
) -> Table:
    """A row per validation set: RobustMPC's mean QoE, then each policy's and its gain over
    RobustMPC (in the set's reward units); the last row is each policy's score."""
    table = Table(title=f"validation (score: {score_kind})")
    table.add_column("set")
    table.add_column("RobustMPC", justify="right")
    for name in scored:
        table.add_column(f"{name}\nQoE", justify="right")
        table.add_column("gain", justify="right")
    for set_name, mpc in mpc_qoe.items():
        cells = [f"{mpc:.3f}"]
        for figures in scored.values():
            cells += [f"{figures['qoe'][set_name]:.3f}", f"{figures['gain'][set_name]:+.3f}"]
        table.add_row(set_name, *cells)
    table.add_row("score", "", *[c for f in scored.values() for c in ("", f"{f['score']:+.4f}")])
    return table


def cmd_bench_train(args: argparse.Namespace) -> None:
    from abr.dqn.config import load_config
    from abr.dqn.train_speed import bench_train

    overrides = {"n_sessions": args.sessions, "device": args.device}
    config = load_config(args.config, **{k: v for k, v in overrides.items() if v is not None})
    speed = bench_train(config, args.env_steps)
    table = Table(title=f"training speed ({args.env_steps:,} env steps, one run)")
    for column in ("played by", "device", "env steps/s", "updates/s"):
        table.add_column(column, justify="right")
    table.add_row(
        speed.played_by,
        speed.device,
        f"{speed.env_steps_per_s:,.0f}",
        f"{speed.updates_per_s:,.1f}",
    )
    show(table)
    if args.json:
        print_json_last(speed.to_dict())


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    train = command(sub, "train", "train a DQN policy on the simulator (needs torch)")
    train.add_argument("--config", help="TOML file of settings (see abr/dqn/config.py)")
    train.add_argument("--out", default="runs/dqn", help="run folder")
    train.add_argument("--resume", metavar="RUN_DIR", help="go on with an interrupted run")
    _add_config_flags(train)
    json_option(train)
    train.set_defaults(func=cmd_train)

    export = command(sub, "export", "export a trained Q-network to ONNX (needs torch and onnx)")
    export.add_argument(
        "source",
        nargs="+",
        help="run folder (its best.pt) or a checkpoint file; several: one ensemble (mean Q)",
    )
    export.add_argument("--out", required=True, help="the .onnx file to write")
    json_option(export)
    export.set_defaults(func=cmd_export)

    validate = command(
        sub,
        "validate",
        "score policies (an exported model: onnx:MODEL.onnx) on a training config's validation "
        "sets, as training scores its checkpoints: each set's QoE and gain over RobustMPC",
    )
    validate.add_argument("policies", nargs="+", help="policy names, as abr bench takes them")
    validate.add_argument("--config", help="TOML file of the training settings")
    _add_config_flags(validate)
    json_option(validate)
    validate.set_defaults(func=cmd_validate)

    speed = command(
        sub,
        "bench-train",
        "training speed of a config: env steps/s and updates/s over the steady state",
    )
    speed.add_argument("--config", help="TOML of settings (default: the defaults)")
    speed.add_argument("--env-steps", type=int, default=40_000, help="the run's length")
    speed.add_argument("--sessions", type=int, help="sessions stepped together")
    speed.add_argument("--device", choices=("auto", "cpu", "cuda"))
    json_option(speed)
    speed.set_defaults(func=cmd_bench_train)
