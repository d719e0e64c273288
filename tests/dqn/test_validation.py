import json

import numpy as np
import pytest

pytest.importorskip("torch")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
EventAccumulator = event_accumulator.EventAccumulator

from abr.bench.run import run_policy  # noqa: E402
from abr.dqn.config import load_config  # noqa: E402
from abr.dqn.train import split_traces, train  # noqa: E402
from abr.dqn.validation import Validation  # noqa: E402
from abr.media.traces import load_traces  # noqa: E402
from abr.media.video import load_video  # noqa: E402
from abr.policies.registry import make_policy  # noqa: E402
from tests.dqn.test_train import SMALL  # noqa: E402

FOLDERS = ["traces/default/train", "traces/default/test"]


@pytest.fixture(scope="module")
def two_sets():
    video = load_video(None)
    sets = {folder: load_traces([folder])[:6] for folder in FOLDERS}
    return sets, video


def by_hand(policy_name, traces, video):
    return run_policy(make_policy(policy_name, "lin"), traces, video, "lin").aggregate()["mean_qoe"]


def test_mean_score_is_the_mean_over_every_trace(two_sets):
    sets, video = two_sets
    validation = Validation.build(sets, video, "lin", "mean")
    every_trace = [t for traces in sets.values() for t in traces]
    bb = validation.qoe_per_set(make_policy("bb", "lin"))
    assert bb == pytest.approx(
        {name: by_hand("bb", traces, video) for name, traces in sets.items()}
    )
    assert validation.score(bb) == pytest.approx(by_hand("bb", every_trace, video))
    assert validation.mpc_score == pytest.approx(by_hand("mpc", every_trace, video))
    assert validation.beats_mpc(validation.mpc_score + 0.01)
    assert not validation.beats_mpc(validation.mpc_score)


def test_worst_gain_is_the_smallest_gain_over_robust_mpc_across_sets(two_sets):
    sets, video = two_sets
    validation = Validation.build(sets, video, "lin", "worst_gain")
    gains = [
        by_hand("bb", traces, video) - by_hand("mpc", traces, video) for traces in sets.values()
    ]
    assert validation.score(validation.qoe_per_set(make_policy("bb", "lin"))) == pytest.approx(
        min(gains)
    )
    assert not np.isclose(gains[0], gains[1])  # the two sets really differ
    assert validation.score(validation.qoe_per_set(make_policy("mpc", "lin"))) == 0.0
    assert validation.mpc_score == 0.0
    assert validation.beats_mpc(0.01) and not validation.beats_mpc(0.0)


def test_bad_validation_settings_are_named(two_sets):
    sets, video = two_sets
    with pytest.raises(ValueError, match="val_score must be one of"):
        Validation.build(sets, video, "lin", "median")
    with pytest.raises(ValueError, match="at least one trace in every set"):
        Validation.build({"empty": []}, video, "lin", "mean")
    with pytest.raises(ValueError, match="invalid settings: val_score"):
        load_config(None, val_score="median")


def test_a_run_scored_by_worst_gain_keeps_its_best_by_that_score(tmp_path):
    config = load_config(None, **{**SMALL, "val_traces": FOLDERS, "val_score": "worst_gain"})
    _, sets = split_traces(config)
    assert list(sets) == FOLDERS
    result = train(config, tmp_path / "run")
    rows = (tmp_path / "run" / "metrics.csv").read_text().strip().splitlines()[1:]
    scores = [float(row.split(",")[4]) for row in rows]
    assert result.best_val_qoe == pytest.approx(max(scores))
    assert result.mpc_val_qoe == 0.0
    assert (result.seconds_to_beat_mpc is None) == (max(scores) <= 0.0)
    by_set = json.loads((tmp_path / "run" / "validation_table_by_set.json").read_text())
    assert list(by_set) == FOLDERS
    for folder in FOLDERS:
        assert set(by_set[folder]) == {"dqn", "bb", "rb", "bola", "mpc"}
        assert by_set[folder]["bb"]["traces"] == len(sets[folder])
        mpc = by_set[folder]["mpc"]["mean_qoe"]
        assert mpc == pytest.approx(by_hand("mpc", sets[folder], load_video(None)))
    gains = [by_set[f]["dqn"]["mean_qoe"] - by_set[f]["mpc"]["mean_qoe"] for f in FOLDERS]
    assert result.best_val_qoe == pytest.approx(min(gains))  # the best model, scored again
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    tags = sorted(tag for tag in events.Tags()["scalars"] if tag.startswith("val_qoe_by_set/"))
    assert tags == sorted(f"val_qoe_by_set/{folder}" for folder in FOLDERS)
    assert all(len(events.Scalars(tag)) == len(rows) for tag in tags)  # one per validation
