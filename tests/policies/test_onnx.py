"""The torch-free runtime policy: the shipped model, and every way a model file can be wrong."""

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from abr.bench.run import run_policy
from abr.media.video import load_video, synth_video
from abr.player.observation import ObservationSpec
from abr.policies.model_meta import METADATA_KEY, ModelError
from abr.policies.onnx import OnnxModel, OnnxPolicy, default_model_path
from abr.policies.registry import make_policy


def _metadata(n_levels=6, **changes):
    data = {
        "obs_spec": ObservationSpec(n_levels=n_levels).to_dict(),
        "ladder_kbps": [300.0, 750.0, 1200.0, 1850.0, 2850.0, 4300.0][:n_levels],
        "chunk_s": 4.0,
        "qoe": "lin",
        "train_traces": ["x"],
        "train_traces_digest": "0" * 64,
        "val_qoe": 1.0,
        "env_steps": 1,
        "code_version": "0",
        "created_utc": "2026-01-01T00:00:00Z",
        "train_config": {},
        "format": "abr-model-v1",
    }
    data.update(changes)
    return json.dumps(data)


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def _linear_model(path, width, n_actions, metadata):
    """q = obs @ W: a hand-built graph, so these tests need no torch."""
    weight = helper.make_tensor(
        "W", TensorProto.FLOAT, [width, n_actions], np.linspace(-1, 1, width * n_actions)
    )
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["obs", "W"], ["q"])],
        "linear",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info("q", TensorProto.FLOAT, ["batch", n_actions])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    if metadata is not None:
        model.metadata_props.add(key=METADATA_KEY, value=metadata)
    onnx.save(model, path)
    return path


def test_the_service_path_imports_no_torch():
    code = "import sys, abr.policies.onnx; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_shipped_model_loads_and_plays_the_default_video(pensieve_test_traces):
    model = OnnxModel(default_model_path())
    assert model.metadata.any_ladder
    assert model.providers == ["CPUExecutionProvider"]
    run = run_policy(make_policy("onnx"), pensieve_test_traces[:20], load_video(None))
    assert run.levels.shape == (48, 20)
    assert len(np.unique(run.levels)) > 1  # it adapts, not a constant


def test_hand_built_model_decides_its_argmax(tmp_path):
    width = ObservationSpec(n_levels=6).dim
    model = OnnxModel(_linear_model(tmp_path / "m.onnx", width, 6, _metadata()))
    obs = np.random.default_rng(0).normal(size=(50, width)).astype(np.float32)
    weights = np.linspace(-1, 1, width * 6).reshape(width, 6).astype(np.float32)
    np.testing.assert_allclose(model.q_values(obs), obs @ weights, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda p: p, "no such model file"),
        (lambda p: _write(p, b"not a model at all"), "not a loadable ONNX model"),
        (lambda p: _write(p, default_model_path().read_bytes()[:20_000]), "not a loadable ONNX"),
        (lambda p: _linear_model(p, 25, 6, None), "no 'abr.model' metadata"),
        (lambda p: _linear_model(p, 25, 6, "{oops"), "is not JSON"),
        (lambda p: _linear_model(p, 25, 6, _metadata(format="other")), "model format 'other'"),
        (lambda p: _linear_model(p, 25, 6, json.dumps({"format": "abr-model-v1"})), "incomplete"),
        (lambda p: _linear_model(p, 24, 6, _metadata()), "input width 24 does not match"),
        (lambda p: _linear_model(p, 25, 5, _metadata()), "5 outputs for 6 levels"),
        (lambda p: _linear_model(p, 25, 6, _metadata(ladder_kbps=[1.0])), "ladder has 1 levels"),
    ],
)
def test_bad_model_files_are_named_with_what_is_wrong(tmp_path, build, message):
    path = build(tmp_path / "model.onnx")
    with pytest.raises(ModelError, match=message) as caught:
        OnnxModel(path)
    assert str(tmp_path / "model.onnx") in str(caught.value)


def test_a_video_with_another_ladder_is_refused(tmp_path, pensieve_test_traces):
    """A one-ladder model refuses any other ladder; the shipped model for any ladder takes any
    ladder, longer ones decided over 12 of their rungs."""
    width = ObservationSpec(n_levels=6).dim
    one_ladder = OnnxPolicy(_linear_model(tmp_path / "m.onnx", width, 6, _metadata()))
    other = synth_video([200, 400, 800, 1600, 3200, 6400], 4.0, 10, seed=0)
    with pytest.raises(ModelError, match="does not match the video's") as refused:
        one_ladder.reset(1, other)
    # and says which models do decide for any ladder
    assert "decides for its ladder only" in str(refused.value)
    assert 'ladders = "sampled"' in str(refused.value)
    shipped = OnnxPolicy(default_model_path())
    shipped.reset(1, other)
    thirteen = synth_video([100.0 * (k + 1) for k in range(13)], 4.0, 10, seed=0)
    levels = run_policy(shipped, pensieve_test_traces[:10], thirteen).levels
    assert levels.min() >= 0 and levels.max() <= 12 and len(np.unique(levels)) > 1
