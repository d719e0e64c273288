"""A model for any ladder behind the service: sessions with random valid ladders (2..12 rungs,
1..10-s chunks, sizes given or not) get a DQN decision at every chunk, each a rung of their
own ladder, equal to the torch policy's on the same players, whether the model is one network
or the mean of several seeds' (the shipped form); longer ladders are decided over 12 of their
rungs, and a single rung is the only choice."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from abr.bench.run import run_policy  # noqa: E402
from abr.dqn.checkpoint import load_best_model  # noqa: E402
from abr.dqn.config import load_config  # noqa: E402
from abr.dqn.export import export_onnx  # noqa: E402
from abr.dqn.networks import ensemble  # noqa: E402
from abr.dqn.policy import GreedyQPolicy  # noqa: E402
from abr.dqn.train import train  # noqa: E402
from abr.media.ladders import LadderSampler  # noqa: E402
from abr.media.video import nominal_video, synth_video  # noqa: E402
from abr.player.ladder_observation import kept_rungs  # noqa: E402
from abr.policies.onnx import OnnxPolicy  # noqa: E402
from tests.dqn.test_video_mix import ANY_LADDER  # noqa: E402
from tests.service.conftest import make_client  # noqa: E402
from tests.service.test_parity import replay_through_api  # noqa: E402


@pytest.fixture(scope="module")
def any_ladder_runs(tmp_path_factory):
    """Two seeds of a small run for any ladder; seed 0 exported alone, and both as an ensemble."""
    root = tmp_path_factory.mktemp("any-ladder")
    runs = [root / f"seed-{seed}" for seed in (0, 1)]
    for seed, run in enumerate(runs):
        train(load_config(None, **{**ANY_LADDER, "seed": seed}), run)
    export_onnx(runs[0], root / "one.onnx")
    export_onnx(runs, root / "ensemble.onnx")
    return runs, root


def random_videos(count: int, seed: int):
    sampler = LadderSampler(duration_s=(20.0, 80.0))
    rng = np.random.default_rng(seed)
    videos = [sampler.sample(rng) for _ in range(count)]
    # half as a player without a size table sends them: ladder, chunk length and count only
    return [
        video if i % 2 else nominal_video(video.bitrates_kbps, video.chunk_s, video.n_chunks)
        for i, video in enumerate(videos)
    ]


@pytest.mark.parametrize("model", ["one", "ensemble"])
def test_random_ladders_get_dqn_decisions_equal_to_the_torch_policy(
    model, any_ladder_runs, pensieve_test_traces
):
    runs, root = any_ladder_runs
    members = [load_best_model(run / "best.pt") for run in runs]
    cpu = torch.device("cpu")
    seed_0 = GreedyQPolicy(members[0][0], members[0][1], cpu)
    torch_policy = (
        seed_0
        if model == "one"
        else GreedyQPolicy(ensemble([network for network, _ in members]), members[0][1], cpu)
    )
    traces = pensieve_test_traces[::30]
    chosen: set[int] = set()
    unlike_seed_0 = False
    with make_client(model_path=root / f"{model}.onnx") as client:
        metadata = client.get("/v1/model").json()["metadata"]
        assert metadata["trained_over"]["rungs"] == [2, 12]
        assert len(metadata["ensemble_members"]) == (0 if model == "one" else 2)
        longer = synth_video(tuple(np.geomspace(100.0, 3000.0, 16).round().tolist()), 2.0, 30)
        for video in [*random_videos(8, seed=0), longer]:
            levels, _ = replay_through_api(client, traces, video, "dqn")
            assert np.all((levels >= 0) & (levels < video.n_levels))
            offline = run_policy(torch_policy, traces, video)
            np.testing.assert_array_equal(levels, offline.levels)
            chosen |= set(np.unique(levels).tolist())
            if model == "ensemble":
                alone = run_policy(seed_0, traces, video).levels
                unlike_seed_0 |= not np.array_equal(levels, alone)
    assert len(chosen) > 2  # the model moves between rungs, so agreeing means something
    if model == "ensemble":
        assert unlike_seed_0  # the mean of two seeds decides unlike either alone


def test_a_ladder_longer_than_the_model_s_is_decided_over_twelve_of_its_rungs(
    pensieve_test_traces,
):
    """The shipped model over a 20-rung ladder: after the first chunk (the service's default
    rung) every decision is one of the 12 kept rungs, as the offline policy decides."""
    ladder = tuple(np.geomspace(150.0, 6000.0, 20).round().tolist())
    video = synth_video(ladder, 4.0, 30, seed=1)
    traces = pensieve_test_traces[::20]
    with make_client() as client:
        levels, _ = replay_through_api(client, traces, video, "dqn")
        one_rung = {"ladder_kbps": [900.0], "chunk_s": 2.0, "n_chunks": 5}
        single = client.post("/v1/sessions", json=one_rung).json()
        chunk = {"index": 0, "level": 0, "size_bytes": 225e3, "download_s": 1.0, "buffer_s": 2.0}
        second = client.post(f"/v1/sessions/{single['session_id']}/chunks", json=chunk).json()
    np.testing.assert_array_equal(levels, run_policy(OnnxPolicy(), traces, video).levels)
    decided = np.unique(levels[1:])
    assert set(decided.tolist()) <= set(kept_rungs(20, 12).tolist()) and len(decided) > 3
    for answer in (single, second):  # one rung: the only choice, and the model's
        assert answer["level"] == 0 and answer["policy"] == "dqn" and not answer["fallback"]
