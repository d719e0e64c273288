"""Sessions over HTTP in-process: lifecycle, bad input (4xx naming the field, state
unchanged), limits on sessions, expiry."""

import json

import pytest

from tests.service.conftest import VIDEO, make_client, report, start


def test_session_lifecycle(client):
    started = start(client)
    assert started["level"] == 1 and started["bitrate_kbps"] == 750.0
    assert started["policy"] == "dqn" and started["model_version"] and not started["fallback"]
    session = started["session_id"]
    for index in range(48):
        answer = client.post(f"/v1/sessions/{session}/chunks", json=report(index, 1)).json()
        assert answer["done"] == (index == 47)
        assert answer["chunk_index"] == (None if index == 47 else index + 1)
    log = client.get(f"/v1/sessions/{session}").json()
    assert log["levels"] == [1] * 48
    summary = client.delete(f"/v1/sessions/{session}").json()
    assert summary["chunks"] == 48 and summary["switches"] == 0
    assert summary["mean_qoe"] == pytest.approx(0.75)  # level 1 throughout, no stall
    assert client.delete(f"/v1/sessions/{session}").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (report(0, 1, size_bytes=-1), 422, "size_bytes"),
        (report(0, 1, download_s=0), 422, "download_s"),
        (report(0, 1, buffer_s=-0.5), 422, "buffer_s"),
        (report(0, 1, rebuffer_s=-1), 422, "rebuffer_s"),
        (report(0, 6), 422, "level"),
        (report(0, -1), 422, "level"),
        (report(3, 1), 409, "index"),
        (report(-1, 1), 422, "index"),
        ({**report(0, 1), "extra": 1}, 422, "extra"),
        ({k: v for k, v in report(0, 1).items() if k != "download_s"}, 422, "download_s"),
        ({**report(0, 1), "level": "high"}, 422, "level"),
    ],
)
def test_bad_reports_name_the_field_and_change_nothing(client, body, status, field):
    session = start(client)["session_id"]
    before = client.get(f"/v1/sessions/{session}").json()
    answer = client.post(f"/v1/sessions/{session}/chunks", json=body)
    assert answer.status_code == status
    assert answer.json()["detail"].startswith(field), answer.json()
    assert client.get(f"/v1/sessions/{session}").json() == before
    assert client.post(f"/v1/sessions/{session}/chunks", json=report(0, 1)).status_code == 200


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (
            b'{"index": 0, "level": 1, "size_bytes": NaN, "download_s": 1, "buffer_s": 1}',
            "size_bytes",
        ),
        (
            b'{"index": 0, "level": 1, "size_bytes": 1, "download_s": Infinity, "buffer_s": 1}',
            "download_s",
        ),
        (b'{"index": 0, "level": 1, ', "body: not valid JSON"),
        (b"[]", "body"),
    ],
)
def test_malformed_json_and_non_finite_numbers(client, raw, field):
    session = start(client)["session_id"]
    answer = client.post(
        f"/v1/sessions/{session}/chunks", content=raw, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422 and answer.json()["detail"].startswith(field), answer.text


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"ladder_kbps": [300, 200]}, "ladder_kbps"),
        ({"ladder_kbps": []}, "ladder_kbps"),
        ({"chunk_s": 0}, "chunk_s"),
        ({"n_chunks": 0}, "n_chunks"),
        ({"policy": "pensieve"}, "policy"),
        ({"qoe": "nope"}, "qoe"),
        ({"chunk_sizes_bytes": [[1.0] * 48] * 5}, "chunk_sizes_bytes"),
        ({"chunk_sizes_bytes": [[1.0] * 47] * 6}, "chunk_sizes_bytes"),
        ({"n_chunks": 10**9}, "n_chunks"),
    ],
)
def test_bad_session_starts(client, changes, field):
    answer = client.post("/v1/sessions", json={**VIDEO, **changes})
    assert answer.status_code == 422 and answer.json()["detail"].startswith(field), answer.text


def test_baselines_accept_any_ladder(client):
    started = start(client, ladder_kbps=[200, 400, 800], policy="bb")
    assert started["policy"] == "bb" and started["model_version"] is None


def test_unknown_session_and_oversized_body(client):
    assert client.post("/v1/sessions/nope/chunks", json=report(0, 1)).status_code == 404
    big = b'{"pad": "' + b"x" * 1_100_000 + b'"}'
    answer = client.post("/v1/sessions", content=big, headers={"content-type": "application/json"})
    assert answer.status_code == 413 and "body" in answer.json()["detail"]
    wrong_method = client.get("/v1/decide")
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    assert wrong_method.json()["detail"].startswith("method: GET")
    session = start(client)["session_id"]  # DELETE is the gate's, GET is FastAPI's: both work
    assert client.put(f"/v1/sessions/{session}").status_code == 405
    assert client.get(f"/v1/sessions/{session}").status_code == 200
    assert client.delete(f"/v1/sessions/{session}").status_code == 200
    assert client.delete(f"/v1/sessions/{session}").status_code == 404


def test_session_limit_evicts_the_least_recently_used():
    with make_client(max_sessions=3) as client:
        ids = [start(client)["session_id"] for _ in range(3)]
        client.post(f"/v1/sessions/{ids[0]}/chunks", json=report(0, 1))  # ids[0] is now recent
        fourth = start(client)["session_id"]
        assert client.get(f"/v1/sessions/{ids[1]}").status_code == 404  # the LRU one went
        for session in (ids[0], ids[2], fourth):
            assert client.get(f"/v1/sessions/{session}").status_code == 200
        assert 'abr_sessions_reclaimed{why="limit"} 1.0' in client.get("/metrics").text


