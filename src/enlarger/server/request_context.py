"""Who a request is, for logs and traces: its request id, its trace and its span.

An outer ASGI middleware (around the access log, so the access line is written inside it):

- the request id is the client's ``X-Request-Id`` when it is sane (1–128 characters of
  ``[A-Za-z0-9._:@/+=-]``: a load balancer's or a caller's id is kept so logs join across
  services), else a fresh random one; it is echoed as ``X-Request-Id`` on every response;
- with tracing on (:mod:`enlarger.tracing`), one server span per request continues the caller's
  ``traceparent`` and carries the route, status, cache result, error code and bytes sent;
- with tracing off, the caller's ``traceparent`` ids (if any) are still what the log lines
  carry, so they join the caller's trace; nothing is exported or propagated.

:func:`enlarger.server.request_id.fields` gives every log line of the request (access, error) the three ids.
"""

from __future__ import annotations

import random
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from enlarger import tracing
from enlarger.server.access_log import route_of
from enlarger.server.request_id import CURRENT, Current

HEADER = b"x-request-id"
_SANE = re.compile(rb"[A-Za-z0-9._:@/+=-]{1,128}")
#: W3C trace context: version ff and all-zero ids are invalid
_TRACEPARENT = re.compile(r"(?!ff)[0-9a-f]{2}-(?!0{32})([0-9a-f]{32})-(?!0{16})([0-9a-f]{16})-[0-9a-f]{2}")
_PROPAGATED = frozenset((b"traceparent", b"tracestate", b"baggage"))  # what the default propagators read


def _incoming(scope: Scope) -> tuple[bytes | None, dict[str, str]]:
    """The request's ``X-Request-Id`` (raw) and its trace context headers, in one pass."""
    request_id = None
    carrier: dict[str, str] = {}
    for name, value in scope["headers"]:
        if name == HEADER:
            request_id = value
        elif name in _PROPAGATED:
            carrier[name.decode("latin-1")] = value.decode("latin-1")
    return request_id, carrier


def _made() -> str:
    """A fresh request id: 128 random bits in hex (unique, not secret: no system call per request)."""
    return f"{random.getrandbits(128):032x}"


class RequestContext:
    """The middleware; wrap it around :class:`~enlarger.server.access_log.AccessLog`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw, carrier = _incoming(scope)
        request_id = raw.decode("ascii") if raw is not None and _SANE.fullmatch(raw) else _made()
        echoed = (HEADER, request_id.encode("ascii"))
        if tracing.ENABLED:
            await self._traced(scope, receive, send, request_id, echoed, carrier)
            return
        parent = _TRACEPARENT.fullmatch(carrier["traceparent"]) if "traceparent" in carrier else None
        current = Current(request_id, *parent.groups()) if parent else Current(request_id)
        await self._plain(scope, receive, send, current, echoed)

    async def _plain(self, scope: Scope, receive: Receive, send: Send, current: Current, echoed: Any) -> None:
        """The request with its ids and the echoed request id, and nothing recorded."""

        async def echo(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), echoed]
            await send(message)

        token = CURRENT.set(current)
        try:
            await self.app(scope, receive, echo)
        finally:
            CURRENT.reset(token)

    async def _traced(
        self, scope: Scope, receive: Receive, send: Send, request_id: str, echoed: Any, carrier: dict[str, str]
    ) -> None:
        route = route_of(scope["path"])
        attributes = {
            "http.request.method": scope["method"],
            "url.path": scope["path"],
            "http.route": route,
            "enlarger.request_id": request_id,
        }
        sent = 0
        with tracing.server_span(f"{scope['method']} {route}", carrier, attributes) as span:
            if not span.is_recording():  # the sampler dropped it: the ids still go into the logs
                await self._plain(scope, receive, send, Current(request_id), echoed)
                return

            async def observe(message: Message) -> None:
                nonlocal sent
                if message["type"] == "http.response.start":
                    message["headers"] = headers = [*message.get("headers", ()), echoed]
                    _describe_response(span, message["status"], headers)
                elif message["type"] == "http.response.body":
                    sent += len(message.get("body", b""))
                await send(message)

            token = CURRENT.set(Current(request_id))
            try:
                await self.app(scope, receive, observe)
            finally:
                CURRENT.reset(token)
                span.set_attribute("http.response.body.size", sent)


def _describe_response(span: Any, status: int, headers: list[tuple[bytes, bytes]]) -> None:
    """The status, cache result and error code (``Cf-Resized: err=9xxx``) on the server span."""
    from opentelemetry.trace import StatusCode

    span.set_attribute("http.response.status_code", status)
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"x-enlarger-cache":
            span.set_attribute("enlarger.cache", value.decode("latin-1"))
        elif lowered == b"cf-resized" and value.startswith(b"err=") and value[4:8].isdigit():
            span.set_attribute("enlarger.error_code", int(value[4:8]))
        elif lowered == b"content-type":
            span.set_attribute("enlarger.media_type", value.decode("latin-1"))
    if status >= 500:  # the semantic conventions: a 4xx is the client's failure, not the server span's
        span.set_status(StatusCode.ERROR)
