"""The operations endpoints: policies, model, health, readiness, metrics."""

import json

from tests.service.conftest import make_client, report, start


def test_operations_endpoints(client):
    policies = {p["name"]: p for p in client.get("/v1/policies").json()}
    assert set(policies) == {"dqn", "bb", "rb", "bola", "mpc", "dynamic"}
    assert policies["dynamic"]["stateless"] is False and policies["mpc"]["stateless"] is True
    model = client.get("/v1/model").json()
    assert model["loaded"] and model["metadata"]["obs_spec"]["version"] == "abr-obs-v2"
    assert model["metadata"]["trained_over"]["rungs"] == [2, 12]  # any ladder of 2..12 rungs
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
