"""The one encoding of `PlayerState` into the float32 vector that learned policies read.

Training, export, benchmark and the service all call `encode`; its spec (version and parameters)
is embedded in exported models so a model is never fed an encoding it was not trained on.

Version `abr-obs-v1`, for H = history_len and L levels, concatenates:
    last level's bitrate / top bitrate                          1
    buffer_s / buffer_scale_s                                   1
    chunks left / chunks in the video                           1
    throughput / top bitrate, clipped to [0, throughput_clip]   H   (most recent last; 0 = none)
    download_s / chunk_s                                           H
    next chunk size at each level / nominal top-level size      L
and, when `robust_window` k > 0 (the default is 0, i.e. absent):
    harmonic mean of the last k throughputs / top bitrate       1   (clipped as above; 0 = none)
    the smallest of the last k throughputs / top bitrate        1   (clipped as above; 0 = none)
Everything is relative to the ladder, not to one video's constants. Throughput far above the
ladder is clipped: beyond `throughput_clip` times the top rung (4 by default) every sensible
decision is the top rung, and the clip keeps 5G traces (1000x the ladder) in the trained range.
The two robust columns are what rate-based rules trust instead of the last sample (RobustMPC's
harmonic mean; the worst recent chunk): an MLP needs many units to compute either from the raw
history, and without them it follows single bursts of throughput.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from abr.player.ladder_observation import LADDER_OBS_VERSION, LadderSpec, encode_ladder
from abr.player.state import PlayerState
from abr.player.throughput import harmonic_mean_of, recent_throughputs_kbps
from abr.units import BITS_PER_BYTE, BITS_PER_KBIT

OBS_VERSION = "abr-obs-v1"


@dataclass(frozen=True)
class ObservationSpec:
    n_levels: int
    history_len: int = 8
    buffer_scale_s: float = 10.0
    throughput_clip: float = 4.0
    robust_window: int = 0  # > 0: two more columns (harmonic mean and minimum of k throughputs)
    version: str = OBS_VERSION

    @property
    def dim(self) -> int:
        return 3 + 2 * self.history_len + self.n_levels + (2 if self.robust_window > 0 else 0)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ObservationSpec:
        version = data.get("version")
        if version != OBS_VERSION:
            raise ValueError(
                f"unsupported observation version {version!r}; "
                f"this is {OBS_VERSION} or {LADDER_OBS_VERSION}"
            )
        known = {spec_field.name for spec_field in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown observation spec fields: {sorted(unknown)}")
        return cls(**data)  # type: ignore[arg-type]


AnySpec = ObservationSpec | LadderSpec  # v1 (one ladder) or v2 (any ladder)


def spec_from_dict(data: dict[str, object]) -> AnySpec:
    """The spec a model was trained with, by its version."""
    if data.get("version") == LADDER_OBS_VERSION:
        return LadderSpec.from_dict(data)
    return ObservationSpec.from_dict(data)


def encode(state: PlayerState, spec: AnySpec) -> np.ndarray:
    """[N, spec.dim] float32."""
    if isinstance(spec, LadderSpec):
        return encode_ladder(state, spec)
    if state.n_levels != spec.n_levels:
        raise ValueError(f"state has {state.n_levels} levels, spec expects {spec.n_levels}")
    h = spec.history_len
    if state.throughput_kbps.shape[1] < h:
        raise ValueError(
            f"state keeps {state.throughput_kbps.shape[1]} history entries, spec needs {h}"
        )
    top_kbps = float(state.bitrates_kbps[-1])
    nominal_top_bytes = top_kbps * BITS_PER_KBIT / BITS_PER_BYTE * state.chunk_s
    columns = [
        (state.bitrates_kbps[state.last_level] / top_kbps)[:, None],
        (state.buffer_s / spec.buffer_scale_s)[:, None],
        (state.chunks_left / state.n_chunks)[:, None],
        np.clip(state.throughput_kbps[:, -h:] / top_kbps, 0.0, spec.throughput_clip),
        state.download_s[:, -h:] / state.chunk_s,
        state.next_sizes_bytes / nominal_top_bytes,
    ]
    if spec.robust_window > 0:
        columns += [
            np.clip(column / top_kbps, 0.0, spec.throughput_clip)[:, None]
            for column in _robust_throughputs_kbps(state, spec.robust_window)
        ]
    return np.concatenate(columns, axis=1).astype(np.float32)


def _robust_throughputs_kbps(state: PlayerState, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Harmonic mean and minimum of the last `window` throughputs that exist; 0 where none does."""
    recent, exists = recent_throughputs_kbps(state, window)
    smallest = np.where(exists, recent, np.inf).min(axis=1)
    return harmonic_mean_of(recent, exists), np.where(np.isfinite(smallest), smallest, 0.0)
