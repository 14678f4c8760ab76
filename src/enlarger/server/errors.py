"""Rendering engine errors as plain-text HTTP responses (the statuses and codes are declared in
:mod:`enlarger.errors`; this module only writes them out).

Like Cloudflare, the status says what kind of failure it was, the ``Cf-Resized: err=9xxx``
header carries the precise code, and the body is the error's public ``message``, one sentence a
person can act on. The internal ``detail`` (a decoder's own words) is logged as one JSON line,
never sent.
"""

from __future__ import annotations

import json
import logging

from starlette.responses import PlainTextResponse, Response

from enlarger.errors import EnlargerError, OutageError
from enlarger.server import request_id

logger = logging.getLogger("enlarger.server")


def log_error(error: EnlargerError) -> None:
    """One JSON line for an error worth keeping: one with a ``detail``, or one to ``report`` as a bug."""
    if error.detail is None and not error.report:
        return
    outage = isinstance(error, OutageError)
    line = {
        "error": type(error).__name__,
        "status": error.status,
        "code": error.code,
        "message": error.message,
        "detail": error.detail,
        **request_id.fields(),  # joins the line to the request's access line and trace (issue 29)
        **({"outage": True} if outage else {}),
    }
    level = logging.WARNING if outage else logging.ERROR if error.report else logging.INFO
    logger.log(level, json.dumps(line, ensure_ascii=False))


def error_response(error: EnlargerError, *, head: bool = False) -> Response:
    log_error(error)
    headers = {"Cf-Resized": f"err={error.code}", "Cache-Control": "no-store"}
    if error.retry_after is not None:  # overload (503), too many failed sign-ins (429)
        headers["Retry-After"] = str(error.retry_after)
    body = f"{error.message}\n"
    if head:
        headers["Content-Length"] = str(len(body.encode()))
        return Response(b"", status_code=error.status, headers=headers, media_type="text/plain; charset=utf-8")
    return PlainTextResponse(body, status_code=error.status, headers=headers)
