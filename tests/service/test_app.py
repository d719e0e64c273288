"""The app as a whole: the fallback when inference fails, CORS."""

from tests.service.conftest import VIDEO, make_client, report, start


def test_inference_error_falls_back_and_is_counted(client):
    session = start(client)["session_id"]
    model = client.app.state.service.engine.model

    def broken(obs):
        raise RuntimeError("inference failed")

    model.q_values = broken
    answer = client.post(f"/v1/sessions/{session}/chunks", json=report(0, 1)).json()
    assert answer["fallback"] is True and answer["policy"] == "bb"
    assert "abr_fallbacks_total 1.0" in client.get("/metrics").text


def test_cors_is_closed_by_default_and_configurable():
    preflight = {"Origin": "https://player.example", "Access-Control-Request-Method": "POST"}
    with make_client() as client:
        answer = client.options("/v1/sessions", headers=preflight)
        assert "access-control-allow-origin" not in answer.headers
    with make_client(cors_origins=["https://player.example"]) as client:
        answer = client.options("/v1/sessions", headers=preflight)
        assert answer.headers["access-control-allow-origin"] == "https://player.example"
        origin = {"Origin": "https://player.example"}
        started = client.post("/v1/sessions", json=VIDEO, headers=origin)  # a fast route
        assert started.headers["access-control-allow-origin"] == "https://player.example"
        chunk = f"/v1/sessions/{started.json()['session_id']}/chunks"
        answer = client.post(chunk, json=report(0, 1), headers=origin)
        assert answer.headers["access-control-allow-origin"] == "https://player.example"
