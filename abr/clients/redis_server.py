"""A real Redis for the tools and tests: Debian's `redis-server` on a free local port, with
append-only persistence in a folder of the caller's (so that a restart keeps what it had).

`fsync`: `always` makes every write durable before Redis answers (a SIGKILL loses nothing: the
failover runs use it); `everysec` (Redis's default for the append-only file, and the
deployment's) can lose the last second of writes in a crash, for about half the service's
per-chunk latency on this machine (docs/results.md)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from abr.clients.net import free_port


class RedisServer:
    def __init__(self, folder: Path, port: int | None = None, fsync: str = "always") -> None:
        if fsync not in ("always", "everysec"):
            raise ValueError(f"fsync must be always or everysec, got {fsync!r}")
        self.fsync = fsync
        binary = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin")
        if binary is None:
            raise RuntimeError(
                "redis-server is not installed (Debian: apt-get install redis-server; "
                "`make player-deps` does it)"
            )
        self.binary, self.folder, self.port = binary, folder, port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                self.binary,
                *("--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder)),
                *("--save", "", "--appendonly", "yes", "--appendfsync", self.fsync),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server on port {self.port} stopped at start-up")
            if _answers_ping(self.port):
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port}: no answer after {timeout_s} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)


@contextmanager
def running_redis(folder: Path, fsync: str = "always") -> Iterator[RedisServer]:
    server = RedisServer(folder, fsync=fsync)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False
