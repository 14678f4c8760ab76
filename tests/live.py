"""Real servers on loopback for the tests: the service itself and a scriptable HTTP origin."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp


@contextmanager
def serve(app: ASGIApp, host: str = "127.0.0.1", *, tls: tuple[str, str] | None = None) -> Iterator[str]:
    """Run ``app`` with uvicorn in a thread on a free port; yields its base URL.

    ``tls`` (certificate chain file, key file) serves HTTPS instead (tests/tls.py makes them).
    """
    certfile, keyfile = tls if tls else (None, None)
    config = uvicorn.Config(
        app,
        host=host,
        port=0,
        log_level="warning",
        access_log=False,
        lifespan="on",
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"{'https' if tls else 'http'}://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class Origin:
    """An HTTP origin whose files, redirects, delays and failures the test controls."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.redirects: dict[str, str] = {}
        self.delays: dict[str, float] = {}
        self.status: dict[str, int] = {}
        self.etags: dict[str, str] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.queries: list[str] = []  # the query string of each request, in order
        self.bodies: list[tuple[str, int]] = []  # (path, length) of each file body sent, in order

    def app(self) -> Starlette:
        async def any_path(request: Request) -> Response:
            path = "/" + request.path_params["path"]
            self.requests.append((path, dict(request.headers)))
            self.queries.append(request.url.query)
            if path in self.delays:
                await asyncio.sleep(self.delays[path])
            if path in self.redirects:
                return RedirectResponse(self.redirects[path], status_code=302)
            if path in self.status:
                return Response(b"failure", status_code=self.status[path])
            if path not in self.files:
                return Response(b"not here", status_code=404)
            etag = self.etags.get(path)
            if etag and request.headers.get("if-none-match") == etag:
                return Response(status_code=304, headers={"ETag": etag})
            self.bodies.append((path, len(self.files[path])))
            return Response(self.files[path], headers={"ETag": etag} if etag else {}, media_type="image/jpeg")

        return Starlette(routes=[Route("/{path:path}", any_path)])

    def hits(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)

    def bytes_sent(self, path: str) -> int:
        """Bytes of ``path``'s file bodies this origin sent (304s and failures send none)."""
        return sum(length for p, length in self.bodies if p == path)


def wait_for(condition: Callable[[], bool], timeout: float = 10, interval: float = 0.01) -> None:
    """Until ``condition()`` holds, asking every ``interval`` seconds (longer for a costly question)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(interval)


def free_port() -> int:
    """A TCP port on loopback nobody listens on now (for a server the test starts as a process)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def stop(process: subprocess.Popen[bytes], grace: float = 20) -> None:
    """SIGTERM, then SIGKILL if ``process`` has not ended within ``grace`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def binding_form(parts: list[tuple[str, bytes | str]]) -> tuple[bytes, str]:
    """A multipart body with ``parts`` in this order, as workerd's images binding writes them (files
    for bytes, text fields for str), and its Content-Type."""
    boundary = uuid.uuid4().hex
    body = b""
    for name, value in parts:
        if isinstance(value, bytes):
            head = f'Content-Disposition: form-data; name="{name}"; filename="blob"\r\nContent-Type: image/*'
            body += f"--{boundary}\r\n{head}\r\n\r\n".encode() + value + b"\r\n"
        else:
            body += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"
