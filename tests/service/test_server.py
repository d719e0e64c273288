"""The service as users run it: `abr serve` on a real port, driven over real HTTP."""

import json
import subprocess
import sys
import time

import httpx

from abr.policies.onnx import default_model_path
from tests.conftest import abr, free_port, last_json, running_server
from tests.service.conftest import VIDEO, report


def test_lifecycle_over_real_http(live_server):
    url = live_server
    with httpx.Client(base_url=url) as client:
        started = client.post("/v1/sessions", json=VIDEO).json()
        session = started["session_id"]
        levels = [started["level"]]
        for index in range(48):
            body = report(index, levels[-1], download_s=0.5 + 0.1 * (index % 5), buffer_s=12.0)
            answer = client.post(f"/v1/sessions/{session}/chunks", json=body).json()
            if not answer["done"]:
                levels.append(answer["level"])
        summary = client.delete(f"/v1/sessions/{session}").json()
        assert summary["chunks"] == 48 and len(levels) == 48
        assert client.get("/metrics").text.count("abr_decisions_total{") >= 1


def test_loadtest_against_the_server(live_server):
    url = live_server
    result = last_json(
        abr("loadtest", "--server", url, "--connections", "4", "--duration", "2", "--json")
    )
    assert result["errors"] == 0 and result["decisions"] > 100
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]


def test_loadtest_names_an_unreachable_server():
    answer = abr("loadtest", "--server", f"http://127.0.0.1:{free_port()}", check=False)
    assert answer.returncode == 2 and "not reachable" in answer.stderr


def test_short_soak_reclaims_abandoned_sessions():
    """The soak in small: a steady rate, players leaving mid-video, a 1-s TTL. No errors, and
    the sessions left behind are reclaimed."""
    with running_server(session_ttl_s="1") as (url, pid):
        soak = ["--mode", "soak", "--rate", "300", "--duration", "4", "--connections", "8"]
        soak += ["--abandon", "0.5", "--server-pid", str(pid), "--json"]
        result = last_json(abr("loadtest", "--server", url, *soak))
        assert result["errors"] == 0 and result["abandoned_sessions"] > 0
        assert 200 < result["requests_per_s"] <= 330  # it holds the rate asked for
        assert result["windows"] and result["rss_mb_end"] > 0
        time.sleep(1.5)
        metrics = httpx.get(f"{url}/metrics").text
        reclaimed = float(metrics.split('abr_sessions_reclaimed{why="ttl"} ')[1].split()[0])
        assert reclaimed >= result["abandoned_sessions"]
        assert "abr_active_sessions 0.0" in metrics


def test_bad_reloads_under_load_fail_no_decision(tmp_path):
    """A corrupt and a mismatched model pushed through the reload endpoint while players are
    being served: both refused, the old model keeps serving, and not one decision fails."""
    import onnx

    from abr.policies.model_meta import METADATA_KEY
    from abr.policies.onnx import default_model_path

    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(default_model_path().read_bytes()[:20_000])
    model = onnx.load(default_model_path())
    entry = next(p for p in model.metadata_props if p.key == METADATA_KEY)
    meta = json.loads(entry.value)
    meta["obs_spec"]["history_len"] = 9  # the graph still reads 25 numbers: a mismatch
    entry.value = json.dumps(meta)
    mismatched = tmp_path / "mismatched.onnx"
    onnx.save(model, mismatched)
    admin = {"Authorization": "Bearer t0ken-t0ken-t0ken-1"}
    with running_server(admin_token="t0ken-t0ken-t0ken-1", model_dir=str(tmp_path)) as (url, _):
        version = httpx.get(f"{url}/v1/model").json()["version"]
        load = subprocess.Popen(
            [sys.executable, "-m", "abr.cli", "loadtest", "--server", url, "--connections", "4"]
            + ["--duration", "4", "--json"],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.5)
        for path, fault in ((corrupt, "not a loadable ONNX model"), (mismatched, "input width")):
            answer = httpx.post(f"{url}/v1/admin/reload", json={"path": str(path)}, headers=admin)
            assert answer.status_code == 422 and fault in answer.json()["detail"]
        out, _ = load.communicate(timeout=60)
        result = json.loads(out.strip().splitlines()[-1])
        assert result["errors"] == 0 and result["decisions"] > 100
        assert httpx.get(f"{url}/v1/model").json()["version"] == version
        metrics = httpx.get(f"{url}/metrics").text
        assert 'abr_model_reloads_total{outcome="failed"} 2.0' in metrics
        assert "abr_fallbacks_total 0.0" in metrics


def test_serve_says_where_it_listens_and_what_it_serves(tmp_path):
    log = tmp_path / "serve.log"
    with running_server(log=log) as (url, _):
        first_line = log.read_text().splitlines()[0]
    assert first_line == (
        f"abr serve: {url}, 1 worker, model {default_model_path()}, sessions in this process's "
        "memory; the API at /docs"
    )


def test_a_model_that_cannot_load_and_a_refused_reload_are_in_the_log(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    log = tmp_path / "serve.log"
    token = "t0ken-t0ken-t0ken-1"
    admin = {"Authorization": f"Bearer {token}"}
    with running_server(log=log, model_path=str(junk), admin_token=token) as (url, _):
        assert httpx.get(f"{url}/readyz").status_code == 503
        refused = httpx.post(f"{url}/v1/admin/reload", json={"path": str(junk)}, headers=admin)
        assert refused.status_code == 422
        lines = log.read_text().splitlines()
    not_loaded = f"model not loaded: {junk}: not a loadable ONNX model"
    assert any(not_loaded in line and "bb answers" in line for line in lines), lines
    assert any(f"reload refused: {junk}: not a loadable" in line for line in lines), lines
