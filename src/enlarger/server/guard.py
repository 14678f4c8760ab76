"""The one error wrapper every route family runs inside.

A typed :class:`~enlarger.errors.EnlargerError` is the client's (or the origin's) fault and is
rendered in the family's own form — plain text with ``Cf-Resized`` for image outputs, the v4
envelope for the API (both log it through :func:`~enlarger.server.errors.log_error`). Anything
else is a bug: it becomes a reportable 500 whose logged detail is the traceback, answered in
the same form, and the process keeps serving. An outage of the catalog or the storage
(:mod:`enlarger.server.outages`) is neither: it is answered 503 with ``Retry-After``.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Awaitable, Callable
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

from enlarger.errors import EnlargerError, ProcessingError
from enlarger.security.nul import refuse_nul
from enlarger.server.access_log import loggable
from enlarger.server.envelope import enveloped
from enlarger.server.errors import error_response
from enlarger.server.outages import outage_of

Endpoint = Callable[[Request], Awaitable[Response]]
#: How a route family writes an error as a response.
Render = Callable[[EnlargerError, Request], Response]


def plain(error: EnlargerError, request: Request) -> Response:
    """Image outputs: a one-line text body, the code in ``Cf-Resized`` (no body for HEAD)."""
    return error_response(error, head=request.method == "HEAD")


def guarded(endpoint: Endpoint, render: Render = plain) -> Endpoint:
    """``endpoint``, with every error it raises rendered by ``render``; a NUL in the path or query is
    refused before the endpoint runs (:mod:`enlarger.security.nul`)."""
    # the API's bad-request code, else Cloudflare's "missing/invalid HTTP request parameters"
    bad_request = 5400 if render is enveloped else 9424

    @functools.wraps(endpoint)
    async def wrapped(request: Request) -> Response:
        try:
            refuse_nul(request.scope["path"], "the URL path", code=bad_request)
            refuse_nul(unquote(request.scope["query_string"].decode("latin-1")), "the query string", code=bad_request)
            return await endpoint(request)
        except EnlargerError as error:
            return render(error, request)
        except Exception as error:  # noqa: BLE001 — an outage is answered 503, anything else is a bug
            outage = outage_of(error)
            if outage is not None:
                return render(outage, request)
            # a bug, not the client's fault: logged once, with its traceback, by render
            detail = f"{request.method} {loggable(request.url.path)}\n{traceback.format_exc()}"
            return render(ProcessingError("an internal error stopped this request", detail=detail), request)

    return wrapped
