"""`abr export`: a trained Q-network, or an ensemble of several (the mean of their Q-values), as
an ONNX graph (input `obs` float32 [B, D], output `q` float32 [B, A], dynamic batch) with the
model's metadata, checked and written atomically."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import onnx
import torch

import abr
from abr.dqn.checkpoint import BEST, load_payload, network_from_payload
from abr.dqn.config import DqnConfig
from abr.dqn.networks import ensemble
from abr.media.traces import load_traces, traces_digest
from abr.media.video import load_video
from abr.player.observation import AnySpec
from abr.policies.model_meta import (
    METADATA_KEY,
    ModelError,
    ModelMetadata,
    completed_trained_over,
)

OPSET = 18


def resolve_checkpoint(path: str | Path) -> Path:
    """A run folder means its best model; a file is taken as it is."""
    path = Path(path)
    if path.is_dir():
        path = path / BEST
    if not path.is_file():
        raise ModelError(f"{path}: no such checkpoint (give a run folder or a best.pt file)")
    return path


def export_onnx(sources: str | Path | Sequence[str | Path], out: str | Path) -> ModelMetadata:
    """Export one checkpoint (a run folder or a best.pt), or several as an ensemble whose Q-values
    are the mean of theirs, to `out`; returns the metadata written."""
    given = [sources] if isinstance(sources, str | Path) else list(sources)
    checkpoints = [resolve_checkpoint(source) for source in given]
    if not checkpoints:
        raise ModelError("nothing to export: give at least one run folder or checkpoint")
    payloads = [load_payload(c) for c in checkpoints]
    loaded = [
        network_from_payload(payload, "cpu", c)
        for payload, c in zip(payloads, checkpoints, strict=True)
    ]
    metadatas = [
        _metadata(payload, spec, checkpoint)
        for payload, (_, spec), checkpoint in zip(payloads, loaded, checkpoints, strict=True)
    ]
    network: torch.nn.Module
    if len(checkpoints) == 1:
        network, metadata = loaded[0][0], metadatas[0]
    else:
        network = ensemble([member for member, _ in loaded])
        metadata = _ensemble_metadata(list(zip(checkpoints, metadatas, strict=True)))
    spec = metadata.obs_spec
    network.eval()
    program = torch.onnx.export(
        network,
        (torch.zeros(2, spec.dim),),
        input_names=["obs"],
        output_names=["q"],
        dynamic_shapes=({0: torch.export.Dim("batch")},),
        opset_version=OPSET,
        dynamo=True,
        verbose=False,
    )
    if program is None:
        raise ModelError(f"{checkpoints[0]}: torch.onnx.export produced no program")
    model = program.model_proto
    model.metadata_props.add(key=METADATA_KEY, value=metadata.to_json())
    model.producer_name = "abr"
    onnx.checker.check_model(model, full_check=True)
    _write_atomic(model.SerializeToString(), Path(out))
    return metadata


def _ensemble_metadata(members: list[tuple[Path, ModelMetadata]]) -> ModelMetadata:
    """The first member's metadata for what all members must share (observation, ladder, chunk
    length, QoE); the members listed, each with the training settings in which it differs from
    the first (whose config the ensemble carries); env steps summed; no validation QoE of its
    own."""
    first_checkpoint, first = members[0]
    for checkpoint, member in members[1:]:
        for name in ("obs_spec", "ladder_kbps", "chunk_s", "qoe", "trained_over"):
            if getattr(member, name) != getattr(first, name):
                raise ModelError(
                    f"{checkpoint}: its {name} differs from {first_checkpoint}'s; "
                    "the members of an ensemble must share it"
                )
    digests = sorted({member.train_traces_digest for _, member in members})
    digest = digests[0] if len(digests) == 1 else _sha256("".join(digests))
    return replace(
        first,
        train_traces=list(dict.fromkeys(t for _, m in members for t in m.train_traces)),
        train_traces_digest=digest,
        val_qoe=None,
        env_steps=sum(member.env_steps for _, member in members),
        ensemble_members=[
            {
                "checkpoint": str(checkpoint),
                "val_qoe": member.val_qoe,
                "env_steps": member.env_steps,
                "seed": member.train_config.get("seed"),
                "settings_unlike_first": _settings_unlike(first.train_config, member.train_config),
            }
            for checkpoint, member in members
        ],
    )


def _settings_unlike(first: dict[str, Any], member: dict[str, Any]) -> dict[str, Any]:
    """The member's training settings that differ from the first member's, its seed aside (seeds
    differ by design); a setting a run predates counts as its default."""
    defaults = DqnConfig().to_dict()
    first, member = defaults | first, defaults | member
    return {
        name: member.get(name)
        for name in sorted(set(first) | set(member))
        if name != "seed" and member.get(name) != first.get(name)
    }


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _metadata(payload: dict, spec: AnySpec, checkpoint: Path) -> ModelMetadata:
    config = payload["config"]
    if "ladder_kbps" in payload:
        ladder_kbps, chunk_s = list(payload["ladder_kbps"]), float(payload["chunk_s"])
        digest = str(payload["train_traces_digest"])
    else:  # checkpoints from before these were stored: rebuild them from the run's config
        video = load_video(config["video"])
        ladder_kbps, chunk_s = video.bitrates_kbps.tolist(), video.chunk_s
        digest = traces_digest(load_traces(config["traces"]))
    return ModelMetadata(
        obs_spec=spec,
        ladder_kbps=[float(kbps) for kbps in ladder_kbps],
        chunk_s=chunk_s,
        qoe=config["qoe"],
        train_traces=list(config["traces"]),
        train_traces_digest=digest,
        val_qoe=float(payload["val_qoe"]),
        env_steps=int(payload["env_steps"]),
        code_version=abr.__version__,
        created_utc=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        train_config=dict(config),
        trained_over=completed_trained_over(dict(payload.get("trained_over", {}))),
    )


def _write_atomic(data: bytes, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a model is meant to be read
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
