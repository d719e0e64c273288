"""How finely a trace set resolves the difference between two policies: the paired bootstrap.

Both policies play the same traces, so their scores are differenced trace by trace, and the
traces are resampled with replacement; the interval is the percentile interval of the resampled
means. Pairing matters: what one trace makes hard for both cancels, so the interval is that of the
difference, not of two independent means. (A percentile bootstrap of a mean is these few lines
of numpy; scipy.stats.bootstrap would bring scipy into the serving install for them.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RESAMPLES_PER_BLOCK = 1_000  # bounds the index array at 1,000 × traces


@dataclass(frozen=True)
class PairedGain:
    """Mean of (policy − reference) over traces, and its bootstrap interval."""

    mean: float
    low: float
    high: float


def paired_gain(
    qoe: np.ndarray,
    reference_qoe: np.ndarray,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> PairedGain:
    """`qoe` and `reference_qoe`: one score per trace, the same traces in the same order."""
    scores = np.asarray(qoe, dtype=np.float64)
    reference = np.asarray(reference_qoe, dtype=np.float64)
    if scores.ndim != 1 or scores.shape != reference.shape or len(scores) == 0:
        raise ValueError(
            "paired_gain needs one score per trace from each policy over the same traces, "
            f"got {scores.shape} and {reference.shape}"
        )
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    differences = scores - reference
    rng = np.random.default_rng(seed)
    n = len(differences)
    blocks = []
    for start in range(0, n_resamples, RESAMPLES_PER_BLOCK):
        size = min(RESAMPLES_PER_BLOCK, n_resamples - start)
        blocks.append(differences[rng.integers(0, n, (size, n))].mean(axis=1))
    means = np.concatenate(blocks)
    tail_percent = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(means, [tail_percent, 100.0 - tail_percent])
    return PairedGain(float(differences.mean()), float(low), float(high))
