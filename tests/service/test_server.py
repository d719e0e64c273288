"""The service as users run it: `abr serve` on a real port, driven over real HTTP."""

import json
import subprocess
import sys

import httpx

from tests.conftest import free_port
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
    out = subprocess.run(
        [sys.executable, "-m", "abr.cli", "loadtest", "--server", url, "--connections", "4"]
        + ["--duration", "2", "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["errors"] == 0 and result["decisions"] > 100
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]


def test_loadtest_names_an_unreachable_server():
    answer = subprocess.run(
        [
            sys.executable,
            "-m",
            "abr.cli",
            "loadtest",
            "--server",
            f"http://127.0.0.1:{free_port()}",
        ],
        capture_output=True,
        text=True,
    )
    assert answer.returncode == 2 and "not reachable" in answer.stderr
