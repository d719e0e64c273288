import json
from dataclasses import replace

import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch")

from abr.bench.run import run_policy  # noqa: E402
from abr.dqn.checkpoint import load_best_model  # noqa: E402
from abr.dqn.config import load_config  # noqa: E402
from abr.dqn.export import _ensemble_metadata, _metadata, export_onnx  # noqa: E402
from abr.dqn.policy import GreedyQPolicy  # noqa: E402
from abr.dqn.train import train  # noqa: E402
from abr.media.video import load_video  # noqa: E402
from abr.player.observation import encode  # noqa: E402
from abr.policies.model_meta import METADATA_KEY, ModelError  # noqa: E402
from abr.policies.onnx import OnnxModel, OnnxPolicy  # noqa: E402
from abr.sim.simulator import BatchSimulator  # noqa: E402
from tests.dqn.test_train import SMALL  # noqa: E402


@pytest.fixture(
    scope="module",
    params=[{}, {"robust_window": 5, "throughput_clip": 1.5}],
    ids=["plain", "robust_columns_low_clip"],
)
def exported(tmp_path_factory, request):
    """A small trained run and its ONNX model: default observation, and one with the robust
    columns and another throughput clip."""
    run_dir = tmp_path_factory.mktemp("export") / "run"
    config = {**SMALL, "hidden": [128, 128], **request.param}
    train(load_config(None, **config), run_dir)
    return run_dir, export_onnx(run_dir, run_dir / "model.onnx")


def test_export_writes_a_checked_graph_with_its_metadata(exported):
    run_dir, metadata = exported
    model = onnx.load(run_dir / "model.onnx")
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == ["obs"]
    assert [o.name for o in model.graph.output] == ["q"]
    batch_dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param  # dynamic batch
    meta = json.loads({p.key: p.value for p in model.metadata_props}[METADATA_KEY])
    video = load_video(None)
    assert meta["ladder_kbps"] == video.bitrates_kbps.tolist()
    assert meta["chunk_s"] == video.chunk_s and meta["qoe"] == "lin"
    assert meta["obs_spec"]["version"] == "abr-obs-v1" and meta["obs_spec"]["history_len"] == 8
    robust_window = meta["obs_spec"]["robust_window"]
    assert robust_window == checkpoint_config(run_dir)["robust_window"]
    assert meta["obs_spec"]["throughput_clip"] == checkpoint_config(run_dir)["throughput_clip"]
    assert model.graph.input[0].type.tensor_type.shape.dim[1].dim_value == 25 + 2 * bool(
        robust_window
    )
    assert meta["train_traces"] == ["traces/default/train"]
    assert len(meta["train_traces_digest"]) == 64
    checkpoint = torch.load(run_dir / "best.pt", weights_only=True)
    assert meta["val_qoe"] == pytest.approx(checkpoint["val_qoe"])
    assert meta["env_steps"] == checkpoint["env_steps"]
    assert meta["code_version"] and meta["created_utc"].endswith("Z")
    assert metadata.train_traces_digest == meta["train_traces_digest"]
    assert meta["ensemble_members"] == []
    assert not list(run_dir.glob(".model.onnx.*"))  # no temporary file left behind


def checkpoint_config(run_dir) -> dict:
    return torch.load(run_dir / "best.pt", weights_only=True)["config"]


def _real_observations(traces, video, spec, n_sessions=256):
    """Every observation of n_sessions players on real traces, at random levels: 12,288 rows."""
    sim = BatchSimulator(traces, video, n_sessions, "eval", seed=3)
    rng = np.random.default_rng(3)
    rows = []
    for _ in range(video.n_chunks):
        rows.append(encode(sim.player_state(), spec))
        sim.step(rng.integers(0, video.n_levels, n_sessions))
    return np.concatenate(rows)


def test_onnxruntime_and_torch_agree_on_real_observations(exported, pensieve_test_traces):
    run_dir, metadata = exported
    network, spec = load_best_model(run_dir / "best.pt")
    obs = _real_observations(pensieve_test_traces, load_video(None), spec)
    assert len(obs) >= 10_000
    with torch.no_grad():
        q_torch = network(torch.from_numpy(obs)).numpy()
    q_onnx = OnnxModel(run_dir / "model.onnx").q_values(obs)
    np.testing.assert_allclose(q_onnx, q_torch, atol=1e-4, rtol=0)
    np.testing.assert_array_equal(q_onnx.argmax(axis=1), q_torch.argmax(axis=1))


