"""The one place where engine errors become HTTP responses.

Like Cloudflare, the status says what kind of failure it was, the ``Cf-Resized: err=9xxx``
header carries the precise code, and the body is one sentence a person can act on.
"""

from __future__ import annotations

from starlette.responses import PlainTextResponse, Response

from enlarger.errors import EnlargerError, OverloadedError


def error_response(error: EnlargerError, *, head: bool = False) -> Response:
    headers = {"Cf-Resized": f"err={error.code}", "Cache-Control": "no-store"}
    if isinstance(error, OverloadedError):
        headers["Retry-After"] = str(error.retry_after)
    body = f"{error.message}\n"
    if head:
        headers["Content-Length"] = str(len(body.encode()))
        return Response(b"", status_code=error.status, headers=headers, media_type="text/plain; charset=utf-8")
    return PlainTextResponse(body, status_code=error.status, headers=headers)
