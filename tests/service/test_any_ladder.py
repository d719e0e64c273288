"""A model for any ladder behind the service: sessions with random valid ladders (2..12 rungs,
1..10-s chunks, sizes given or not) get a DQN decision at every chunk, each a rung of their
own ladder, equal to the torch policy's on the same players; ladders it cannot take get a 422
that says why."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from abr.bench.run import run_policy  # noqa: E402
from abr.dqn.checkpoint import load_best_model  # noqa: E402
from abr.dqn.config import load_config  # noqa: E402
from abr.dqn.export import export_onnx  # noqa: E402
from abr.dqn.policy import GreedyQPolicy  # noqa: E402
from abr.dqn.train import train  # noqa: E402
from abr.media.ladders import LadderSampler  # noqa: E402
from abr.media.video import nominal_video  # noqa: E402
from tests.dqn.test_video_mix import ANY_LADDER  # noqa: E402
from tests.service.conftest import make_client  # noqa: E402
from tests.service.test_parity import replay_through_api  # noqa: E402


@pytest.fixture(scope="module")
def any_ladder_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("any-ladder") / "run"
    train(load_config(None, **ANY_LADDER), run)
    export_onnx(run, run / "model.onnx")
    return run


def random_videos(count: int, seed: int):
    sampler = LadderSampler(duration_s=(20.0, 80.0))
    rng = np.random.default_rng(seed)
    videos = [sampler.sample(rng) for _ in range(count)]
    # half as a player without a size table sends them: ladder, chunk length and count only
    return [
        video if i % 2 else nominal_video(video.bitrates_kbps, video.chunk_s, video.n_chunks)
        for i, video in enumerate(videos)
    ]


def test_random_ladders_get_dqn_decisions_equal_to_the_torch_policy(
    any_ladder_run, pensieve_test_traces
):
    network, spec = load_best_model(any_ladder_run / "best.pt")
    torch_policy = GreedyQPolicy(network, spec, torch.device("cpu"))
    traces = pensieve_test_traces[::30]
    chosen: set[int] = set()
    with make_client(model_path=any_ladder_run / "model.onnx") as client:
        info = client.get("/v1/model").json()
        assert info["metadata"]["trained_over"]["rungs"] == [2, 12]
        for video in random_videos(8, seed=0):
            levels, _ = replay_through_api(client, traces, video, "dqn")
            assert np.all((levels >= 0) & (levels < video.n_levels))
            offline = run_policy(torch_policy, traces, video)
            np.testing.assert_array_equal(levels, offline.levels)
            chosen |= set(np.unique(levels).tolist())
    assert len(chosen) > 2  # the model moves between rungs, so agreeing means something


def test_a_ladder_the_model_cannot_take_is_refused_by_name(any_ladder_run):
    with make_client(model_path=any_ladder_run / "model.onnx") as client:
        ladder = [100.0 * (k + 1) for k in range(13)]
        answer = client.post(
            "/v1/sessions", json={"ladder_kbps": ladder, "chunk_s": 2.0, "n_chunks": 10}
        )
        assert answer.status_code == 422
        assert "13 rungs; this model decides for 2 to 12" in answer.text
        fine = client.post(
            "/v1/sessions",
            json={"ladder_kbps": ladder, "chunk_s": 2.0, "n_chunks": 10, "policy": "mpc"},
        )
        assert fine.status_code == 201
