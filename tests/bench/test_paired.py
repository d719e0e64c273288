"""The paired bootstrap interval of a gain over a reference policy."""

import numpy as np
import pytest

from abr.bench.paired import paired_gain


def test_a_constant_difference_has_no_width_however_much_the_traces_vary():
    """Paired: what a trace does to both policies cancels (resampling the two policies' traces
    independently would give an interval several units wide here)."""
    reference = np.random.default_rng(0).normal(0.0, 3.0, 100)
    gain = paired_gain(reference + 0.2, reference)
    assert gain.mean == pytest.approx(0.2)
    assert gain.low == pytest.approx(0.2) and gain.high == pytest.approx(0.2)


def test_the_interval_matches_the_normal_one_for_many_normal_traces():
    rng = np.random.default_rng(1)
    differences = rng.normal(0.1, 1.0, 2_000)
    gain = paired_gain(differences, np.zeros_like(differences), n_resamples=4_000)
    half_width = 1.96 * differences.std() / np.sqrt(len(differences))
    assert gain.mean == pytest.approx(differences.mean())
    assert gain.low == pytest.approx(gain.mean - half_width, abs=0.08 * half_width)
    assert gain.high == pytest.approx(gain.mean + half_width, abs=0.08 * half_width)


def test_about_nineteen_intervals_in_twenty_hold_the_true_gain():
    rng = np.random.default_rng(2)
    covered = 0
    for repetition in range(200):
        differences = rng.normal(0.1, 1.0, 60)
        gain = paired_gain(differences, np.zeros(60), n_resamples=1_500, seed=repetition)
        covered += gain.low <= 0.1 <= gain.high
    assert 0.9 <= covered / 200 <= 0.98


def test_a_narrower_confidence_gives_a_narrower_interval_and_the_same_seed_the_same():
    differences = np.random.default_rng(3).normal(0.0, 1.0, 80)
    wide = paired_gain(differences, np.zeros(80), confidence=0.95)
    narrow = paired_gain(differences, np.zeros(80), confidence=0.5)
    assert wide.low < narrow.low < narrow.mean < narrow.high < wide.high
    assert paired_gain(differences, np.zeros(80), n_resamples=2_500) == paired_gain(
        differences, np.zeros(80), n_resamples=2_500
    )


@pytest.mark.parametrize(
    ("qoe", "reference", "confidence", "message"),
    [
        (np.zeros(5), np.zeros(4), 0.95, r"the same traces, got \(5,\) and \(4,\)"),
        (np.zeros(0), np.zeros(0), 0.95, "one score per trace"),
        (np.zeros((2, 3)), np.zeros((2, 3)), 0.95, "one score per trace"),
        (np.zeros(5), np.zeros(5), 1.0, "confidence must be in"),
    ],
)
def test_bad_input_is_named(qoe, reference, confidence, message):
    with pytest.raises(ValueError, match=message):
        paired_gain(qoe, reference, confidence=confidence)
