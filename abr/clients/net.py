"""Local servers for the tools and tests: a free port, a server started on it, and the wait
until it answers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


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
    url = f"http://127.0.0.1:{port}"
    with started(command, url, env, timeout_s) as pid:
        yield url, pid


@contextmanager
def started(
    command: list[str],
    url: str,
    env: dict[str, str] | None = None,
    timeout_s: float = 60.0,
    cwd: Path | None = None,
    stop_grace_s: float = 10.0,
    log: Path | None = None,
) -> Iterator[int]:
    """`command`, a server that will answer `url`/healthz, from its start-up until the block
    ends: its process id. `env` is added to its environment. At the end it is terminated, and
    killed if it has not exited `stop_grace_s` later.

    Its output goes to the file `log`, or a temporary one; never to a pipe: nothing reads a pipe
    while the server runs, and a full one (64 KiB of warnings) would stop the server in
    mid-write."""
    with open(log, "w+b") if log is not None else tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )
        try:
            wait_until_up(process, url, timeout_s, output)
            yield process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=stop_grace_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until_up(
    process: subprocess.Popen[bytes],
    url: str,
    timeout_s: float = 60.0,
    output: BinaryIO | None = None,
) -> None:
    """Until the server `process` answers `url`/healthz; a RuntimeError with the end of its
    output (the file `output`, where it writes) if it stops first or stays silent for
    `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server stopped at start-up: {_output_tail(output)}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url}: no answer to /healthz after {timeout_s:.0f} s")


def _output_tail(output: BinaryIO | None) -> str:
    if output is None:
        return ""
    output.seek(0)
    return output.read().decode(errors="replace").strip()[-2000:]
