"""The admin endpoint: the token, and the old model kept when a reload fails."""

import shutil

from abr.policies.onnx import default_model_path
from tests.service.conftest import make_client, report, start

ADMIN = {"Authorization": "Bearer s3cret-s3cret-s3cret"}


def test_reload_needs_the_token_and_keeps_the_old_model_on_error(tmp_path):
    copy = tmp_path / "model.onnx"
    shutil.copy(default_model_path(), copy)
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(default_model_path().read_bytes()[:5000])
    with make_client() as closed:
        assert closed.post("/v1/admin/reload").status_code == 403
    with make_client(admin_token="s3cret-s3cret-s3cret") as client:
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


def test_a_path_too_long_is_a_422_and_a_bare_reload_loads_the_configured_model(tmp_path):
    copy = tmp_path / "model.onnx"
    shutil.copy(default_model_path(), copy)
    with make_client(admin_token="s3cret-s3cret-s3cret") as client:
        long = client.post("/v1/admin/reload", json={"path": "x" * 5000}, headers=ADMIN)
        assert long.status_code == 422 and long.json()["detail"].startswith("path: ")
        assert client.post("/v1/admin/reload", json={"path": str(copy)}, headers=ADMIN).is_success
        bare = client.post("/v1/admin/reload", headers=ADMIN)
        assert bare.status_code == 200 and bare.json()["path"] == str(default_model_path())


def test_an_oversized_chunked_body_is_a_counted_413_on_every_route():
    def chunks():
        for _ in range(20):
            yield b"x" * 100_000  # 2 MB in all, sent without a content-length

    with make_client(admin_token="s3cret-s3cret-s3cret") as client:
        answer = client.post("/v1/admin/reload", content=chunks(), headers=ADMIN)
        assert answer.status_code == 413 and answer.json()["detail"].startswith("body: ")
        metrics = client.get("/metrics").text
        assert 'abr_errors_total{status="413"} 1.0' in metrics
