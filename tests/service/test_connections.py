"""A real server's sockets: silent connections are closed, and past the connection limit new
ones are closed at once, while health checks keep answering."""

import socket
import time
import urllib.request

from tests.conftest import running_server


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def _closed_by_server(sock: socket.socket, wait_s: float) -> bool:
    sock.settimeout(wait_s)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_a_silent_connection_is_closed_after_the_idle_timeout() -> None:
    with running_server(idle_timeout_s="1") as (url, _):
        silent = [_connect(url) for _ in range(20)]
        start = time.monotonic()
        assert all(_closed_by_server(sock, 5.0) for sock in silent)
        assert time.monotonic() - start < 4.0
        with urllib.request.urlopen(url + "/healthz", timeout=5) as answer:
            assert answer.status == 200


def test_connections_past_the_limit_are_closed_at_once() -> None:
    with running_server(max_connections="10", idle_timeout_s="30") as (url, _):
        held = [_connect(url) for _ in range(10)]
        time.sleep(0.5)
        extra = [_connect(url) for _ in range(5)]
        assert all(_closed_by_server(sock, 2.0) for sock in extra)
        assert not any(_closed_by_server(sock, 0.2) for sock in held[:3])
        for sock in held:
            sock.close()
        time.sleep(0.5)
        with urllib.request.urlopen(url + "/healthz", timeout=5) as answer:
            assert answer.status == 200
