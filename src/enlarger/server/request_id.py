"""The ids every log line of a request carries: its request id, trace id and span id.

Set by :class:`enlarger.server.request_context.RequestContext` for the request being served (a
context variable: it follows the request into worker threads); read by the access log and the error
log line (:func:`enlarger.server.errors.log_error`).
"""

from __future__ import annotations

import contextvars
from typing import NamedTuple

from enlarger import tracing


class Current(NamedTuple):
    """The ids of the request being served (trace and span: the caller's, when tracing is off).
    A tuple: one is made per request, on the hit path."""

    request_id: str
    trace_id: str = ""
    span_id: str = ""


CURRENT: contextvars.ContextVar[Current | None] = contextvars.ContextVar("enlarger_request", default=None)


def fields() -> dict[str, str]:
    """``request_id``, ``trace_id`` and ``span_id`` of the current request (empty outside one)."""
    current = CURRENT.get()
    if current is None:
        return {"request_id": "", "trace_id": "", "span_id": ""}
    if tracing.ENABLED:
        trace_id, span_id = tracing.ids()  # the innermost span the line was written under
        return {"request_id": current.request_id, "trace_id": trace_id, "span_id": span_id}
    return {"request_id": current.request_id, "trace_id": current.trace_id, "span_id": current.span_id}
