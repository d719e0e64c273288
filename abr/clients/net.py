"""Local servers for the tools and tests: a free port, a server started on it, and the wait
until it answers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(
    target: list[str], env: dict[str, str] | None = None, timeout_s: float = 60.0
) -> Iterator[tuple[str, int]]:
    """A real uvicorn server on a free local port, for `target` (uvicorn's app arguments), with
    `env` added to its environment: (its URL, its process id); stopped on exit."""
    port = free_port()
    command = [
        *(sys.executable, "-m", "uvicorn", *target),
        *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"),
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(process, url, timeout_s)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_until_up(process: subprocess.Popen[bytes], url: str, timeout_s: float = 60.0) -> None:
    """Until the server `process` answers `url`/healthz; a RuntimeError with the end of its
    output (its piped stderr, or stdout) if it stops first or stays silent for `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pipe = process.stderr or process.stdout
            output = pipe.read().decode() if pipe else ""
            raise RuntimeError(f"the server stopped at start-up: {output.strip()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url}: no answer to /healthz after {timeout_s:.0f} s")
