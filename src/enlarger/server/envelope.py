"""Cloudflare's v4 envelope: how the images API and direct uploads answer, success or failure.

Every answer is ``{"result", "success", "errors", "messages"}``; a failure carries the typed
error's code and message in ``errors`` and its HTTP status, and is never cached.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from enlarger.errors import EnlargerError, OverloadedError
from enlarger.server.errors import log_error


def envelope(result: object, *, status: int = 200, result_info: dict[str, Any] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"result": result, "success": True, "errors": [], "messages": []}
    if result_info is not None:
        body["result_info"] = result_info
    return JSONResponse(body, status_code=status)


def failure(error: EnlargerError) -> JSONResponse:
    log_error(error)
    body = {"result": None, "success": False, "errors": [error.to_dict()], "messages": []}
    headers = {"Cache-Control": "no-store"}
    if isinstance(error, OverloadedError):  # busy, or a service we depend on is out: the client may retry
        headers["Retry-After"] = str(error.retry_after)
    return JSONResponse(body, status_code=error.status, headers=headers)


def enveloped(error: EnlargerError, _request: Request) -> Response:
    """How the API routes render errors (see :func:`enlarger.server.guard.guarded`)."""
    return failure(error)
