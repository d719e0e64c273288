"""The HTTP API in-process: lifecycle, bad input (4xx naming the field, state unchanged),
fallback, readiness, model reload, admin token, CORS, metrics."""

import json
import shutil

import pytest

from abr.onnx_policy import default_model_path
from tests.service.conftest import VIDEO, make_client, report

ADMIN = {"Authorization": "Bearer s3cret"}


def start(client, **changes):
    answer = client.post("/v1/sessions", json={**VIDEO, **changes})
    assert answer.status_code == 201, answer.text
    return answer.json()


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
        ({"ladder_kbps": [300, 750]}, "ladder_kbps"),  # not the model's ladder
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


def test_missing_model_falls_back_and_is_not_ready(tmp_path):
    with make_client(model_path=tmp_path / "missing.onnx", fallback_policy="mpc") as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "no such model file" in ready.json()["detail"]
        assert client.get("/healthz").status_code == 200
        session = start(client)["session_id"]
        answer = client.post(f"/v1/sessions/{session}/chunks", json=report(0, 1)).json()
        assert answer["fallback"] is True and answer["policy"] == "mpc"
        assert client.delete(f"/v1/sessions/{session}").json()["fallbacks"] == 1
        assert "abr_fallbacks_total 1.0" in client.get("/metrics").text


def test_inference_error_falls_back_and_is_counted(client):
    session = start(client)["session_id"]
    model = client.app.state.service.engine.model

    def broken(obs):
        raise RuntimeError("inference failed")

    model.q_values = broken
    answer = client.post(f"/v1/sessions/{session}/chunks", json=report(0, 1)).json()
    assert answer["fallback"] is True and answer["policy"] == "bb"
    assert "abr_fallbacks_total 1.0" in client.get("/metrics").text


def test_reload_needs_the_token_and_keeps_the_old_model_on_error(tmp_path):
    copy = tmp_path / "model.onnx"
    shutil.copy(default_model_path(), copy)
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(default_model_path().read_bytes()[:5000])
    with make_client() as closed:
        assert closed.post("/v1/admin/reload").status_code == 403
    with make_client(admin_token="s3cret") as client:
        assert client.post("/v1/admin/reload").status_code == 401
        wrong = client.post("/v1/admin/reload", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        version = client.get("/v1/model").json()["version"]
        session = start(client)["session_id"]
        bad = client.post("/v1/admin/reload", json={"path": str(corrupt)}, headers=ADMIN)
        assert bad.status_code == 422 and str(corrupt) in bad.json()["detail"]
        answer = client.post(f"/v1/sessions/{session}/chunks", json=report(0, 1)).json()
        assert answer["fallback"] is False and answer["model_version"] == version
        good = client.post("/v1/admin/reload", json={"path": str(copy)}, headers=ADMIN)
        assert good.status_code == 200 and good.json()["path"] == str(copy)
        assert client.get("/v1/model").json()["path"] == str(copy)
        copy.unlink()  # deleting the file changes nothing until the next reload
        answer = client.post(f"/v1/sessions/{session}/chunks", json=report(1, 1)).json()
        assert answer["fallback"] is False
        assert client.get("/readyz").status_code == 200
        metrics = client.get("/metrics").text
        assert 'abr_model_reloads_total{outcome="failed"} 1.0' in metrics
        assert 'abr_model_reloads_total{outcome="ok"} 1.0' in metrics


def test_cors_is_closed_by_default_and_configurable():
    preflight = {"Origin": "https://player.example", "Access-Control-Request-Method": "POST"}
    with make_client() as client:
        answer = client.options("/v1/sessions", headers=preflight)
        assert "access-control-allow-origin" not in answer.headers
    with make_client(cors_origins=["https://player.example"]) as client:
        answer = client.options("/v1/sessions", headers=preflight)
        assert answer.headers["access-control-allow-origin"] == "https://player.example"
        origin = {"Origin": "https://player.example"}
        started = client.post("/v1/sessions", json=VIDEO, headers=origin)  # a hot route
        assert started.headers["access-control-allow-origin"] == "https://player.example"
        chunk = f"/v1/sessions/{started.json()['session_id']}/chunks"
        answer = client.post(chunk, json=report(0, 1), headers=origin)
        assert answer.headers["access-control-allow-origin"] == "https://player.example"


def test_operations_endpoints(client):
    policies = {p["name"]: p for p in client.get("/v1/policies").json()}
    assert set(policies) == {"dqn", "bb", "rb", "bola", "mpc", "dynamic"}
    assert policies["dynamic"]["stateless"] is False and policies["mpc"]["stateless"] is True
    model = client.get("/v1/model").json()
    assert model["loaded"] and model["metadata"]["ladder_kbps"][-1] == 4300.0
    start(client)
    metrics = client.get("/metrics").text
    assert 'abr_decisions_total{level="1",policy="dqn"} 1.0' in metrics
    assert "abr_active_sessions 1.0" in metrics
    assert 'abr_request_seconds_count{route="/v1/sessions"} 1.0' in metrics
    schema = client.get("/openapi.json").json()
    assert {
        "/v1/sessions",
        "/v1/sessions/{session_id}/chunks",
        "/v1/decide",
        "/v1/admin/reload",
    } <= set(schema["paths"])
    assert json.dumps(schema).count("examples") >= 3
