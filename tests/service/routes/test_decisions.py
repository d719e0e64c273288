"""Stateless decisions over HTTP in-process: every bad request is a 4xx naming the field."""

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
        ({"download_s": [[2.1, 2.6], [3.4]]}, "throughput_kbps: every player"),
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
