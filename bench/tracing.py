"""What tracing costs a cache hit: the ASGI app driven in-process, tracing off and on, interleaved.

A hit is the request that must cost next to nothing (``bench/http.py``'s hit phase measures it
over HTTP); here the same app is called directly through ASGI, without sockets or an HTTP parser,
so the few microseconds the request context, the access-log ids and the spans add are not drowned
by the client and the kernel. Each round runs ``--requests`` hits per mode; the modes alternate
round by round in one process (a busy machine slows them alike), and the report gives each mode's
median CPU time per request over the rounds (the process's CPU time: every thread, the span
exporter's included).

Modes: ``off`` (no ``OTEL_*`` variable: what every untraced server runs), ``on`` (OTLP/HTTP to a
receiver on loopback that discards what it gets, every request sampled: two spans per hit, a
server span and ``cache read``, exported by the SDK's batch thread in this process), ``ratio``
(the same with ``OTEL_TRACES_SAMPLER=traceidratio`` at 1 %: what a busy server would run), ``bare``
(the ``off`` app without its outermost layer, the request-id middleware: what that layer costs,
measured in the same process). The access log is written (to a discarded stream) as ``enlarger
serve`` does. Last, the price of one disabled ``tracing.span`` block (the hit path has one, around
the cache read) is timed on its own.

To compare with the code before tracing existed, run the same script against that checkout's
``src`` with ``--modes off`` (it then finds no :mod:`enlarger.tracing` and runs ``off`` only), in
alternation with this one::

    PYTHONPATH=OLD/src python -P bench/tracing.py --modes off
    PYTHONPATH=src python -P bench/tracing.py --modes off,on
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import io
import logging
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

URL = "/cdn-cgi/image/width=320,format=webp/photo.jpg"


def _sink() -> str:
    """An OTLP/HTTP endpoint on loopback that answers 200 and drops the spans."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


async def _hits(app: Any, count: int) -> float:
    """CPU seconds of the process (every thread: the span exporter's too) per hit over ``count``
    sequential hits, each of which must be a 200 HIT. CPU time, not wall time: on a machine
    shared with other work, waiting for a core is not the hit's cost."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": URL,
        "raw_path": URL.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"accept", b"image/avif,image/webp,*/*"), (b"user-agent", b"bench")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    answers: list[tuple[int, bool]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answers.append((message["status"], (b"x-enlarger-cache", b"HIT") in message["headers"]))

    started = time.process_time()
    for _ in range(count):
        await app(dict(scope), receive, send)
    elapsed = time.process_time() - started
    assert all(answer == (200, True) for answer in answers[-count:]), answers
    return elapsed / count


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", default="off,bare,on,ratio", help="comma-separated: off, bare, on, ratio")
    parser.add_argument("--requests", type=int, default=2000, help="hits per mode and round")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    modes = args.modes.split(",")
    traceable = importlib.util.find_spec("enlarger.tracing") is not None
    if not traceable:
        modes = ["off"]
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            del os.environ[name]
    access = logging.getLogger("enlarger.access")  # written and discarded, as `enlarger serve` writes it
    access.addHandler(logging.StreamHandler(io.StringIO()))
    access.setLevel(logging.INFO)
    access.propagate = False
    endpoint = _sink()

    import pyvips

    from enlarger.server.app import create_app
    from enlarger.settings import Settings

    with tempfile.TemporaryDirectory() as work:
        origin = Path(work) / "origin"
        origin.mkdir()
        photo = (pyvips.Image.xyz(1600, 1200)[0] * 255 / 1600).cast("uchar")
        (origin / "photo.jpg").write_bytes(photo.jpegsave_buffer(Q=90))
        apps: dict[str, Any] = {}
        loop = asyncio.new_event_loop()
        for mode in [m for m in modes if m != "bare"]:  # building an app configures tracing: build, then switch
            _environ(mode, endpoint)
            apps[mode] = app = create_app(Settings(data_dir=Path(work) / f"data-{mode}", origin=str(origin)))
            _environ("off", endpoint)
            with contextlib.suppress(AssertionError):
                loop.run_until_complete(_hits(app, 1))  # the miss that fills the cache
        if "bare" in modes:
            apps["bare"] = apps["off"].app  # RequestContext(AccessLog(...)).app: the access log and the routes
        results: dict[str, list[float]] = {mode: [] for mode in modes}
        for round_ in range(args.rounds + 1):  # round 0 warms (the miss, the memos) and is not counted
            for mode in modes if round_ % 2 == 0 else modes[::-1]:
                if traceable:
                    _switch("off" if mode == "bare" else mode, endpoint)
                per_hit = loop.run_until_complete(_hits(apps[mode], args.requests))
                if round_:
                    results[mode].append(per_hit)
        loop.close()
    label = "tracing available" if traceable else "before tracing"
    for mode, values in results.items():
        median = statistics.median(values) * 1e6
        low, high = min(values) * 1e6, max(values) * 1e6
        print(f"{label:18} {mode:4} {median:8.1f} µs CPU/hit (median of {len(values)} rounds; {low:.1f}–{high:.1f})")
    if traceable:
        print(f"one disabled tracing.span block: {_noop_span() * 1e9:.0f} ns")
    return 0


def _noop_span(count: int = 1_000_000) -> float:
    """Seconds per ``with tracing.span(...)`` block with tracing off (the loop's own cost removed)."""
    from enlarger import tracing

    tracing.shutdown()
    started = time.process_time()
    for _ in range(count):
        with tracing.span("cache read"):
            pass
    spent = time.process_time() - started
    started = time.process_time()
    for _ in range(count):
        pass
    return (spent - (time.process_time() - started)) / count


def _environ(mode: str, endpoint: str) -> None:
    """The ``OTEL_*`` variables of ``mode``."""
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"):
        os.environ.pop(name, None)
    if mode != "off":
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    if mode == "ratio":
        os.environ["OTEL_TRACES_SAMPLER"], os.environ["OTEL_TRACES_SAMPLER_ARG"] = "traceidratio", "0.01"


def _switch(mode: str, endpoint: str) -> None:
    """Turn the process's tracing to ``mode`` (the apps share it; built ones keep their parts)."""
    from enlarger import tracing

    _environ(mode, endpoint)
    tracing.configure()
    _environ("off", endpoint)


if __name__ == "__main__":
    raise SystemExit(main())
