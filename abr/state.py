"""The batched player state: what a real player can observe before choosing the next chunk.

Raw units, one row per session. Classic policies read it directly; learned policies read
`abr.observation.encode(state)`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PlayerState:
    last_level: np.ndarray  # [N] int64, level of the last chunk fetched (default before the first)
    buffer_s: np.ndarray  # [N]
    throughput_kbps: np.ndarray  # [N, H] chunk size / delay (RTT included), most recent last
    delay_s: np.ndarray  # [N, H] download delay of past chunks, most recent last
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


def stack_states(states: list[PlayerState]) -> PlayerState:
    """One state holding the sessions of several states of the same video, in order."""
    first = states[0]
    return PlayerState(
        last_level=np.concatenate([s.last_level for s in states]),
        buffer_s=np.concatenate([s.buffer_s for s in states]),
        throughput_kbps=np.concatenate([s.throughput_kbps for s in states]),
        delay_s=np.concatenate([s.delay_s for s in states]),
        history_count=np.concatenate([s.history_count for s in states]),
        next_sizes_bytes=np.concatenate([s.next_sizes_bytes for s in states]),
        chunk_index=np.concatenate([s.chunk_index for s in states]),
        chunks_left=np.concatenate([s.chunks_left for s in states]),
        bitrates_kbps=first.bitrates_kbps,
        chunk_s=first.chunk_s,
        n_chunks=first.n_chunks,
    )
