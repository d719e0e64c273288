"""The batched player state: what a real player can observe before choosing the next chunk.

Raw units, one row per session. Classic policies read it directly; learned policies read
`abr.player.observation.encode(state)`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from abr.media.video import Video


@dataclass(frozen=True)
class PlayerState:
    last_level: np.ndarray  # [N] int64, level of the last chunk fetched (default before the first)
    buffer_s: np.ndarray  # [N]
    throughput_kbps: np.ndarray  # [N, H] chunk size / download_s, most recent last
    # [N, H] request to last byte of past chunks (RTT included), most recent last
    download_s: np.ndarray
    history_count: np.ndarray  # [N] int64, how many history entries are real (the rest are 0)
    next_sizes_bytes: np.ndarray  # [N, L] size of the next chunk at each level (0 when done)
    chunk_index: np.ndarray  # [N] int64, index of the next chunk
    chunks_left: np.ndarray  # [N] int64, chunks not yet fetched
    bitrates_kbps: np.ndarray  # [L] the ladder
    chunk_s: float
    n_chunks: int

    @property
    def n_sessions(self) -> int:
        return len(self.buffer_s)

    @property
    def n_levels(self) -> int:
        return len(self.bitrates_kbps)

    def sessions(self, index: slice | np.ndarray) -> PlayerState:
        """The state of the sessions at `index` only."""
        per_session: dict[str, Any] = {f: getattr(self, f)[index] for f in SESSION_FIELDS}
        return replace(self, **per_session)

    def with_rungs(self, kept: np.ndarray) -> PlayerState:
        """The state as if the ladder had only the rungs `kept` (increasing indices); the last
        chunk's rung counts as the kept rung nearest to it in log rate."""
        kept_kbps = self.bitrates_kbps[kept]
        last_kbps = self.bitrates_kbps[self.last_level]
        distance = np.abs(np.log(kept_kbps)[None, :] - np.log(last_kbps)[:, None])  # [N, K]
        return replace(
            self,
            bitrates_kbps=kept_kbps,
            next_sizes_bytes=self.next_sizes_bytes[:, kept],
            last_level=distance.argmin(axis=1).astype(np.int64),
        )


# what differs between sessions (the rest describes the video they all play)
SESSION_FIELDS = tuple(
    f.name for f in fields(PlayerState) if f.name not in ("bitrates_kbps", "chunk_s", "n_chunks")
)


def player_state(
    video: Video,
    chunk_index: np.ndarray,
    last_level: np.ndarray,
    buffer_s: np.ndarray,
    throughput_kbps: np.ndarray,
    download_s: np.ndarray,
    history_count: np.ndarray,
) -> PlayerState:
    """The one way to build a state: the arrays a player keeps, and what follows from the video
    (the next chunk's sizes, 0 for a session that has fetched its last chunk; chunks left; the
    ladder). The arrays are kept as given, not copied."""
    next_chunk = np.minimum(chunk_index, video.n_chunks - 1)
    next_sizes_bytes = video.sizes_bytes[:, next_chunk].T.copy()  # [N, L]
    next_sizes_bytes[chunk_index >= video.n_chunks] = 0.0
    return PlayerState(
        last_level=last_level,
        buffer_s=buffer_s,
        throughput_kbps=throughput_kbps,
        download_s=download_s,
        history_count=history_count,
        next_sizes_bytes=next_sizes_bytes,
        chunk_index=chunk_index,
        chunks_left=video.n_chunks - chunk_index,
        bitrates_kbps=video.bitrates_kbps,
        chunk_s=video.chunk_s,
        n_chunks=video.n_chunks,
    )


def stack_states(states: list[PlayerState]) -> PlayerState:
    """One state holding the sessions of several states of the same video, in order."""
    per_session: dict[str, Any] = {
        f: np.concatenate([getattr(s, f) for s in states]) for f in SESSION_FIELDS
    }
    return replace(states[0], **per_session)
