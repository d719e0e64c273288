"""`abr validate` scores exported models on a training config's validation sets exactly as
training scored its checkpoints."""

import json

import pytest

pytest.importorskip("torch")

from abr.dqn.config import load_config  # noqa: E402
from abr.dqn.export import export_onnx  # noqa: E402
from abr.dqn.train import train  # noqa: E402
from tests.conftest import abr, last_json  # noqa: E402
from tests.dqn.test_train import SMALL, toml_text  # noqa: E402


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("validate")
    train(load_config(None, **SMALL), root / "run")
    export_onnx(root / "run", root / "model.onnx")
    (root / "small.toml").write_text(toml_text(SMALL))  # the run's settings, for validate
    return root


def test_an_exported_model_scores_what_training_recorded_for_it(small_run):
    summary = json.loads((small_run / "run" / "summary.json").read_text())
    config = ["--config", str(small_run / "small.toml")]
    scored = last_json(
        abr("validate", f"onnx:{small_run / 'model.onnx'}", "mpc", *config, "--json")
    )
    assert scored["score_kind"] == "mean"
    assert scored["policies"]["mpc"]["score"] == pytest.approx(summary["mpc_val_qoe"])
    model = scored["policies"][f"onnx:{small_run / 'model.onnx'}"]
    assert model["score"] == pytest.approx(summary["best_val_qoe"])
    assert model["score"] != pytest.approx(summary["mpc_val_qoe"])


def test_the_worst_gain_score_is_the_smallest_gain_over_robustmpc(small_run):
    model = f"onnx:{small_run / 'model.onnx'}"
    config = ["--config", str(small_run / "small.toml"), "--val-score", "worst_gain"]
    scored = last_json(abr("validate", model, "rb", "mpc", *config, "--json"))
    assert scored["policies"]["mpc"]["score"] == 0.0
    for name in (model, "rb"):
        figures = scored["policies"][name]
        gains = [q - scored["mpc_qoe"][s] for s, q in figures["qoe"].items()]
        assert figures["score"] == pytest.approx(min(gains)) and len(gains) == 1
        assert figures["gain"] == pytest.approx(dict(zip(figures["qoe"], gains, strict=True)))


def test_an_unknown_policy_is_named():
    result = abr("validate", "nosuch", check=False)
    assert result.returncode == 2 and "nosuch" in result.stderr
