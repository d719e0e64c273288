"""`abr bench-service`: two real servers on local ports, driven alternately."""

import asyncio

import httpx
import pytest

from abr.clients.net import running_server
from abr.clients.service_speed import BATCH_SIZE_VARIABLE, BareApp, bench_service
from tests.conftest import abr, last_json


def test_service_and_bare_server_both_answer_and_the_ratio_is_theirs():
    rows = bench_service(rounds=1, duration_s=1.0, modes=("chunks",), chunk_connections=2)
    bare, service = rows
    assert (bare["server"], service["server"]) == ("bare", "service")
    for row in rows:
        assert row["errors"] == 0 and row["decisions"] > 50
    assert service["ratio"] == pytest.approx(service["decisions_per_s"] / bare["decisions_per_s"])
    assert "ratio" not in bare


def test_unknown_mode_is_named():
    with pytest.raises(ValueError, match="soak"):
        bench_service(modes=("chunks", "soak"))


def test_bare_app_reads_the_body_and_answers_the_service_shape():
    messages = [
        {"type": "http.request", "body": b'{"a": ', "more_body": True},
        {"type": "http.request", "body": b"1}", "more_body": False},
    ]
    sent = []

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    app = BareApp(batch_size=3)
    asyncio.run(app({"type": "http", "path": "/v1/decide/columns"}, receive, send))
    assert not messages  # the whole body was read
    assert sent[0]["status"] == 200 and b'"levels": [1, 1, 1]' in sent[1]["body"]


def test_the_bare_server_answers_batches_of_the_size_it_is_told():
    target = ["abr.clients.service_speed:bare_app"]
    with running_server(target, {BATCH_SIZE_VARIABLE: "64"}) as (url, _):
        answer = httpx.post(f"{url}/v1/decide/columns", content=b"{}").json()
    assert len(answer["levels"]) == len(answer["bitrates_kbps"]) == 64


def test_cli_prints_the_rows_as_json():
    result = last_json(
        abr(
            "bench-service",
            "--rounds",
            "1",
            "--duration",
            "0.5",
            "--modes",
            "columns",
            "--batch-size",
            "64",
            "--json",
        )
    )
    assert [row["server"] for row in result["rows"]] == ["bare", "service"]
    assert result["rows"][1]["decisions"] % 64 == 0 and result["rows"][1]["errors"] == 0
