"""The one encoding of `PlayerState` into the float32 vector that learned policies read.

Training, export, benchmark and the service all call `encode`; its spec (version and parameters)
is embedded in exported models so a model is never fed an encoding it was not trained on.

Version `abr-obs-v1`, for H = history_len and L levels, concatenates:
    last level's bitrate / top bitrate                          1
    buffer_s / buffer_scale_s                                   1
    chunks left / chunks in the video                           1
    throughput / top bitrate, clipped to [0, throughput_clip]   H   (most recent last; 0 = none)
    delay_s / chunk_s                                           H
    next chunk size at each level / nominal top-level size      L
Everything is relative to the ladder, not to one video's constants. Throughput far above the
ladder is clipped: beyond `throughput_clip` times the top rung (4 by default) every sensible
decision is the top rung, and the clip keeps 5G traces (1000x the ladder) in the trained range.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from abr.state import PlayerState
from abr.units import BITS_PER_BYTE, BITS_PER_KBIT

OBS_VERSION = "abr-obs-v1"


@dataclass(frozen=True)
class ObservationSpec:
    n_levels: int
    history_len: int = 8
    buffer_scale_s: float = 10.0
    throughput_clip: float = 4.0
    version: str = OBS_VERSION

    @property
    def dim(self) -> int:
        return 3 + 2 * self.history_len + self.n_levels

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ObservationSpec:
        version = data.get("version")
        if version != OBS_VERSION:
            raise ValueError(f"unsupported observation version {version!r}; this is {OBS_VERSION}")
        known = {"n_levels", "history_len", "buffer_scale_s", "throughput_clip", "version"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown observation spec fields: {sorted(unknown)}")
        return cls(**data)  # type: ignore[arg-type]


def encode(state: PlayerState, spec: ObservationSpec) -> np.ndarray:
    """[N, spec.dim] float32."""
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
        state.delay_s[:, -h:] / state.chunk_s,
        state.next_sizes_bytes / nominal_top_bytes,
    ]
    return np.concatenate(columns, axis=1).astype(np.float32)
