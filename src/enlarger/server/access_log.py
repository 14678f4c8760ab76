"""One structured (JSON) access-log line and the request metrics, per request.

A pure ASGI middleware: it sees the status and the bytes actually sent, costs no extra
buffering, and works for every route including errors. It runs on every cache hit, so the line
is formatted by hand (the same JSON ``json.dumps`` wrote) and the record skips the logger's
caller lookup (a stack walk), and each route/status's metric series is looked up once.
"""

from __future__ import annotations

import logging
import time
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from enlarger.server import request_id
from enlarger.server.metrics import Metrics

logger = logging.getLogger("enlarger.access")


def route_of(path: str) -> str:
    """A bounded label for the metrics: never the raw path (image IDs would explode the series)."""
    if path.startswith("/cdn-cgi/image/"):
        return "transform"
    if path in ("/healthz", "/readyz", "/metrics"):
        return path.strip("/")
    if path.startswith("/client/v4/"):
        return "api"
    if path.startswith("/upload/"):
        return "upload"
    if path == "/dashboard" or path.startswith(("/dashboard/", "/widget/")):
        return path.split("/")[1]  # the dashboard and upload widget (issue 17)
    return "delivery" if path.count("/") >= 3 else "other"


UPLOAD_PREFIX = "/upload/"


def loggable(path: str) -> str:
    """``path`` as logs may keep it: a direct upload's one-time secret (its URL's last part,
    the upload's whole authorisation until it is used) is never written down."""
    return UPLOAD_PREFIX + "<secret>" if path.startswith(UPLOAD_PREFIX) else path


class AccessLog:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._requests: dict[tuple[str, int], Counter] = {}
        self._latency: dict[str, Histogram] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state: dict[str, Any] = {"status": 500, "bytes": 0, "cache": "-"}

        async def observe(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"x-enlarger-cache":
                        state["cache"] = value.decode()
            elif message["type"] == "http.response.body":
                state["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            elapsed = time.perf_counter() - started
            self._count(route_of(scope["path"]), state["status"], elapsed)
            if logger.isEnabledFor(logging.INFO):
                _log(scope, state, elapsed)

    def _count(self, route: str, status: int, elapsed: float) -> None:
        requests = self._requests.get((route, status))
        if requests is None:
            requests = self._requests[route, status] = self.metrics.requests.labels(route=route, status=str(status))
        latency = self._latency.get(route)
        if latency is None:
            latency = self._latency[route] = self.metrics.latency.labels(route=route)
        requests.inc()
        latency.observe(elapsed)


def _log(scope: Scope, state: dict[str, Any], elapsed: float) -> None:
    """The line ``json.dumps(..., separators=(",", ":"))`` would write, at a fraction of its cost."""
    ids = request_id.fields()  # joins the line to its trace (issue 29)
    line = (
        f'{{"method":{_quote(scope["method"])},"path":{_quote(loggable(scope["path"]))},"status":{state["status"]},'
        f'"bytes":{state["bytes"]},"cache":{_quote(state["cache"])},"ms":{round(elapsed * 1000, 2)!r},'
        f'"request_id":{_quote(ids["request_id"])},"trace_id":"{ids["trace_id"]}","span_id":"{ids["span_id"]}"}}'
    )
    logger.handle(logger.makeRecord(logger.name, logging.INFO, "(access log)", 0, line, (), None))
