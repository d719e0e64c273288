"""The ladder-agnostic encoding (`abr-obs-v2`): one observation for any ladder of 2 to
`max_rungs` rungs, any chunk length and any VBR size table, so that one model decides for every
video.

Every rung is described by the same features, read by one network shared across rungs
(`RungQNetwork`), so the number of rungs is free; the rungs are padded to `max_rungs` and a
mask says which exist, so the observation stays one flat float32 vector (the replay, the ONNX
graph and the runtime keep one input). Every quantity is a ratio or a log-ratio — bitrates
against the ladder's top and against the measured throughput, times against the chunk length —
so a 4K ladder over 5G and a 200-kbps rung over 3G land in the same ranges.

Layout, for H = history_len and R = max_rungs:
    session (SESSION_FEATURES + 2 H):
        buffer_s / 10; buffer in chunks / 5 (every time in chunks clipped at +-10)
        chunk_s / 10
        chunks left / chunks in the video; seconds left / 100
        log2(the QoE's stall penalty over its top rung's utility)
        log2(harmonic mean of the last 5 throughputs / top bitrate) (clipped), and of the
        smallest of them; the history's fill (count / H); log2(last rung / top); rungs / R
        per past chunk: log2(throughput / harmonic mean), download_s / chunk_s (0 = none)
    per rung (RUNG_FEATURES each, R of them; zeros where padded):
        log2(bitrate / top); log2(bitrate / harmonic mean) (clipped)
        utility / top utility; (utility - last rung's utility) / top utility
        next chunk size / the rung's nominal size (VBR)
        predicted download time of the next chunk / chunk_s at the harmonic mean, and at the
        smallest recent throughput (log2, clipped); buffer left after it / chunk_s at each
        (clipped); 1 for the last rung fetched
    mask (R): 1 for a rung the video has.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

import numpy as np

from abr.player.qoe import make_qoe
from abr.player.state import PlayerState
from abr.player.throughput import recent_throughputs_kbps
from abr.units import BITS_PER_BYTE, BITS_PER_KBIT

LADDER_OBS_VERSION = "abr-obs-v2"
SESSION_FEATURES = 11
RUNG_FEATURES = 10
ROBUST_WINDOW = 5  # chunks in the throughput estimates (RobustMPC's harmonic mean)
LOG2_CLIP = 8.0  # log2 ratios beyond 256x carry no decision
BUFFER_CLIP_CHUNKS = 10.0  # times in chunks
FEATURE_CLIP = 16.0  # no feature beyond this, in or out of the trained range


@dataclass(frozen=True)
class LadderSpec:
    max_rungs: int = 12
    history_len: int = 8
    qoe: str = "lin"  # whose utilities and stall penalty the rung features describe
    version: str = LADDER_OBS_VERSION

    @property
    def n_levels(self) -> int:
        """The network's outputs: one per possible rung (those past the ladder masked)."""
        return self.max_rungs

    @property
    def session_dim(self) -> int:
        return SESSION_FEATURES + 2 * self.history_len

    @property
    def dim(self) -> int:
        return self.session_dim + (RUNG_FEATURES + 1) * self.max_rungs

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> LadderSpec:
        if data.get("version") != LADDER_OBS_VERSION:
            raise ValueError(f"not a {LADDER_OBS_VERSION} spec: {data.get('version')!r}")
        known = {spec_field.name for spec_field in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown observation spec fields: {sorted(unknown)}")
        return cls(**data)  # type: ignore[arg-type]


def _clip(values: np.ndarray, bound: float) -> np.ndarray:
    """`values` within +-bound (two ufuncs: np.clip's wrapper costs more than them at batch 1)."""
    return np.minimum(np.maximum(values, -bound), bound)


def _log2_ratio(numerator: np.ndarray, denominator: np.ndarray | float) -> np.ndarray:
    # both floored above zero, so the ratio is finite and positive for finite inputs
    ratio = np.log2(np.maximum(numerator, 1e-9) / np.maximum(denominator, 1e-9))
    return _clip(ratio, LOG2_CLIP)


def _chunks_clipped(chunks: np.ndarray) -> np.ndarray:
    """A time in chunks, clipped: beyond 10 chunks ahead or behind every decision is the same."""
    return _clip(chunks, BUFFER_CLIP_CHUNKS)


@dataclass(frozen=True)
class _LadderConstants:
    """What the encoding reads of a ladder alone, computed once per ladder."""

    utility: np.ndarray  # [L], the QoE's
    top_utility: float
    log2_penalty_over_top: float
    log2_rate_over_top: np.ndarray  # [L]
    utility_over_top: np.ndarray  # [L]


@functools.lru_cache(maxsize=1024)
def _ladder_constants(qoe_name: str, ladder_kbps: tuple[float, ...]) -> _LadderConstants:
    ladder = np.asarray(ladder_kbps, dtype=np.float64)
    qoe = make_qoe(qoe_name, ladder)
    top_utility = float(qoe.utility[-1]) if qoe.utility[-1] > 0 else 1.0
    constants = _LadderConstants(
        utility=qoe.utility,
        top_utility=top_utility,
        log2_penalty_over_top=float(np.log2(qoe.penalty_over_top)),
        log2_rate_over_top=_log2_ratio(ladder, float(ladder[-1])),
        utility_over_top=qoe.utility / top_utility,
    )
    for array in (constants.utility, constants.log2_rate_over_top, constants.utility_over_top):
        array.setflags(write=False)  # shared by every call for this ladder
    return constants


def encode_ladder(state: PlayerState, spec: LadderSpec) -> np.ndarray:
    """[N, spec.dim] float32, for a ladder of 2..max_rungs rungs."""
    n_levels, h = state.n_levels, spec.history_len
    if not 2 <= n_levels <= spec.max_rungs:
        raise ValueError(
            f"the ladder has {n_levels} rungs; this encoding takes 2 to {spec.max_rungs}"
        )
    if state.throughput_kbps.shape[1] < h:
        raise ValueError(
            f"state keeps {state.throughput_kbps.shape[1]} history entries, spec needs {h}"
        )
    ladder_kbps = state.bitrates_kbps.astype(np.float64)
    top_kbps, chunk_s = float(ladder_kbps[-1]), float(state.chunk_s)
    ladder = _ladder_constants(spec.qoe, tuple(ladder_kbps.tolist()))
    recent, exists = recent_throughputs_kbps(state, ROBUST_WINDOW)
    has_history = exists.any(axis=1)
    inverse = np.where(exists, 1.0 / np.where(exists, np.maximum(recent, 1e-9), 1.0), 0.0)
    # before any chunk: as if the lowest rung had been fetched in exactly its duration
    lowest_kbps = ladder_kbps[0]
    harmonic_kbps = np.where(
        has_history, exists.sum(axis=1) / np.maximum(inverse.sum(axis=1), 1e-12), lowest_kbps
    )
    smallest_kbps = np.where(has_history, np.where(exists, recent, np.inf).min(axis=1), lowest_kbps)

    history_kbps = state.throughput_kbps[:, -h:]
    history_exists = np.arange(h)[None, :] >= h - np.minimum(state.history_count, h)[:, None]
    session = np.concatenate(
        [
            np.stack(
                [
                    state.buffer_s / 10.0,
                    _chunks_clipped(state.buffer_s / chunk_s) / 5.0,
                    np.full(state.n_sessions, chunk_s / 10.0),
                    state.chunks_left / state.n_chunks,
                    state.chunks_left * chunk_s / 100.0,
                    np.full(state.n_sessions, ladder.log2_penalty_over_top),
                    _log2_ratio(harmonic_kbps, top_kbps),
                    _log2_ratio(smallest_kbps, top_kbps),
                    np.minimum(state.history_count, h) / h,
                    _log2_ratio(ladder_kbps[state.last_level], top_kbps),
                    np.full(state.n_sessions, n_levels / spec.max_rungs),
                ],
                axis=1,
            ),
            np.where(history_exists, _log2_ratio(history_kbps, harmonic_kbps[:, None]), 0.0),
            np.where(history_exists, _chunks_clipped(state.download_s[:, -h:] / chunk_s), 0.0),
        ],
        axis=1,
    )

    sizes_bits = state.next_sizes_bytes * BITS_PER_BYTE  # [N, L]
    nominal_bits = ladder_kbps * BITS_PER_KBIT * chunk_s  # [L]
    fetch_at_mean_s = sizes_bits / (harmonic_kbps[:, None] * BITS_PER_KBIT)
    fetch_at_worst_s = sizes_bits / (np.maximum(smallest_kbps, 1e-9)[:, None] * BITS_PER_KBIT)
    buffer_s = state.buffer_s[:, None]
    last_utility = ladder.utility[state.last_level][:, None]
    rungs = np.stack(
        [
            np.broadcast_to(ladder.log2_rate_over_top, sizes_bits.shape),
            _log2_ratio(ladder_kbps[None, :], harmonic_kbps[:, None]),
            np.broadcast_to(ladder.utility_over_top, sizes_bits.shape),
            (ladder.utility[None, :] - last_utility) / ladder.top_utility,
            sizes_bits / nominal_bits[None, :],
            _log2_ratio(fetch_at_mean_s, chunk_s),
            _log2_ratio(fetch_at_worst_s, chunk_s),
            _chunks_clipped((buffer_s - fetch_at_mean_s) / chunk_s),
            _chunks_clipped((buffer_s - fetch_at_worst_s) / chunk_s),
            np.arange(n_levels)[None, :] == state.last_level[:, None],
        ],
        axis=2,
    )  # [N, L, RUNG_FEATURES]
    padded = np.zeros((state.n_sessions, spec.max_rungs, RUNG_FEATURES))
    padded[:, :n_levels] = rungs
    mask = np.zeros((state.n_sessions, spec.max_rungs))
    mask[:, :n_levels] = 1.0
    flat = [session, padded.reshape(state.n_sessions, -1), mask]
    # every feature bounded, whatever a client sends (an hour-long chunk, a million chunks)
    return _clip(np.concatenate(flat, axis=1), FEATURE_CLIP).astype(np.float32)


def kept_rungs(n_levels: int, max_rungs: int) -> np.ndarray:
    """The rungs a model of `max_rungs` decides among on a longer ladder: `max_rungs` of them
    evenly spread over the ladder's indices, its lowest and highest among them (published
    ladders are close to geometric, so even in index is close to even in log rate)."""
    return np.round(np.linspace(0, n_levels - 1, max_rungs)).astype(np.int64)


def decided_view(state: PlayerState, spec: LadderSpec) -> tuple[PlayerState, np.ndarray]:
    """The state a model of `spec` decides on, and the ladder level each of its rungs stands
    for: the state itself for a ladder of up to `max_rungs` rungs; for a longer one, the state
    over its kept rungs, the last chunk's rung seen as the nearest kept one."""
    if state.n_levels <= spec.max_rungs:
        return state, np.arange(state.n_levels)
    kept = kept_rungs(state.n_levels, spec.max_rungs)
    return state.with_rungs(kept), kept


def decide_over_kept_rungs(
    state: PlayerState, spec: LadderSpec, decide: Callable[[PlayerState], np.ndarray]
) -> np.ndarray:
    """`decide`'s levels [N] for a ladder of any length: a single rung is the only choice, and
    a ladder longer than the model's `max_rungs` is decided over its `decided_view`, the choice
    mapped back to the whole ladder."""
    if state.n_levels == 1:
        return np.zeros(state.n_sessions, dtype=np.int64)
    view, levels = decided_view(state, spec)
    return levels[decide(view)]
