"""A stub DNS for the tests: names under ``.canary.test`` answer what the test says, everything
else goes to the real resolver. It replaces ``socket.getaddrinfo`` — the boundary every resolver
in the process (the fetcher's, boto3's) ends at — and records which addresses were connected to.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

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
    monkeypatch.setattr(socket, "getaddrinfo", resolver.getaddrinfo(socket.getaddrinfo))
    yield resolver
