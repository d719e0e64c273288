"""Throughput estimates from a player's chunk history: what the classic policies and the
observation encoding both read."""

from __future__ import annotations

import numpy as np

from abr.player.state import PlayerState


def recent_throughputs_kbps(state: PlayerState, window: int) -> tuple[np.ndarray, np.ndarray]:
    """The last `window` chunk throughputs [N, W] and which of them exist (bool [N, W]): a
    session's first chunks have less history than the window."""
    recent = state.throughput_kbps[:, -window:]
    exists = (
        np.arange(recent.shape[1])[None, :]
        >= recent.shape[1] - np.minimum(state.history_count, window)[:, None]
    )
    return recent, exists


def harmonic_mean_kbps(state: PlayerState, window: int = 5) -> np.ndarray:
    """Harmonic mean of the last `window` chunk throughputs that exist; 0 where none does. [N]"""
    return harmonic_mean_of(*recent_throughputs_kbps(state, window))


def harmonic_mean_of(recent: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Harmonic mean over the `valid` entries of each row of `recent`; 0 where none is. [N]"""
    # A throughput so small that its reciprocal overflows gives inf here, so a harmonic mean of
    # 0 (the lowest rung): the right answer, not an error worth a warning.
    with np.errstate(over="ignore"):
        inverse_sum = np.where(valid, 1.0 / np.where(valid, recent, 1.0), 0.0).sum(axis=1)
    count = valid.sum(axis=1)
    return np.where(count > 0, count / np.where(inverse_sum > 0, inverse_sum, 1.0), 0.0)
