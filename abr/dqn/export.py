"""`abr export`: a trained Q-network as an ONNX graph (input `obs` float32 [B, D], output `q`
float32 [B, A], dynamic batch) with the model's metadata, checked and written atomically."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

import onnx
import torch

import abr
from abr.dqn.train import load_best_model
from abr.model_meta import METADATA_KEY, ModelError, ModelMetadata
from abr.observation import ObservationSpec
from abr.traces import load_traces, traces_digest
from abr.video import load_video

OPSET = 18


def resolve_checkpoint(path: str | Path) -> Path:
    """A run folder means its best model; a file is taken as it is."""
    path = Path(path)
    if path.is_dir():
        path = path / "best.pt"
    if not path.is_file():
        raise ModelError(f"{path}: no such checkpoint (give a run folder or a best.pt file)")
    return path


def export_onnx(checkpoint: str | Path, out: str | Path) -> ModelMetadata:
    """Export `checkpoint` (a run folder or a best.pt) to `out`; returns the metadata written."""
    checkpoint = resolve_checkpoint(checkpoint)
    payload = torch.load(checkpoint, map_location="cpu", weights_only=True)
    network, spec = load_best_model(checkpoint)
    metadata = _metadata(payload, spec, checkpoint)
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
        raise ModelError(f"{checkpoint}: torch.onnx.export produced no program")
    model = program.model_proto
    model.metadata_props.add(key=METADATA_KEY, value=metadata.to_json())
    model.producer_name = "abr"
    onnx.checker.check_model(model, full_check=True)
    _write_atomic(model.SerializeToString(), Path(out))
    return metadata


def _metadata(payload: dict, spec: ObservationSpec, checkpoint: Path) -> ModelMetadata:
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
