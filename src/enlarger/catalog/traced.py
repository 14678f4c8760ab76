"""Catalog statements as trace spans: SQLAlchemy's cursor events, hooked only when tracing is on."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from enlarger import tracing

_SPANS = "enlarger_spans"  # per-connection stack of open statement spans (in Connection.info)


def watch(engine: Engine) -> None:
    """One ``catalog <VERB>`` span per statement ``engine`` runs, under whatever span is current
    (the catalog is called from worker threads that carry the request's context)."""
    system = engine.dialect.name

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, _cursor: Any, statement: str, _parameters: Any, _context: Any, _many: bool) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
        span = tracing.span(f"catalog {verb}", {"db.system": system, "db.statement": statement})
        span.__enter__()
        conn.info.setdefault(_SPANS, []).append(span)

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, *_args: Any) -> None:
        _close(conn, None)

    @event.listens_for(engine, "handle_error")
    def _failed(context: Any) -> None:
        if context.connection is not None:
            _close(context.connection, context.original_exception)


def _close(conn: Any, error: BaseException | None) -> None:
    spans: list[AbstractContextManager[Any]] = conn.info.get(_SPANS, [])
    if spans:
        span = spans.pop()
        if error is None:
            span.__exit__(None, None, None)
        else:
            span.__exit__(type(error), error, error.__traceback__)