def test_idle_sessions_expire(monkeypatch):
    now = [1000.0]
    with make_client(session_ttl_s=60) as client:
        store = client.app.state.service.store
        monkeypatch.setattr(store, "clock", lambda: now[0])
        old = start(client)["session_id"]
        now[0] += 30
        kept = start(client)["session_id"]
        now[0] += 40  # old: idle 70 s, kept: idle 40 s
        assert client.get(f"/v1/sessions/{old}").status_code == 404
        assert client.get(f"/v1/sessions/{kept}").status_code == 200
        assert len(store) == 1 and store.expired == 1


@pytest.mark.parametrize(
    ("path_kind", "changes", "field"),
    [
        ("chunks", {"index": "0"}, "index"),
        ("chunks", {"index": True}, "index"),
        ("chunks", {"level": 1.0}, "level"),
        ("chunks", {"buffer_s": "8"}, "buffer_s"),
        ("chunks", {"size_bytes": True}, "size_bytes"),
        ("start", {"chunk_s": True}, "chunk_s"),
        ("start", {"ladder_kbps": ["300", 750]}, "ladder_kbps.0"),
        ("start", {"n_chunks": "48"}, "n_chunks"),
    ],
)
def test_numbers_must_be_json_numbers(client, path_kind, changes, field):
    """No coercion: a string or a boolean where a number belongs is a 422 naming the field."""
    if path_kind == "start":
        answer = client.post("/v1/sessions", json={**VIDEO, **changes})
    else:
        session = start(client)["session_id"]
        body = {**report(0, 1), **changes}
        answer = client.post(f"/v1/sessions/{session}/chunks", json=body)
    assert answer.status_code == 422 and answer.json()["detail"].startswith(field), answer.text


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None]
)
def test_only_json_bodies_are_read(client, content_type):
    """What a web page may post cross-origin without a CORS check starts no session."""
    headers = {"content-type": content_type} if content_type else {}
    body = json.dumps(VIDEO).encode()
    for path in ("/v1/sessions", "/v1/admin/reload"):  # a fast route, and one of FastAPI's
        answer = client.post(path, content=body, headers=headers)
        assert answer.status_code == 415, (path, answer.text)
        assert answer.json()["detail"].startswith("content-type: ")
    assert client.get("/metrics").text.count('abr_errors_total{status="415"} 2.0') == 1
    json_utf8 = {"content-type": "application/json; charset=utf-8"}
    assert client.post("/v1/sessions", content=body, headers=json_utf8).status_code == 201


def test_a_throughput_beyond_any_link_is_refused(client):
    session = start(client)["session_id"]
    url = f"/v1/sessions/{session}/chunks"
    answer = client.post(url, json=report(0, 1, size_bytes=1e13, download_s=1e-310))
    assert answer.status_code == 422 and answer.json()["detail"].startswith("download_s: ")
    assert client.post(url, json=report(0, 1)).status_code == 200  # the session unchanged


def test_replays_of_older_chunks_say_what_happened(client):
    session = start(client)["session_id"]
    url = f"/v1/sessions/{session}/chunks"
    for index in range(3):
        assert client.post(url, json=report(index, 1)).status_code == 200
    older = client.post(url, json=report(0, 1)).json()["detail"]
    assert older == "index: chunk 0 was already applied; the session expects chunk 3"
    changed = client.post(url, json=report(2, 1, buffer_s=1.0)).json()["detail"]
    assert changed.startswith("index: chunk 2 was already applied with other values")


def _concurrently(*requests):
    """The app's answers to requests sent at once (one event loop, as a server runs them)."""
    import asyncio

    import httpx

    from service.app import create_app
    from service.settings import ServiceSettings

    app = create_app(ServiceSettings())

    async def run():
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
                started = await client.post("/v1/sessions", json=VIDEO)
                session = started.json()["session_id"]
                answers = await asyncio.gather(*(request(client, session) for request in requests))
                log = await client.get(f"/v1/sessions/{session}")
                return answers, log

    return asyncio.run(run())


def test_identical_reports_sent_at_once_all_get_the_one_answer():
    def send(client, session):
        return client.post(f"/v1/sessions/{session}/chunks", json=report(0, 1))

    answers, log = _concurrently(*[send] * 50)
    assert {answer.status_code for answer in answers} == {200}
    assert len({answer.text for answer in answers}) == 1
    assert log.json()["chunks"] == 1


def test_an_end_racing_a_report_counts_the_chunk_exactly_when_it_was_answered():
    async def report_then_wait(client, session):
        return await client.post(f"/v1/sessions/{session}/chunks", json=report(0, 1))

    async def end(client, session):
        return await client.delete(f"/v1/sessions/{session}")

    (reported, ended), _ = _concurrently(report_then_wait, end)
    assert reported.status_code == 200 and ended.json()["chunks"] == 1


def test_an_unexpected_error_is_a_counted_json_500(client, monkeypatch):
    session = start(client)["session_id"]

    async def broken(*args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(client.app.state.service.engine, "apply_report", broken)
    answer = client.post(f"/v1/sessions/{session}/chunks", json=report(0, 1))
    assert answer.status_code == 500 and answer.json() == {"detail": "internal error; it is logged"}
    assert 'abr_errors_total{status="500"} 1.0' in client.get("/metrics").text
