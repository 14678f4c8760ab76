"""One structured (JSON) access-log line and the request metrics, per request.

A pure ASGI middleware: it sees the status and the bytes actually sent, costs no extra
buffering, and works for every route including errors.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from enlarger.server.metrics import Metrics

logger = logging.getLogger("enlarger.access")


def route_of(path: str) -> str:
    if path.startswith("/cdn-cgi/image/"):
        return "transform"
    return path.strip("/") if path in ("/healthz", "/readyz", "/metrics") else "other"


class AccessLog:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

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
            route = route_of(scope["path"])
            self.metrics.requests.labels(route=route, status=str(state["status"])).inc()
            self.metrics.latency.labels(route=route).observe(elapsed)
            if logger.isEnabledFor(logging.INFO):
                logger.info(
                    json.dumps(
                        {
                            "method": scope["method"],
                            "path": scope["path"],
                            "status": state["status"],
                            "bytes": state["bytes"],
                            "cache": state["cache"],
                            "ms": round(elapsed * 1000, 2),
                        },
                        separators=(",", ":"),
                    )
                )
