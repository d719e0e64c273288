"""Idempotent chunk reports, on either store: a retry of the last report gets the answer the
first one got; a different report for a chunk already applied is a 409 naming the index."""

from __future__ import annotations

import pytest

from tests.service.conftest import VIDEO, make_client, report, start


@pytest.fixture(params=["memory", "redis"])
def any_client(request: pytest.FixtureRequest):
    store = "memory" if request.param == "memory" else request.getfixturevalue("redis_url")
    with make_client(store=store) as test_client:
        yield test_client


def _retried(client) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("abr_retried_reports_total"):
            return float(line.split()[1])
    raise AssertionError("no abr_retried_reports_total in /metrics")


def test_a_retried_report_gets_the_same_answer_and_changes_nothing(any_client):
    session = start(any_client, policy="mpc")["session_id"]
    url = f"/v1/sessions/{session}/chunks"
    first = any_client.post(url, json=report(0, 1, download_s=0.4)).json()
    log = any_client.get(f"/v1/sessions/{session}").json()
    again = any_client.post(url, json=report(0, 1, download_s=0.4))
    assert again.status_code == 200 and again.json() == first
    assert any_client.get(f"/v1/sessions/{session}").json() == log  # applied once
    assert _retried(any_client) == 1
    assert any_client.post(url, json=report(1, first["level"])).status_code == 200


def test_a_different_report_for_an_applied_chunk_is_a_conflict(any_client):
    session = start(any_client)["session_id"]
    url = f"/v1/sessions/{session}/chunks"
    any_client.post(url, json=report(0, 1))
    any_client.post(url, json=report(1, 1))
    for late in (report(1, 1, buffer_s=9.0), report(0, 1)):  # changed, and no longer the last
        answer = any_client.post(url, json=late)
        assert answer.status_code == 409
        assert answer.json()["detail"].startswith("index: chunk")
    assert any_client.get(f"/v1/sessions/{session}").json()["chunks"] == 2


def test_the_last_chunk_s_retry_is_answered_done(any_client):
    session = start(any_client, n_chunks=2)["session_id"]
    url = f"/v1/sessions/{session}/chunks"
    any_client.post(url, json=report(0, 1))
    last = any_client.post(url, json=report(1, 1)).json()
    assert last["done"] and any_client.post(url, json=report(1, 1)).json() == last


def test_a_session_plays_the_same_on_redis_as_in_memory(redis_url: str):
    """Every chunk decoded from Redis and encoded back: RobustMPC's error memory survives."""
    levels = {}
    for store in ("memory", redis_url):
        with make_client(store=store) as client:
            session = start(client, policy="mpc")["session_id"]
            level = 1
            for index in range(VIDEO["n_chunks"]):
                body = report(index, level, download_s=0.3 + (index % 5) * 0.4)
                level = client.post(f"/v1/sessions/{session}/chunks", json=body).json()["level"]
            levels[store == "memory"] = client.get(f"/v1/sessions/{session}").json()["levels"]
    assert levels[True] == levels[False] and len(set(levels[True])) > 1
