"""The admin endpoint: the token, and the old model kept when a reload fails."""

import shutil

from abr.policies.onnx import default_model_path
from tests.service.conftest import make_client, report, start

ADMIN = {"Authorization": "Bearer s3cret"}


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
