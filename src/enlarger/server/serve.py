"""Serving the app: one process, one process with the binding's listener beside it, or N workers.

All three ways run uvicorn with one configuration (:func:`uvicorn_config`: httptools, uvloop
where installed, no uvicorn access log since the app writes its own), so a choice made for one
cannot silently miss another; before this module the ``binding_listen`` path ran without uvloop.
:mod:`enlarger.server.app` only builds the app, and :mod:`enlarger.server.workers` only supervises
processes: this module is the one that imports both.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import logging
import os
import sys
import threading
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from enlarger.server.app import create_app
from enlarger.server.binding import listen_address
from enlarger.server.limits import uvicorn_options
from enlarger.server.memory import tune_memory
from enlarger.server.workers import (
    DRAIN_SECONDS,
    STARTUP_FAILURE,
    Share,
    Supervisor,
    listening_socket,
    watch_parent,
)
from enlarger.settings import Settings, SettingsError, load_settings

logger = logging.getLogger("enlarger.server")
LOOP = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"


def uvicorn_config(app: ASGIApp, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """How every listener of Enlarger runs ``app`` (``overrides``: another address, no lifespan, a drain time)."""
    values: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "access_log": False,
        "log_level": "warning",
        "loop": LOOP,
        **uvicorn_options(settings),  # httptools, with the request limits (server/limits.py)
        # HTTPS on the main listener (and each worker's) when tls_cert/tls_key are set
        "ssl_certfile": settings.tls_cert or None,
        "ssl_keyfile": settings.tls_key or None,
    }
    return uvicorn.Config(app, **{**values, **overrides})


def servers(main: ASGIApp, settings: Settings) -> list[uvicorn.Server]:
    """The main listener and, with ``binding_listen``, the binding's beside it (one process, one
    event loop: they share the admission control, fetcher and limits; the main app's lifespan runs both)."""
    found = [uvicorn.Server(uvicorn_config(main, settings))]
    inner = main
    while not hasattr(inner, "state") and hasattr(inner, "app"):
        inner = inner.app  # the Starlette app inside the request context and the access log
    binding_app: ASGIApp | None = getattr(getattr(inner, "state", None), "binding", None)
    if settings.binding_listen and binding_app is not None:
        host, port = listen_address(settings.binding_listen)
        found.append(
            uvicorn.Server(
                uvicorn_config(
                    binding_app, settings, host=host, port=port, lifespan="off", ssl_certfile=None, ssl_keyfile=None
                )
            )
        )
    return found


def log_access_to_stderr() -> None:
    """Write the access log's JSON lines to stderr (``enlarger serve`` and each of its workers)."""
    access = logging.getLogger("enlarger.access")
    access.addHandler(logging.StreamHandler(sys.stderr))
    access.setLevel(logging.INFO)
    access.propagate = False


def run(settings: Settings) -> int:
    """Serve ``settings``' app until stopped; returns the exit status.

    With ``processes`` above 1, a :class:`Supervisor` runs that many worker processes instead. A
    signal stops every listener (uvicorn passes it on once it has stopped).
    """
    if settings.process_count > 1:
        if settings.binding_listen:
            raise SettingsError(
                "binding_listen is served by one process: set processes=1, or run the binding on its own instance"
            )
        return Supervisor(settings).run()
    tune_memory()
    found = servers(create_app(settings), settings)

    async def together() -> None:
        await asyncio.gather(*(server.serve() for server in found))

    with asyncio.Runner(loop_factory=found[0].config.get_loop_factory()) as runner:
        runner.run(together())
    return 0 if all(server.started for server in found) else STARTUP_FAILURE


def worker_main(argv: list[str] | None = None) -> int:
    """A worker: settings as JSON on stdin, its share as arguments; serves until SIGTERM."""
    parser = argparse.ArgumentParser(prog="enlarger.server.serve")
    parser.add_argument("index", type=int)
    parser.add_argument("count", type=int)
    args = parser.parse_args(argv)
    settings = load_settings(env={}, **json.loads(sys.stdin.read()))
    threading.Thread(target=watch_parent, args=(os.getppid(),), daemon=True).start()
    log_access_to_stderr()
    tune_memory()
    try:
        sock = listening_socket(settings.host, settings.port)
        app = create_app(settings, share=Share(args.index, args.count))
    except Exception:  # a configuration or environment error: a restart would fail the same way
        logger.exception("worker %d could not start", args.index)
        return STARTUP_FAILURE
    server = uvicorn.Server(uvicorn_config(app, settings, timeout_graceful_shutdown=DRAIN_SECONDS))
    server.run(sockets=[sock])
    return 0 if server.started else STARTUP_FAILURE


if __name__ == "__main__":
    sys.exit(worker_main())
