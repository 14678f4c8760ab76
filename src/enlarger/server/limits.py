"""Limits on what a client may send and how slowly, enforced in the HTTP protocol itself.

uvicorn's httptools protocol reads request heads of any size and count, and waits forever for a
head or a body that never completes (slowloris); a proxy-less deployment needs those bounded
before any application code runs. :func:`uvicorn_options` gives uvicorn a subclass of its
protocol that

- counts the bytes of each request head as they arrive and refuses one over ``max_header_bytes``
  with 431 before feeding the rest to the parser (so the parser's work stays bounded too), and
  more than ``max_header_count`` fields with 431;
- closes a connection whose head is not complete ``header_timeout`` seconds after it opened (or
  after the request's first byte on a kept-alive connection), answering 408;
- closes a connection whose body goes ``body_timeout`` seconds without a byte while the
  application waits for it (408 when no response has started) — not while reading is paused
  because the application is busy;
- closes idle kept-alive connections after ``keep_alive_timeout`` (uvicorn's own timer).

A refusal is answered on the connection and logged as one warning line; the process serves on.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from enlarger.settings import Settings

logger = logging.getLogger("enlarger.server")

_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


class _Refused(httptools.HttpParserError):
    """Raised from a parser callback to stop parsing a request the limits refuse."""


class LimitedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of one :class:`Settings` (see the module)."""

    max_header_bytes = 64 * 1024
    max_header_count = 100
    header_timeout = 10.0
    body_timeout = 30.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._refusal: tuple[int, str] | None = None
        self._head_bytes = 0
        self._head_count = 0
        self._in_head = True  # the bytes arriving now are a request head
        self._phase: Literal["head", "body", "idle"] = "head"
        self._since = self.loop.time()  # when the phase began, or the last body byte came
        self._timer: asyncio.TimerHandle | None = self.loop.call_later(self.header_timeout, self._check)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._in_head:
            super().data_received(data)
            return
        room = self.max_header_bytes - self._head_bytes
        head, rest = (data, b"") if len(data) <= room else (data[:room], data[room:])
        self._head_bytes += len(head)
        super().data_received(head)
        if not rest or self.transport.is_closing():
            return
        if self._in_head:  # the head goes on past the limit: refuse before parsing any more of it
            self._refuse(431, f"the request head is over {self.max_header_bytes:,} bytes")
            return
        self.data_received(rest)  # the body (or a pipelined request, counted afresh)

    # parser callbacks
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_count = True, 0
        if self._phase == "idle":  # a kept-alive connection's next request: its head is timed too
            self._phase, self._since = "head", self.loop.time()
            if self._timer is None:
                self._timer = self.loop.call_later(self.header_timeout, self._check)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_count += 1
        if self._head_count > self.max_header_count:
            self._refusal = (431, f"the request has more than {self.max_header_count} header fields")
            raise _Refused(self._refusal[1])
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._phase, self._since = "body", self.loop.time()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._since = self.loop.time()
        super().on_body(body)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._phase = "idle"  # the timer, when it fires, lets itself go
        self._in_head, self._head_bytes = True, 0  # what follows is the next request's head

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._phase == "head":  # the next request has begun: its head timer governs, not keep-alive's
            self._unset_keepalive_if_required()

    def send_400_response(self, msg: str) -> None:
        """The parser stopped: with our refusal, answer it instead of uvicorn's 400."""
        if self._refusal is None:
            super().send_400_response(msg)
            return
        self._refuse(*self._refusal)

    # one timer per connection, re-armed only when it fires (no per-request timer churn)
    def _check(self) -> None:
        self._timer = None
        if self._phase == "idle" or self.transport.is_closing():
            return
        now = self.loop.time()
        if self._phase == "body" and self.flow.read_paused:  # the application is busy, not the client slow
            self._since = now
        limit = self.header_timeout if self._phase == "head" else self.body_timeout
        remaining = self._since + limit - now
        if remaining > 0:
            self._timer = self.loop.call_later(remaining, self._check)
        elif self._phase == "head":
            self._refuse(408, f"the request head did not arrive within {self.header_timeout:g} seconds")
        else:
            self._refuse(408, f"the request body stalled for {self.body_timeout:g} seconds")

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _refuse(self, status: int, reason: str) -> None:
        """Answer ``status`` when no response is under way, then close the connection."""
        self._stop_timer()
        if self.transport.is_closing():
            return
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "?"
        logger.warning("refused a request from %s with %d: %s", client, status, reason)
        cycle = self.cycle  # in the head phase: the previous request's, if any
        answer = cycle is None or (cycle.response_complete if self._phase == "head" else not cycle.response_started)
        if answer:
            body = reason.encode() + b"\n"
            self.transport.write(
                b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n"
                b"connection: close\r\n\r\n%s" % (status, _REASONS[status], len(body), body)
            )
        if cycle is not None and not cycle.response_complete:  # the application sees a disconnect
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()


def protocol(settings: Settings) -> type[LimitedHttpTools]:
    """The protocol class uvicorn instantiates per connection, with ``settings``' limits."""
    return type(
        "LimitedHttpTools",
        (LimitedHttpTools,),
        {
            "max_header_bytes": settings.max_header_bytes,
            "max_header_count": settings.max_header_count,
            "header_timeout": settings.header_timeout,
            "body_timeout": settings.body_timeout,
        },
    )


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The ``uvicorn.Config`` keywords that apply the request limits (every listener uses them)."""
    return {"http": protocol(settings), "timeout_keep_alive": settings.keep_alive_timeout}
