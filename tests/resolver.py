"""A stub DNS for the tests: names under ``.canary.test`` answer what the test says, everything
else goes to the real resolver. It replaces ``socket.getaddrinfo`` — where the fetcher's and
boto3's resolution end — and ``anyio.getaddrinfo`` (which, under uvloop, never reaches the
former), and records the names asked for.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import httpcore
import pytest

Answers = dict[str, list[str]]  # host -> the addresses of successive lookups (the last repeats)


class StubResolver:
    def __init__(self) -> None:
        self.answers: Answers = {}
        self.asked: list[str] = []

    def getaddrinfo(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def stub(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            name = host.decode() if isinstance(host, bytes) else str(host)
            if not name.endswith(".canary.test"):
                return real(host, port, *args, **kwargs)
            self.asked.append(name)
            queue = self.answers.get(name, [])
            if not queue:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            address = queue.pop(0) if len(queue) > 1 else queue[0]
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sockaddr = (address, int(port or 0), 0, 0) if family == socket.AF_INET6 else (address, int(port or 0))
            return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr)]

        return stub


@contextmanager
def stub_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[StubResolver]:
    resolver = StubResolver()
    stub = resolver.getaddrinfo(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", stub)
    real_anyio = anyio.getaddrinfo

    async def anyio_stub(host: Any, port: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name.endswith(".canary.test"):
            return await anyio.to_thread.run_sync(lambda: stub(name, port))
        return await real_anyio(host, port, **kwargs)

    monkeypatch.setattr(anyio, "getaddrinfo", anyio_stub)
    yield resolver


def record_connects(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every address the fetcher connects to, in order; any but loopback fails here, unsent (tests
    never send traffic beyond loopback, even when the code under test would)."""
    seen: list[str] = []
    original = httpcore.AnyIOBackend.connect_tcp

    async def recording(
        self: httpcore.AnyIOBackend, host: str, port: int, *args: Any, **kwargs: Any
    ) -> httpcore.AsyncNetworkStream:
        seen.append(host)
        if not host.startswith("127."):
            raise httpcore.ConnectError(f"test canary {host} is not reachable from here")
        return await original(self, host, port, *args, **kwargs)

    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", recording)
    return seen
