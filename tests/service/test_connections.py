"""A real server's sockets: silent connections are closed, and past the connection limit new
ones are closed at once, while health checks keep answering; the warnings a client can cause
with every request are logged once a minute."""

import http.client
import socket
import time
import urllib.request

from service.connections import CLIENT_WARNINGS
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


def test_a_flood_of_bad_requests_leaves_one_line_a_kind_in_the_log(tmp_path) -> None:
    log = tmp_path / "server.log"
    upgrade = (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    )
    with running_server(log=log) as (url, _):
        for request in [b"GARBAGE\r\n\r\n"] * 200 + [upgrade] * 200:
            with _connect(url) as sock:
                sock.sendall(request)
                assert sock.recv(12) in (b"HTTP/1.1 400", b"HTTP/1.1 200")
        with urllib.request.urlopen(url + "/healthz", timeout=5) as answer:
            assert answer.status == 200
    lines = log.read_text().splitlines()
    logged = {start: sum(start in line for line in lines) for start in CLIENT_WARNINGS}
    # the upgrade's warnings come only where no WebSocket library is installed
    assert logged[CLIENT_WARNINGS[0]] == 1 and max(logged.values()) == 1, (logged, lines[-5:])


def _answer(sock: socket.socket, wait_s: float) -> bytes:
    """All the server sends until it closes the connection (b"" if it only closes it)."""
    sock.settimeout(wait_s)
    data = b""
    try:
        while part := sock.recv(4096):
            data += part
    except (TimeoutError, ConnectionResetError):
        pass
    return data


def test_a_request_that_does_not_arrive_whole_in_time_is_closed() -> None:
    """Every way of sending part of a request and stalling: answered 408 or closed within the
    request timeout, however the idle timeout is set; health checks answer meanwhile."""
    body_head = (
        b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 200\r\n\r\n"
    )
    chunked_head = (
        b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    partial = {
        "request line": b"GET /heal",
        "headers": b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
        "body": body_head + b'{"ladder_k',
        "chunked body": chunked_head + b'5\r\n{"lad\r\n',
    }
    with running_server(request_timeout_s="1", idle_timeout_s="30", max_connections="8") as (
        url,
        _,
    ):
        held = {}
        for name, data in partial.items():
            held[name] = _connect(url)
            held[name].sendall(data)
        trickled = _connect(url)  # a header line every half second: never whole
        start = time.monotonic()
        lines = [b"GET /healthz HTTP/1.1\r\n", b"Host: x\r\n"] + [b"X-A: 1\r\n"] * 8
        try:
            for line in lines:
                trickled.sendall(line)
                time.sleep(0.5)
        except (BrokenPipeError, ConnectionResetError):  # closed by the server: what we want
            pass
        assert time.monotonic() - start < 3.0
        with urllib.request.urlopen(url + "/healthz", timeout=5) as answer:
            assert answer.status == 200
        answers = {name: _answer(sock, 5.0) for name, sock in held.items()}
        assert time.monotonic() - start < 4.0
        for name in ("request line", "headers"):
            assert answers[name].startswith(b"HTTP/1.1 408"), (name, answers[name])
            assert b"ABR_REQUEST_TIMEOUT_S" in answers[name]
        for name in ("body", "chunked body"):  # a route was reading it: closed, no answer
            assert answers[name] == b"", (name, answers[name])
        kept = http.client.HTTPConnection(url.removeprefix("http://"), timeout=5)
        for _ in range(2):  # whole requests on one connection, past the timeout: unaffected
            kept.request("GET", "/healthz")
            assert kept.getresponse().read() == b'{"status":"ok"}'
            time.sleep(1.5)
        kept.close()
