"""What an exported model says about itself, stored as JSON under one key of the ONNX graph's
metadata, and read back (and checked) by the runtime policy. Torch-free: the service reads it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from abr.player.ladder_observation import LadderSpec
from abr.player.observation import AnySpec, spec_from_dict

METADATA_KEY = "abr.model"
MODEL_FORMAT = "abr-model-v1"


# What a model for any ladder was trained over, for the keys `trained_over` gained after models
# were saved without them: chunk lengths were drawn uniformly until the choice was recorded.
TRAINED_OVER_UNRECORDED = {"chunk_s_drawn": "uniform"}


def completed_trained_over(saved: dict[str, Any]) -> dict[str, Any]:
    """A model's `trained_over` as saved, with the keys it predates filled with what they were
    then, so that models trained alike compare equal; empty (a model for one ladder) stays so."""
    return TRAINED_OVER_UNRECORDED | saved if saved else {}


class ModelError(ValueError):
    """A model file that cannot be used; the message names the file and what is wrong."""


def teacher_name(train_config: dict[str, Any]) -> str:
    """ "none", "mpc", or "oracle:<horizon>" with its loss when that is not the margin."""
    name = str(train_config.get("teacher", "none"))
    if name != "oracle":
        return name
    label = f"oracle:{train_config.get('teacher_horizon')}"
    loss = train_config.get("teacher_loss", "margin")
    return label if loss == "margin" else f"{label} ({loss})"


@dataclass(frozen=True)
class ModelMetadata:
    obs_spec: AnySpec  # a v2 spec: any ladder of 2..max_rungs rungs (ladder_kbps is then empty)
    ladder_kbps: list[float]
    chunk_s: float
    qoe: str
    train_traces: list[str]
    train_traces_digest: str
    val_qoe: float | None
    env_steps: int
    code_version: str
    created_utc: str
    train_config: dict[str, Any] = field(default_factory=dict)
    # an ensemble (mean Q of several networks): one entry per member (checkpoint, its validation
    # QoE, env steps, seed); empty for a single network
    ensemble_members: list[dict[str, Any]] = field(default_factory=list)
    # a model for any ladder: the range of videos it was trained over (rungs, kbps, chunk_s)
    trained_over: dict[str, Any] = field(default_factory=dict)
    format: str = MODEL_FORMAT

    @property
    def version(self) -> str:
        """A short name for this model: its creation time and training-data digest."""
        return f"{self.created_utc}/{self.train_traces_digest[:8]}"

    @property
    def teacher(self) -> str:
        """Who taught it (DAgger), from the training settings it was made with."""
        return teacher_name(self.train_config)

    def matches_ladder(self, bitrates_kbps: np.ndarray) -> bool:
        ladder = self.ladder_kbps
        if len(ladder) != len(bitrates_kbps):
            return False
        return all(
            abs(a - b) <= 1e-6 * b for a, b in zip(ladder, bitrates_kbps.tolist(), strict=True)
        )

    def to_json(self) -> str:
        data = asdict(self)
        data["obs_spec"] = self.obs_spec.to_dict()
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str) -> ModelMetadata:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelError(f"{source}: metadata {METADATA_KEY!r} is not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ModelError(f"{source}: metadata {METADATA_KEY!r} is not a JSON object")
        if data.get("format") != MODEL_FORMAT:
            raise ModelError(
                f"{source}: model format {data.get('format')!r}; this code reads {MODEL_FORMAT}"
            )
        try:
            data["obs_spec"] = spec_from_dict(data["obs_spec"])
            metadata = cls(**data)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{source}: metadata {METADATA_KEY!r} is incomplete ({exc})") from None
        if not metadata.any_ladder and len(metadata.ladder_kbps) != metadata.obs_spec.n_levels:
            raise ModelError(
                f"{source}: ladder has {len(metadata.ladder_kbps)} levels, "
                f"observation spec {metadata.obs_spec.n_levels}"
            )
        return metadata

    @property
    def any_ladder(self) -> bool:
        """Whether the model decides for any ladder (the v2 observation), not one."""
        return isinstance(self.obs_spec, LadderSpec)

    def check_video(self, bitrates_kbps: np.ndarray, source: str) -> None:
        """A one-ladder model knows only the ladder it was trained on, and refuses any other; a
        model for any ladder takes every ladder: one rung leaves no choice, and more than its
        `max_rungs` are decided over `max_rungs` of them (`decide_over_kept_rungs`)."""
        if not self.any_ladder and not self.matches_ladder(bitrates_kbps):
            raise ModelError(
                f"{source}: model ladder {self.ladder_kbps} kbps does not match the video's "
                f"{bitrates_kbps.tolist()} kbps: this model was trained on one video and decides "
                "for its ladder only; the shipped model, and models trained with "
                'ladders = "sampled", decide for any ladder'
            )
