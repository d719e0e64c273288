"""What a training run writes to disk and reads back: `best.pt` (the best model by validation,
for `abr export`) and `checkpoint.pt` (everything an interrupted run needs to go on exactly).

Both are `torch.save` files of tensors, numbers, strings and lists only, so they load with
`weights_only=True` (no pickle), and both carry `format`, the layout version below. Files are
written to a temporary name and renamed, so a killed run never leaves a half-written one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from abr.dqn.networks import QNetwork, RungQNetwork, make_network
from abr.player.observation import AnySpec, spec_from_dict

FORMAT = 1  # the layout of best.pt and checkpoint.pt written by this code
CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and what is wrong."""


@dataclass
class RunState:
    """The loop's counters and running figures: saved beside the networks in checkpoint.pt."""

    env_steps: int = 0
    updates: int = 0
    next_validation: int = 0
    best_val_qoe: float = -np.inf
    seconds_to_beat_mpc: float | None = None
    loss: float = float("nan")  # the last update's
    val_qoe: float = float("nan")  # the last validation's
    wall_s: float = 0.0  # training time before this run's start, for a resumed run

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> RunState:
        return cls(**{f.name: payload[f.name] for f in fields(cls)})


def save_atomic(payload: dict[str, Any], path: Path) -> None:
    """Write then rename, so a killed run never leaves a half-written file under `path`."""
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save({"format": FORMAT, **payload}, tmp)
    tmp.replace(path)


def load_payload(path: str | Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """A best.pt or checkpoint.pt as written by `save_atomic`; a `CheckpointError` naming the
    file for anything else (missing, empty, truncated, not a torch file, pickled objects, an
    unknown layout)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # torch raises many kinds for a bad file; each means the same here
        if "Weights only load failed" in str(exc):
            raise CheckpointError(f"{path}: refused, it holds pickled objects") from None
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint ({reason})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format", "none") if isinstance(payload, dict) else "none"
        raise CheckpointError(
            f"{path}: checkpoint format {found}, this abr reads format {FORMAT} "
            "(train the run again with this version)"
        )
    return payload


def best_payload(
    network: torch.nn.Module,
    spec: AnySpec,
    config: dict[str, Any],
    val_qoe: float,
    env_steps: int,
    ladder_kbps: list[float],
    chunk_s: float,
    train_traces_digest: str,
    trained_over: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What best.pt holds: the model, how to rebuild and feed it, and where it came from (for a
    model for any ladder: no ladder, chunk length 0, and the range it was trained over)."""
    return {
        "model": network.state_dict(),
        "spec": spec.to_dict(),
        "config": config,
        "val_qoe": val_qoe,
        "env_steps": env_steps,
        "ladder_kbps": ladder_kbps,
        "chunk_s": chunk_s,
        "train_traces_digest": train_traces_digest,
        "trained_over": trained_over or {},
    }


def load_best_model(
    path: str | Path, device: str = "cpu"
) -> tuple[QNetwork | RungQNetwork, AnySpec]:
    return network_from_payload(load_payload(path, device), device, path)


def network_from_payload(
    payload: dict[str, Any], device: str = "cpu", path: str | Path = "best.pt"
) -> tuple[QNetwork | RungQNetwork, AnySpec]:
    """The Q-network and observation spec of a loaded best.pt."""
    try:
        spec = spec_from_dict(payload["spec"])
        config = payload["config"]
        network = make_network(spec, config["hidden"], config["dueling"])
        network.load_state_dict(payload["model"])
    except (KeyError, TypeError, RuntimeError) as exc:
        reason = str(exc).splitlines()[0]
        raise CheckpointError(f"{path}: not a best-model file ({reason})") from None
    return network.to(device), spec


def as_tensors(state: dict[str, Any]) -> dict[str, Any]:
    """numpy arrays as tensors, so the checkpoint loads with `weights_only=True` (no pickle)."""
    return {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in state.items()}


def as_numpy(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v.cpu().numpy() if isinstance(v, torch.Tensor) else v for k, v in state.items()}


def truncate_metrics(path: Path, env_steps: int) -> None:
    """Drop metric rows written after the checkpoint a run resumes from."""
    header, *rows = path.read_text().splitlines()
    kept = [row for row in rows if int(row.split(",")[0]) <= env_steps]
    path.write_text("\n".join([header, *kept]) + "\n")
