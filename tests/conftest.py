"""Shared fixtures: the real data in ../shared/data, and small hand-made traces."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from abr.clients.net import free_port, started
from abr.media.traces import load_traces
from abr.media.video import Video, load_pensieve_video

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PENSIEVE_TEST = SHARED_DATA / "traces" / "pensieve" / "test"
PENSIEVE_TRAIN = SHARED_DATA / "traces" / "pensieve" / "train"
ENVIVIO = SHARED_DATA / "videos" / "envivio"


def require_shared(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path} is missing: the tests need ../shared/data beside the repository")
    return path


@pytest.fixture(scope="session")
def envivio() -> Video:
    return load_pensieve_video(require_shared(ENVIVIO))


@pytest.fixture(scope="session")
def pensieve_test_traces():
    return load_traces([require_shared(PENSIEVE_TEST)])


def abr(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """The `abr` command line as users run it: a subprocess; with `check`, it must succeed."""
    result = subprocess.run(
        [sys.executable, "-m", "abr.cli", *args], capture_output=True, text=True, timeout=300
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def last_json(result: subprocess.CompletedProcess[str]) -> dict:
    """The machine-readable result: the JSON object on stdout's last line."""
    return json.loads(result.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def running_server(log: Path | None = None, **env: str) -> Iterator[tuple[str, int]]:
    """`abr serve` on a free local port with ABR_* settings from `env`, its output to the file
    `log` if given; yields (url, pid)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "abr.cli", "serve", "--port", str(port)]
    settings = {f"ABR_{k.upper()}": v for k, v in env.items()}
    with contextlib.ExitStack() as stack:
        try:
            pid = stack.enter_context(started(command, url, settings, timeout_s=30, log=log))
        except RuntimeError as exc:
            pytest.fail(f"the server did not start: {exc}")
        yield url, pid


@pytest.fixture(scope="module")
def live_server():
    """`abr serve` on a free local port (the shipped model), for the tests of one module."""
    with running_server() as (url, _):
        yield url


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free local port for the whole run. Missing redis-server skips
    the test on a developer's machine and fails it in CI (`make test` installs it)."""
    from abr.clients.redis_server import RedisServer

    try:
        server = RedisServer(tmp_path_factory.mktemp("redis"))
    except RuntimeError as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    server.start()
    yield server.url
    server.stop()
