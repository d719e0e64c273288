"""The service's telemetry log: applied reports only, session ids hashed with the key, whole
sessions sampled, the key required."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from service.settings import ServiceSettings
from tests.service.conftest import make_client, report, start

KEY = "k" * 32


def test_each_applied_report_is_logged_once_under_a_keyed_hash(tmp_path: Path) -> None:
    log = tmp_path / "telemetry.jsonl"
    with make_client(telemetry=log, telemetry_key=KEY) as client:
        session = start(client)["session_id"]
        url = f"/v1/sessions/{session}/chunks"
        for index in range(3):
            client.post(url, json=report(index, 1, download_s=0.5 + index))
        client.post(url, json=report(2, 1, download_s=2.5))  # a retry: answered, not logged
        client.post(url, json=report(5, 1))  # refused: not logged
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["chunk"] for line in lines] == [0, 1, 2]
    assert [line["download_s"] for line in lines] == [0.5, 1.5, 2.5]
    hashed = hmac.new(KEY.encode(), session.encode(), hashlib.sha256).hexdigest()[:32]
    assert {line["session"] for line in lines} == {hashed}
    assert session not in log.read_text()
    assert lines[0]["gap_s"] is None and all(line["gap_s"] >= 0 for line in lines[1:])


def test_a_sample_keeps_whole_sessions(tmp_path: Path) -> None:
    log = tmp_path / "telemetry.jsonl"
    with make_client(telemetry=log, telemetry_key=KEY, telemetry_sample=0.5) as client:
        for _ in range(40):
            session = start(client)["session_id"]
            for index in range(2):
                client.post(f"/v1/sessions/{session}/chunks", json=report(index, 1))
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    per_session: dict[str, int] = {}
    for line in lines:
        per_session[line["session"]] = per_session.get(line["session"], 0) + 1
    assert set(per_session.values()) == {2}  # each logged session wholly
    assert 5 <= len(per_session) <= 35  # about half of 40


def test_telemetry_needs_a_long_enough_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ABR_TELEMETRY_KEY"):
        ServiceSettings(telemetry=tmp_path / "t.jsonl", telemetry_key="short")


def test_a_log_that_cannot_be_written_is_counted_and_fails_no_decision(caplog) -> None:
    import logging

    from service.log import TELEMETRY_FAILED, log

    unwritable = make_client(telemetry=Path("/dev/full"), telemetry_key=KEY)
    with caplog.at_level(logging.WARNING, logger=log.name), unwritable as client:
        session = start(client)["session_id"]
        for index in range(3):
            answer = client.post(f"/v1/sessions/{session}/chunks", json=report(index, 1))
            assert answer.status_code == 200 and answer.json()["level"] is not None
        metrics = client.get("/metrics").text
    assert "abr_telemetry_failures_total 3.0" in metrics
    assert 'abr_errors_total{status="500"}' not in metrics
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith(TELEMETRY_FAILED)]
    assert 1 <= len(lines) <= 3 and "/dev/full" in lines[0]


def test_serve_names_an_unwritable_telemetry_log_in_one_line(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    blocked = tmp_path / "file"
    blocked.write_text("")
    env = {
        **os.environ,
        "ABR_TELEMETRY": str(blocked / "telemetry.jsonl"),  # under a file: never writable
        "ABR_TELEMETRY_KEY": KEY,
    }
    done = subprocess.run(
        [sys.executable, "-m", "abr.cli", "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"ABR_TELEMETRY={blocked}/telemetry.jsonl" in lines[0], lines
