"""Stateless decisions over HTTP in-process: every bad request is a 4xx naming the field."""

import numpy as np

from service.settings import ServiceSettings
from tests.service.conftest import VIDEO


def test_stateless_errors(client):
    player = {"chunk_index": 3, "last_level": 2, "buffer_s": 9.5}
    ok = {**VIDEO, **player, "throughput_kbps": [1500.0, 1800.0], "download_s": [2.1, 2.6]}
    assert client.post("/v1/decide", json=ok).status_code == 200
    cases = [
        ({"download_s": [2.1]}, "download_s"),
        ({"throughput_kbps": [1.0] * 65, "download_s": [1.0] * 65}, "throughput_kbps"),
        ({"chunk_index": 48}, "chunk_index"),
        ({"last_level": 6}, "last_level"),
        ({"policy": "dynamic"}, "policy"),
        ({"throughput_kbps": [0.0, 1.0]}, "throughput_kbps"),
    ]
    for changes, field in cases:
        answer = client.post("/v1/decide", json={**ok, **changes})
        assert answer.status_code == 422 and answer.json()["detail"].startswith(field), answer.text
    players = [{**player, "throughput_kbps": [1000.0], "download_s": [1.0]}] * 4097
    answer = client.post("/v1/decide/batch", json={**VIDEO, "players": players})
    assert answer.status_code == 413 and answer.json()["detail"].startswith("players")


def test_column_form_errors_name_the_field(client):
    ok = {
        **VIDEO,
        "chunk_index": [3, 10],
        "last_level": [2, 4],
        "buffer_s": [9.5, 21.0],
        "throughput_kbps": [[1500.0, 1800.0], [4100.0, 3900.0]],
        "download_s": [[2.1, 2.6], [3.4, 3.9]],
    }
    answer = client.post("/v1/decide/columns", json=ok)
    assert answer.status_code == 200 and len(answer.json()["levels"]) == 2
    cases = [
        ({"last_level": [2]}, "last_level: must have one entry per player"),
        ({"throughput_kbps": [[1500.0, 1800.0], [4100.0]]}, "throughput_kbps: every player"),
        ({"download_s": [[2.1, 2.6], [3.4]]}, "download_s: every row must have 2 entries"),
        ({"last_level": [2, 6]}, "player 1: last_level: outside the ladder"),
        ({"chunk_index": [3, 48]}, "player 1: chunk_index: must be below"),
        ({"buffer_s": [9.5, -1.0]}, "buffer_s.1: Input should be greater than or equal to 0"),
        ({"download_s": [[2.1, 0.0], [3.4, 3.9]]}, "download_s.0.1: Input should be greater"),
        ({"policy": "dynamic"}, "policy: 'dynamic' keeps state"),
        ({"throughput_kbps": [[], []]}, "throughput_kbps.0: List should have at least 1 item"),
    ]
    for changes, message in cases:
        answer = client.post("/v1/decide/columns", json={**ok, **changes})
        assert answer.status_code == 422 and answer.json()["detail"].startswith(message), (
            changes,
            answer.text,
        )
    many = {**ok, **{k: v[:1] * 4097 for k, v in ok.items() if k not in VIDEO}}
    answer = client.post("/v1/decide/columns", json=many)
    assert answer.status_code == 413 and answer.json()["detail"].startswith("chunk_index")


def _players(rng, counts):
    return [
        {
            "chunk_index": 10,
            "last_level": int(rng.integers(0, 6)),
            "buffer_s": float(rng.uniform(0, 30)),
            "throughput_kbps": rng.uniform(200, 6000, k).round(1).tolist(),
            "download_s": rng.uniform(0.3, 6, k).round(2).tolist(),
        }
        for k in counts
    ]


def test_a_robustmpc_batch_decides_each_player_as_alone(client):
    """Players with histories of different lengths in one batch: each gets the level it gets
    alone (RobustMPC's error memory is rebuilt per player)."""
    rng = np.random.default_rng(3)
    players = _players(rng, [1, 2, 5, 8, 13, 40, 64])
    batch = client.post("/v1/decide/batch", json={**VIDEO, "policy": "mpc", "players": players})
    alone = [
        client.post("/v1/decide", json={**VIDEO, "policy": "mpc", **player}).json()["level"]
        for player in players
    ]
    assert batch.status_code == 200 and batch.json()["levels"] == alone


def test_a_batch_over_the_planning_budget_is_a_413_naming_the_players(client):
    budget = ServiceSettings().max_batch_plans // 6**5
    rng = np.random.default_rng(4)
    body = {**VIDEO, "policy": "mpc", "players": _players(rng, [8] * (budget + 1))}
    answer = client.post("/v1/decide/batch", json=body)
    assert answer.status_code == 413
    assert answer.json()["detail"].startswith("players: ")
    assert f"at most {budget} players" in answer.json()["detail"]
    body["players"] = body["players"][:budget]
    assert client.post("/v1/decide/batch", json=body).status_code == 200


def test_a_large_ladder_plans_fewer_chunks_ahead_and_answers(client):
    ladder = list(range(100, 3300, 100))  # 32 rungs: RobustMPC plans 2 chunks, not 5
    body = {"ladder_kbps": ladder, "chunk_s": 4, "n_chunks": 48, "policy": "mpc"}
    player = {"chunk_index": 3, "last_level": 2, "buffer_s": 9.5}
    answer = client.post(
        "/v1/decide", json={**body, **player, "throughput_kbps": [1500], "download_s": [2]}
    )
    assert answer.status_code == 200 and 0 <= answer.json()["level"] < 32


def test_rejected_requests_leave_no_video_behind_and_videos_are_small(client):
    engine = client.app.state.service.engine
    for i in range(40):  # 32 rungs each, the player's last rung past the top: refused (422)
        ladder = [100.0 + i + 100 * k for k in range(32)]
        body = {"ladder_kbps": ladder, "chunk_s": 4, "n_chunks": 100_000, "policy": "dqn"}
        player = {"chunk_index": 3, "last_level": 32, "buffer_s": 9.5}
        answer = client.post(
            "/v1/decide", json={**body, **player, "throughput_kbps": [1500], "download_s": [2]}
        )
        assert answer.status_code == 422
    assert len(engine.videos) == 0
    long = {**VIDEO, "n_chunks": 100_000}
    assert client.post("/v1/sessions", json=long).status_code == 201
    assert len(engine.videos) == 1
    (video,) = engine.videos._videos.values()
    assert video.sizes_bytes.shape == (6, 100_000) and video.sizes_bytes.base.nbytes <= 6 * 8
