"""QoE metrics (Pensieve, Table 1) and per-session summaries.

Per chunk k: `q(R_k) - mu * rebuffer_k - |q(R_k) - q(R_{k-1})|`, with
    lin: q(R) = R in Mbps,       mu = 4.3
    log: q(R) = ln(R / R_min),   mu = 2.66   (R_min: the ladder's lowest rung)
    hd:  q from {300: 1, 750: 2, 1200: 3, 1850: 12, 2850: 15, 4300: 20} (kbps), mu = 8;
         other bitrates are interpolated linearly in kbps (flat beyond the table's ends).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from abr.media.video import ENVIVIO_BITRATES_KBPS

QOE_NAMES = ("lin", "log", "hd")
_HD_TABLE_KBPS = np.array(ENVIVIO_BITRATES_KBPS, dtype=np.float64)  # hd is defined on it
_HD_TABLE_UTILITY = np.array([1.0, 2.0, 3.0, 12.0, 15.0, 20.0])


@dataclass(frozen=True)
class Qoe:
    name: str
    utility: np.ndarray  # [L] q(R) of each ladder level
    rebuffer_penalty: float  # mu, per second of rebuffering

    @property
    def penalty_over_top(self) -> float:
        """The stall penalty over the top rung's utility: how much a second of stalling costs
        against the best chunk (Pensieve set mu to the top utility: 1 for Envivio with lin and
        log; 0.27 for a 16-Mbps ladder with lin, 3.1 for a 1.4-Mbps one)."""
        top = float(self.utility[-1])
        return self.rebuffer_penalty / top if top > 0 else 1.0

    @property
    def ladder_scale(self) -> float:
        """What a model for any ladder multiplies this video's QoE by, in training and in
        validation: a ladder whose top utility exceeds the stall penalty is brought down to it
        (every ladder's best chunk then scores at most mu), a lower one kept as it is (scaling
        it up would multiply its stall penalty too)."""
        return min(1.0, self.penalty_over_top)

    def per_chunk(
        self, levels: np.ndarray, previous_levels: np.ndarray, rebuffer_s: np.ndarray
    ) -> np.ndarray:
        """QoE of chunks fetched at `levels` after `previous_levels` (any matching shapes)."""
        quality = self.utility[levels]
        return (
            quality
            - self.rebuffer_penalty * rebuffer_s
            - np.abs(quality - self.utility[previous_levels])
        )


def make_qoe(name: str, bitrates_kbps: np.ndarray) -> Qoe:
    ladder = np.asarray(bitrates_kbps, dtype=np.float64)
    if name == "lin":
        return Qoe(name, ladder / 1000.0, 4.3)
    if name == "log":
        return Qoe(name, np.log(ladder / ladder[0]), 2.66)
    if name == "hd":
        return Qoe(name, np.interp(ladder, _HD_TABLE_KBPS, _HD_TABLE_UTILITY), 8.0)
    raise ValueError(f"unknown QoE {name!r}; expected one of {QOE_NAMES}")


@dataclass(frozen=True)
class SessionSummary:
    """One session's playback, as a player or an operator would summarise it."""

    mean_qoe: float  # mean per-chunk QoE over chunks 2..N (the protocol's score)
    total_qoe: float  # sum over chunks 2..N
    avg_bitrate_kbps: float  # over all chunks
    rebuffer_s: float  # stalls after startup (chunks 2..N)
    startup_delay_s: float  # the first chunk's delay, all of it rebuffering
    rebuffer_ratio: float  # rebuffer_s / (rebuffer_s + played seconds)
    switches: int  # bitrate changes between consecutive chunks
    avg_switch_kbps: float  # mean |change| over the switches made (0 if none)
    chunks: int

    def to_dict(self) -> dict[str, float | int]:
        return dict(self.__dict__)


def summarize_session(
    qoe: Qoe,
    levels: np.ndarray,
    rebuffer_s: np.ndarray,
    bitrates_kbps: np.ndarray,
    chunk_s: float,
    skip_first: int = 1,
) -> SessionSummary:
    """Summarise one session's chunks; the first `skip_first` chunks are the startup.

    The protocol (docs/design.md) scores chunks 2..N: chunk 1 is fetched at the default level
    with an empty buffer, so its whole download is startup, not a stall, and R_0 = R_1.
    """
    levels = np.asarray(levels, dtype=np.int64)
    rebuffer_s = np.asarray(rebuffer_s, dtype=np.float64)
    if len(levels) == 0 or len(levels) != len(rebuffer_s):
        raise ValueError("levels and rebuffer_s must be non-empty and of equal length")
    if not 0 <= skip_first < len(levels):
        raise ValueError(f"skip_first must lie in [0, {len(levels)})")
    previous = np.concatenate((levels[:1], levels[:-1]))
    per_chunk = qoe.per_chunk(levels, previous, rebuffer_s)[skip_first:]
    bitrates = np.asarray(bitrates_kbps, dtype=np.float64)[levels]
    changes_kbps = np.abs(np.diff(bitrates))
    switches = int(np.count_nonzero(changes_kbps))
    stalls_s = float(rebuffer_s[skip_first:].sum())
    played_s = len(levels) * chunk_s
    return SessionSummary(
        mean_qoe=float(per_chunk.mean()),
        total_qoe=float(per_chunk.sum()),
        avg_bitrate_kbps=float(bitrates.mean()),
        rebuffer_s=stalls_s,
        startup_delay_s=float(rebuffer_s[:skip_first].sum()),
        rebuffer_ratio=stalls_s / (stalls_s + played_s),
        switches=switches,
        avg_switch_kbps=float(changes_kbps[changes_kbps > 0].mean()) if switches else 0.0,
        chunks=len(levels),
    )
