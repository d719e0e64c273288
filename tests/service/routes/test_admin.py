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
    with make_client(admin_token="s3cret-s3cret-s3cret", model_dir=str(tmp_path)) as client:
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
        assert client.get("/v1/model", headers=ADMIN).json()["path"] == str(copy)
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
    with make_client(admin_token="s3cret-s3cret-s3cret", model_dir=str(tmp_path)) as client:
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


def test_reloads_read_only_the_model_folder_and_say_nothing_of_other_paths(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(default_model_path(), models / "v2.onnx")
    (models / "link.onnx").symlink_to("/etc/passwd")
    outside = ["/etc/shadow", "/proc/self/environ", "/no/such/file.onnx", "../elsewhere.onnx"]
    with make_client(admin_token="s3cret-s3cret-s3cret", model_dir=str(models)) as client:
        for path in [*outside, "link.onnx"]:
            answer = client.post("/v1/admin/reload", json={"path": path}, headers=ADMIN)
            assert answer.status_code == 422, path
            assert answer.json()["detail"].endswith("outside the model folder (ABR_MODEL_DIR)")
        relative = client.post("/v1/admin/reload", json={"path": "v2.onnx"}, headers=ADMIN)
        assert relative.status_code == 200 and relative.json()["path"] == str(models / "v2.onnx")


def test_a_model_file_over_the_size_limit_is_refused_unread(tmp_path):
    sparse = tmp_path / "huge.onnx"
    with sparse.open("wb") as file:
        file.truncate(2**30)  # 1 GiB, no disk used
    with make_client(
        admin_token="s3cret-s3cret-s3cret", model_dir=str(tmp_path), max_model_bytes=2**23
    ) as client:
        answer = client.post("/v1/admin/reload", json={"path": "huge.onnx"}, headers=ADMIN)
        assert answer.status_code == 422
        assert "larger than ABR_MAX_MODEL_BYTES (8388608 bytes)" in answer.json()["detail"]


def test_a_reload_leaves_the_event_loop_free(monkeypatch, tmp_path):
    """A model that takes a second to load: health checks answer meanwhile."""
    import asyncio
    import time

    import httpx

    from service.app import create_app
    from service.engine import Engine
    from service.settings import ServiceSettings

    load = Engine.load

    def slow_load(self, path):
        time.sleep(1.0)
        return load(self, path)

    app = create_app(ServiceSettings(admin_token="s3cret-s3cret-s3cret"))

    async def run() -> tuple[float, float]:
        async with app.router.lifespan_context(app):
            monkeypatch.setattr(Engine, "load", slow_load)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
                start = time.monotonic()

                async def timed(request) -> float:
                    answer = await request
                    assert answer.status_code == 200, answer.text
                    return time.monotonic() - start

                reload = asyncio.ensure_future(
                    timed(client.post("/v1/admin/reload", headers=ADMIN))
                )
                await asyncio.sleep(0.1)
                health = await timed(client.get("/healthz"))
                return health, await reload

    health_s, reload_s = asyncio.run(run())
    assert health_s < 0.5 < 1.0 <= reload_s


def test_anonymous_clients_see_no_paths_of_this_host(tmp_path):
    with make_client(admin_token="s3cret-s3cret-s3cret") as client:
        anonymous = client.get("/v1/model").json()
        full = client.get("/v1/model", headers=ADMIN).json()
    text = str(anonymous)
    assert anonymous["path"] == default_model_path().name
    assert str(default_model_path().parent) not in text
    assert "runs/" in str(full) and "runs/" not in text and "shared/data" not in text
    assert anonymous["version"] == full["version"] and "train_config" in full["metadata"]
    assert full["path"] == str(default_model_path())
    with make_client(model_path=str(tmp_path / "missing.onnx")) as client:
        ready = client.get("/readyz").json()
        model = client.get("/v1/model").json()
    assert ready["detail"] == model["error"] == "missing.onnx: no such model file"
