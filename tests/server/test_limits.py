"""Request limits and timeouts of ``enlarger serve`` itself (no proxy in front), over raw sockets
on loopback: oversized heads get 431, heads and bodies that never complete are cut off (issue 24,
finding 6). The server runs as the product runs, ``python -m enlarger.cli serve``."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.live import free_port, stop, wait_for

#: small limits, so the tests are quick; the defaults are documented in docs/settings.md
LIMITS = {"header_timeout": 0.5, "body_timeout": 0.5, "keep_alive_timeout": 0.5, "max_header_count": 40}
WAIT = 20.0  # a socket timeout far above every configured limit: reaching it fails the test


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            return s.recv(100).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Callable[..., int]]:
    """``server(processes=1, **settings)`` runs ``enlarger serve`` and returns its port."""
    running: list[subprocess.Popen[bytes]] = []

    def start(processes: int = 1, **settings: object) -> int:
        port = free_port()
        env = {**os.environ, **{f"ENLARGER_{k.upper()}": str(v) for k, v in {**LIMITS, **settings}.items()}}
        command = [sys.executable, "-m", "enlarger.cli", "serve", "--port", str(port), "--processes", str(processes)]
        command += ["--data-dir", str(tmp_path / "data")]
        log = (tmp_path / "server.log").open("ab")
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, env=env)
        running.append(process)
        wait_for(lambda: _answers(port) or process.poll() is not None, timeout=60)
        assert process.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
        return port

    yield start
    for process in running:
        stop(process)


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=WAIT)


def _send_until_answered(s: socket.socket, data: bytes) -> None:
    """Send ``data`` in pieces, stopping as soon as the server answers (or stops reading)."""
    for start in range(0, len(data), 64 * 1024):
        readable, _, _ = select.select([s], [], [], 0)
        if readable:
            return
        try:
            s.sendall(data[start : start + 64 * 1024])
        except OSError:  # the server closed the connection: its answer is in our receive buffer
            return


def _read_all(s: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a socket timeout fails the test)."""
    received = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


def _status(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer[9:12])


def test_an_8_mib_header_is_refused_with_431(server: Callable[..., int]) -> None:
    port = server()
    with _connect(port) as s:
        _send_until_answered(s, b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * (8 << 20) + b"\r\n\r\n")
        answer = _read_all(s)
    assert _status(answer) == 431 and b"connection: close" in answer.lower()
    assert _answers(port)  # the process serves on


def test_20000_headers_are_refused_with_431(server: Callable[..., int]) -> None:
    port = server()
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(20_000))
    with _connect(port) as s:
        _send_until_answered(s, b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + many + b"\r\n")
        assert _status(_read_all(s)) == 431
    over_count = b"".join(b"X-H%d: v\r\n" % i for i in range(41))  # small, but more fields than allowed
    with _connect(port) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + over_count + b"\r\n")
        answer = _read_all(s)
    assert _status(answer) == 431 and b"header fields" in answer
    within = b"".join(b"X-H%d: v\r\n" % i for i in range(30))
    with _connect(port) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" + within + b"\r\n")
        assert _status(_read_all(s)) == 200


def test_a_body_larger_than_the_head_limit_is_not_a_head(server: Callable[..., int]) -> None:
    """The head limit counts the head only: a body sent in the same packets passes it."""
    port = server(max_header_bytes=2048)
    body = b'{"token": "' + b"x" * 20_000 + b'"}'
    head = b"POST /dashboard/session HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
    with _connect(port) as s:
        s.sendall(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        assert _status(_read_all(s)) == 403  # read and judged: an unknown token


def test_a_head_that_never_completes_is_cut_off(server: Callable[..., int]) -> None:
    port = server()
    with _connect(port) as s:  # slowloris: a head begun and never finished
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        answer = _read_all(s)  # returns only when the server closes the connection
    assert _status(answer) == 408
    with _connect(port) as s:  # a connection that never says anything
        assert _status(_read_all(s)) == 408


def test_a_stalled_body_is_cut_off(server: Callable[..., int]) -> None:
    port = server()
    with _connect(port) as s:
        s.sendall(b"POST /dashboard/session HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n")
        s.sendall(b"Content-Length: 1000\r\n\r\n" + b'{"token": "')
        answer = _read_all(s)
    assert _status(answer) == 408 and b"body" in answer
    assert _answers(port)


def test_kept_alive_connections_are_timed_too(server: Callable[..., int]) -> None:
    port = server()
    with _connect(port) as s:  # idle after an answer: closed after keep_alive_timeout, no answer owed
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        answer = _read_all(s)
    assert _status(answer) == 200 and answer.count(b"HTTP/1.1") == 1
    with _connect(port) as s:  # the second request's head never completes
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n")
        answer = _read_all(s)
    assert answer.startswith(b"HTTP/1.1 200") and b"HTTP/1.1 408" in answer


def test_every_worker_process_has_the_limits(server: Callable[..., int]) -> None:
    port = server(processes=2)
    for _ in range(4):  # the kernel spreads connections over both processes
        with _connect(port) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ")
            assert _status(_read_all(s)) == 408
