"""The local servers of the tools and tests: started, waited for, and never stopped by their own
output."""

from __future__ import annotations

import os
import sys

import httpx
import pytest

from abr.clients.net import free_port, running_server, started

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


def test_a_server_that_ignores_sigterm_is_killed_at_the_end():
    port = free_port()
    deaf = (
        "import signal, http.server\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "class Ok(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200)\n"
        "        self.end_headers()\n"
        f"http.server.HTTPServer(('127.0.0.1', {port}), Ok).serve_forever()\n"
    )
    with started([sys.executable, "-c", deaf], f"http://127.0.0.1:{port}", stop_grace_s=0.5) as pid:
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