def test_onnx_policy_bench_equals_torch_policy(exported, pensieve_test_traces):
    run_dir, _ = exported
    network, spec = load_best_model(run_dir / "best.pt")
    video = load_video(None)
    by_torch = run_policy(
        GreedyQPolicy(network, spec, torch.device("cpu")), pensieve_test_traces, video
    )
    by_onnx = run_policy(OnnxPolicy(run_dir / "model.onnx"), pensieve_test_traces, video)
    np.testing.assert_array_equal(by_onnx.levels, by_torch.levels)
    assert by_onnx.aggregate()["mean_qoe"] == by_torch.aggregate()["mean_qoe"]


def test_an_ensemble_exports_the_mean_of_its_members(exported, tmp_path, pensieve_test_traces):
    run_dir, _ = exported
    seed_1 = tmp_path / "seed_1"
    train(load_config(None, **{**checkpoint_config(run_dir), "seed": 1}), seed_1)
    runs = (run_dir, seed_1)
    metadata = export_onnx(runs, tmp_path / "ensemble.onnx")
    members = [load_best_model(run / "best.pt") for run in runs]
    obs = _real_observations(pensieve_test_traces[:20], load_video(None), members[0][1])
    with torch.no_grad():
        q_each = [network(torch.from_numpy(obs)).numpy() for network, _ in members]
    assert np.abs(q_each[0] - q_each[1]).max() > 0.01  # two different networks
    q_onnx = OnnxModel(tmp_path / "ensemble.onnx").q_values(obs)
    np.testing.assert_allclose(q_onnx, (q_each[0] + q_each[1]) / 2, atol=1e-4, rtol=0)
    listed = metadata.ensemble_members
    assert [m["checkpoint"] for m in listed] == [str(run / "best.pt") for run in runs]
    assert [m["seed"] for m in listed] == [0, 1]
    assert [m["settings_unlike_first"] for m in listed] == [{}, {}]  # the seeds aside
    env_steps = [torch.load(run / "best.pt", weights_only=True)["env_steps"] for run in runs]
    assert metadata.val_qoe is None and metadata.env_steps == sum(env_steps)
    assert OnnxModel(tmp_path / "ensemble.onnx").metadata == metadata


def test_ensemble_members_must_share_observation_and_ladder(exported, tmp_path):
    run_dir, metadata = exported
    other_spec = replace(metadata.obs_spec, history_len=metadata.obs_spec.history_len - 1)
    for changed in (
        replace(metadata, obs_spec=other_spec),
        replace(metadata, ladder_kbps=[kbps * 2 for kbps in metadata.ladder_kbps]),
    ):
        with pytest.raises(ModelError, match="the members of an ensemble must share it"):
            _ensemble_metadata([(run_dir, metadata), (tmp_path / "other.pt", changed)])


def test_an_ensemble_lists_the_settings_its_members_were_trained_with_beyond_the_first(exported):
    run_dir, metadata = exported
    config = metadata.train_config
    older = {name: value for name, value in config.items() if name != "teacher_buffer_scaling"}
    members = [
        (run_dir / "a.pt", replace(metadata, train_config=config)),
        (run_dir / "b.pt", replace(metadata, train_config={**config, "seed": 7, "gamma": 0.9})),
        (run_dir / "c.pt", replace(metadata, train_config=older)),  # saved before the setting
    ]
    ensemble = _ensemble_metadata(members)
    unlike = [m["settings_unlike_first"] for m in ensemble.ensemble_members]
    assert unlike == [{}, {"gamma": 0.9}, {}]
    assert ensemble.train_config == config


def test_export_of_a_missing_run_names_it(tmp_path):
    with pytest.raises(ModelError, match="no such checkpoint"):
        export_onnx(tmp_path / "nothing", tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_members_saved_before_a_trained_over_key_existed_compare_as_trained_then(exported):
    run_dir, _ = exported
    payload = torch.load(run_dir / "best.pt", weights_only=True)
    spec = load_best_model(run_dir / "best.pt")[1]
    ranges = {"rungs": [2, 12], "chunk_s": [1.0, 10.0]}  # saved before `chunk_s_drawn` was
    older = _metadata({**payload, "trained_over": ranges}, spec, run_dir / "older.pt")
    uniform = _metadata(
        {**payload, "trained_over": {**ranges, "chunk_s_drawn": "uniform"}}, spec, run_dir / "u.pt"
    )
    log_drawn = replace(uniform, trained_over={**ranges, "chunk_s_drawn": "log-uniform"})
    assert older.trained_over == uniform.trained_over
    _ensemble_metadata([(run_dir / "older.pt", older), (run_dir / "u.pt", uniform)])
    with pytest.raises(ModelError, match="its trained_over differs"):
        _ensemble_metadata([(run_dir / "older.pt", older), (run_dir / "log.pt", log_drawn)])
    assert _metadata(payload, spec, run_dir / "best.pt").trained_over == {}  # one ladder
