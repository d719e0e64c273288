"""The app in-process (TestClient), with a settings object per test."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
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
