"""The local servers of the tools and tests: started, waited for, and never stopped by their own
output."""

from __future__ import annotations

import sys

import httpx
import pytest

from abr.clients.net import running_server, started

NOISE_BYTES = 256 * 1024  # four times a Linux pipe's buffer


async def noisy_app(scope, receive, send) -> None:
    """Writes NOISE_BYTES to stderr on every request, as a flood of warnings would."""
    sys.stderr.write("w" * NOISE_BYTES)
    sys.stderr.flush()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def test_a_server_that_writes_much_output_keeps_answering():
    target = ["tests.clients.test_net:noisy_app", "--lifespan", "off"]
    with running_server(target, timeout_s=20) as (url, _):
        for _ in range(3):
            assert httpx.get(f"{url}/healthz", timeout=10).text == "ok"


def test_a_server_that_stops_at_start_up_is_reported_with_its_output():
    command = [sys.executable, "-c", "import sys; sys.exit('no model at /nowhere.onnx')"]
    refused = pytest.raises(RuntimeError, match="stopped at start-up: no model at /nowhere.onnx")
    with refused, started(command, "http://127.0.0.1:9", timeout_s=20):
        pass
