"""Sessions over HTTP in-process: lifecycle, bad input (4xx naming the field, state
unchanged), limits on sessions, expiry."""

import pytest

from tests.service.conftest import VIDEO, make_client, report, start


def test_session_lifecycle(client):
    started = start(client)
    assert started["level"] == 1 and started["bitrate_kbps"] == 750.0
    assert started["policy"] == "dqn" and started["model_version"] and not started["fallback"]
    session = started["session_id"]
    for index in range(48):
        answer = client.post(f"/v1/sessions/{session}/chunks", json=report(index, 1)).json()
        assert answer["done"] == (index == 47)
        assert answer["chunk_index"] == (None if index == 47 else index + 1)
    log = client.get(f"/v1/sessions/{session}").json()
    assert log["levels"] == [1] * 48
    summary = client.delete(f"/v1/sessions/{session}").json()
    assert summary["chunks"] == 48 and summary["switches"] == 0
    assert summary["mean_qoe"] == pytest.approx(0.75)  # level 1 throughout, no stall
    assert client.delete(f"/v1/sessions/{session}").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (report(0, 1, size_bytes=-1), 422, "size_bytes"),
        (report(0, 1, download_s=0), 422, "download_s"),
        (report(0, 1, buffer_s=-0.5), 422, "buffer_s"),
        (report(0, 1, rebuffer_s=-1), 422, "rebuffer_s"),
        (report(0, 6), 422, "level"),
        (report(0, -1), 422, "level"),
        (report(3, 1), 409, "index"),
        (report(-1, 1), 422, "index"),
        ({**report(0, 1), "extra": 1}, 422, "extra"),
        ({k: v for k, v in report(0, 1).items() if k != "download_s"}, 422, "download_s"),
        ({**report(0, 1), "level": "high"}, 422, "level"),
    ],
)
def test_bad_reports_name_the_field_and_change_nothing(client, body, status, field):
    session = start(client)["session_id"]
    before = client.get(f"/v1/sessions/{session}").json()
    answer = client.post(f"/v1/sessions/{session}/chunks", json=body)
    assert answer.status_code == status
    assert answer.json()["detail"].startswith(field), answer.json()
    assert client.get(f"/v1/sessions/{session}").json() == before
    assert client.post(f"/v1/sessions/{session}/chunks", json=report(0, 1)).status_code == 200


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (
            b'{"index": 0, "level": 1, "size_bytes": NaN, "download_s": 1, "buffer_s": 1}',
            "size_bytes",
        ),
        (
            b'{"index": 0, "level": 1, "size_bytes": 1, "download_s": Infinity, "buffer_s": 1}',
            "download_s",
        ),
        (b'{"index": 0, "level": 1, ', "body: not valid JSON"),
        (b"[]", "body"),
    ],
)
def test_malformed_json_and_non_finite_numbers(client, raw, field):
    session = start(client)["session_id"]
    answer = client.post(
        f"/v1/sessions/{session}/chunks", content=raw, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422 and answer.json()["detail"].startswith(field), answer.text


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"ladder_kbps": [300, 200]}, "ladder_kbps"),
        ({"ladder_kbps": []}, "ladder_kbps"),
        ({"chunk_s": 0}, "chunk_s"),
        ({"n_chunks": 0}, "n_chunks"),
        ({"policy": "pensieve"}, "policy"),
        ({"qoe": "nope"}, "qoe"),
        ({"chunk_sizes_bytes": [[1.0] * 48] * 5}, "chunk_sizes_bytes"),
        ({"chunk_sizes_bytes": [[1.0] * 47] * 6}, "chunk_sizes_bytes"),
        ({"n_chunks": 10**9}, "n_chunks"),
    ],
)
def test_bad_session_starts(client, changes, field):
    answer = client.post("/v1/sessions", json={**VIDEO, **changes})
    assert answer.status_code == 422 and answer.json()["detail"].startswith(field), answer.text


def test_baselines_accept_any_ladder(client):
    started = start(client, ladder_kbps=[200, 400, 800], policy="bb")
    assert started["policy"] == "bb" and started["model_version"] is None


def test_unknown_session_and_oversized_body(client):
    assert client.post("/v1/sessions/nope/chunks", json=report(0, 1)).status_code == 404
    big = b'{"pad": "' + b"x" * 1_100_000 + b'"}'
    answer = client.post("/v1/sessions", content=big, headers={"content-type": "application/json"})
    assert answer.status_code == 413 and "body" in answer.json()["detail"]
    wrong_method = client.get("/v1/decide")
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    assert wrong_method.json()["detail"].startswith("method: GET")
    session = start(client)["session_id"]  # DELETE is the gate's, GET is FastAPI's: both work
    assert client.put(f"/v1/sessions/{session}").status_code == 405
    assert client.get(f"/v1/sessions/{session}").status_code == 200
    assert client.delete(f"/v1/sessions/{session}").status_code == 200
    assert client.delete(f"/v1/sessions/{session}").status_code == 404


def test_session_limit_evicts_the_least_recently_used():
    with make_client(max_sessions=3) as client:
        ids = [start(client)["session_id"] for _ in range(3)]
        client.post(f"/v1/sessions/{ids[0]}/chunks", json=report(0, 1))  # ids[0] is now recent
        fourth = start(client)["session_id"]
        assert client.get(f"/v1/sessions/{ids[1]}").status_code == 404  # the LRU one went
        for session in (ids[0], ids[2], fourth):
            assert client.get(f"/v1/sessions/{session}").status_code == 200
        assert 'abr_sessions_reclaimed{why="limit"} 1.0' in client.get("/metrics").text


def test_idle_sessions_expire(monkeypatch):
    now = [1000.0]
    with make_client(session_ttl_s=60) as client:
        store = client.app.state.service.store
        monkeypatch.setattr(store, "clock", lambda: now[0])
        old = start(client)["session_id"]
        now[0] += 30
        kept = start(client)["session_id"]
        now[0] += 40  # old: idle 70 s, kept: idle 40 s
        assert client.get(f"/v1/sessions/{old}").status_code == 404
        assert client.get(f"/v1/sessions/{kept}").status_code == 200
        assert len(store) == 1 and store.expired == 1
