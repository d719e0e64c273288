"""The app in-process (TestClient), with a settings object per test."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.log import RepeatLimit, log
from service.settings import ServiceSettings

ENVIVIO_LADDER = [300.0, 750.0, 1200.0, 1850.0, 2850.0, 4300.0]
VIDEO = {"ladder_kbps": ENVIVIO_LADDER, "chunk_s": 4.0, "n_chunks": 48}


def make_client(**settings: object) -> TestClient:
    return TestClient(create_app(ServiceSettings(**settings)))


@pytest.fixture
def client():
    with make_client() as test_client:
        yield test_client


def report(index: int, level: int, **changes: object) -> dict[str, object]:
    body = {
        "index": index,
        "level": level,
        "size_bytes": 400_000.0,
        "download_s": 1.5,
        "buffer_s": 8.0,
        "rebuffer_s": 0.0,
    }
    body.update(changes)
    return body


def start(client, **changes):
    """A session started with the Envivio video (and `changes`); its first answer."""
    answer = client.post("/v1/sessions", json={**VIDEO, **changes})
    assert answer.status_code == 201, answer.text
    return answer.json()


@pytest.fixture
def fresh_log_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    """The service log's repeat limits read a clock far past any line logged before, and held
    there: the next line of each limited kind goes through, and the ones after it are held."""
    for limit in log.filters:
        if isinstance(limit, RepeatLimit):
            monkeypatch.setattr(limit, "clock", lambda: 1e12)
