"""Several server processes on one port: the supervisor, the worker entry point, and each one's share.

One process serves with one event loop; past a few cores the event loop and the GIL, not
libvips, are the ceiling. ``enlarger serve --processes N`` (setting ``processes``) therefore runs
N worker processes, each a whole server (uvicorn, the app, its own thread pool and in-memory
hot layer), each listening on the port with ``SO_REUSEPORT``: the kernel spreads connections
over their sockets, so no process accepts for the others and a dead one takes none of the new
connections. The supervisor holds the port bound (not listening, so it receives nothing) for
its whole life, so no other program can take it while a worker restarts.

What must hold across processes is kept without a shared index or shared memory:

- **limits are split, not shared**: each worker gets its :class:`Share` of ``concurrency``,
  ``queue_size``, ``cache_max_bytes`` and ``cache_memory_bytes``; the parts sum to the
  configured totals, so memory and CPU stay bounded exactly, with no cross-process
  coordination on the request path and nothing to leak when a worker dies. The price: a worker
  whose part is full answers 503 even when another has room (connections are spread by hash,
  not by load); the client's retry (``Retry-After: 1``) most likely lands elsewhere.
- **the disk cache** is one directory: writes are atomic (temp file + rename), each worker
  bounds the entries it wrote, and identical misses are produced once through a per-key lock
  file (:meth:`enlarger.cache.DiskCache.claim`);
- **metrics** are summed over the workers through prometheus_client's multiprocess mode
  (:mod:`enlarger.server.metrics`).

The supervisor restarts a worker that dies (a worker that fails to start stops everything: a
configuration error would only fail again), and on SIGTERM or SIGINT lets every worker drain —
stop accepting, finish the requests in flight — before it exits.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from enlarger.settings import Settings, load_settings

logger = logging.getLogger("enlarger.server")

STARTUP_FAILURE = 3  # a worker's exit status when its app could not start (uvicorn's own code)
DRAIN_SECONDS = 60  # how long workers may take to finish their requests after SIGTERM
BACKLOG = 2048
_RESTART_DELAYS = (0.0, 0.5, 1.0, 2.0, 5.0, 10.0)  # after successive quick deaths of one worker
_STABLE_SECONDS = 30.0  # a worker that lived this long starts the delays over


@dataclass(frozen=True)
class Share:
    """This process's place among ``count`` server processes (``index`` from 0)."""

    index: int = 0
    count: int = 1

    def part(self, total: int, *, at_least: int = 0) -> int:
        """This process's part of ``total``: the parts of all processes sum to ``total`` (or to ``at_least`` each)."""
        base, extra = divmod(total, self.count)
        return max(at_least, base + (1 if self.index < extra else 0))


ALONE = Share()  # the only process


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port`` beside the other workers' (``SO_REUSEPORT``)."""
    sock = _bound(host, port)
    sock.listen(BACKLOG)
    sock.set_inheritable(False)
    return sock


def _bound(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _migrate(settings: Settings) -> None:
    """Bring the catalog's schema up to date once, before the workers open it side by side."""
    from enlarger.catalog.store import Catalog

    Catalog(settings.catalog_url).close()


def encode_settings(settings: Settings) -> str:
    """The settings for a worker's stdin; :func:`load_settings` reads every value back as it was."""
    values: dict[str, object] = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        values[f.name] = list(value) if isinstance(value, tuple) else str(value) if isinstance(value, Path) else value
    return json.dumps(values)


@dataclass
class _Worker:
    share: Share
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    quick_deaths: int = 0
    due: float = 0.0  # when a dead worker may be started again


class Supervisor:
    """Runs ``settings.process_count`` workers until SIGTERM/SIGINT; see the module docstring."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        count = settings.process_count
        self._workers = [_Worker(Share(i, count)) for i in range(count)]
        self._stop = threading.Event()
        self._metrics_dir = Path(tempfile.mkdtemp(prefix="enlarger-metrics-"))

    def run(self) -> int:
        """Serve until told to stop; the exit status (0, or 1 when a worker could not start)."""
        try:
            reserved = _bound(self.settings.host, self.settings.port)  # fails at once if the port is taken
        except OSError as exc:
            logger.error("cannot listen on %s:%s: %s", self.settings.host, self.settings.port, exc)
            shutil.rmtree(self._metrics_dir, ignore_errors=True)
            return 1
        try:
            _migrate(self.settings)
        except Exception:
            logger.exception("the catalog could not be opened")
            reserved.close()
            shutil.rmtree(self._metrics_dir, ignore_errors=True)
            return 1
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            return self._supervise()
        finally:
            self._drain()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            reserved.close()
            shutil.rmtree(self._metrics_dir, ignore_errors=True)

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self._stop.set()

    def _supervise(self) -> int:
        while not self._stop.is_set():
            now = time.monotonic()
            for worker in self._workers:
                process = worker.process
                if process is None:
                    if now >= worker.due:
                        self._start(worker)
                    continue
                status = process.poll()
                if status is None:
                    continue
                if status == STARTUP_FAILURE:
                    logger.error("worker %d could not start (exit %d); stopping", worker.share.index, status)
                    return 1
                self._buried(worker, status, now)
            self._stop.wait(0.1)
        return 0

    def _start(self, worker: _Worker) -> None:
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(self._metrics_dir)}
        command = [sys.executable, "-m", "enlarger.server.workers", str(worker.share.index), str(worker.share.count)]
        process = subprocess.Popen(command, stdin=subprocess.PIPE, env=env)
        assert process.stdin is not None
        process.stdin.write(encode_settings(self.settings).encode())
        process.stdin.close()
        worker.process = process
        worker.started = time.monotonic()

    def _buried(self, worker: _Worker, status: int, now: float) -> None:
        """A worker died: forget its live gauges and schedule its replacement."""
        from prometheus_client import multiprocess

        assert worker.process is not None
        pid = worker.process.pid
        multiprocess.mark_process_dead(pid, str(self._metrics_dir))  # type: ignore[no-untyped-call]
        worker.quick_deaths = 0 if now - worker.started > _STABLE_SECONDS else worker.quick_deaths + 1
        delay = _RESTART_DELAYS[min(worker.quick_deaths, len(_RESTART_DELAYS) - 1)]
        index = worker.share.index
        logger.warning("worker %d (pid %d) exited with %d; restarting in %.1f s", index, pid, status, delay)
        worker.process = None
        worker.due = now + delay

    def _drain(self) -> None:
        """SIGTERM every worker (each stops accepting and finishes its requests), then wait for them."""
        running = [w.process for w in self._workers if w.process is not None and w.process.poll() is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + DRAIN_SECONDS
        for process in running:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("worker pid %d did not drain in %.0f s; killing it", process.pid, DRAIN_SECONDS)
                process.kill()
                process.wait()


def _watch_parent(parent: int) -> None:
    """Stop this worker (gracefully) when the supervisor is gone, e.g. killed with SIGKILL."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


def worker_main(argv: list[str] | None = None) -> int:
    """A worker: settings as JSON on stdin, its share as arguments; serves until SIGTERM."""
    import importlib.util

    import uvicorn

    from enlarger.server.app import create_app, log_access_to_stderr
    from enlarger.server.limits import uvicorn_options
    from enlarger.server.memory import tune_memory

    parser = argparse.ArgumentParser(prog="enlarger.server.workers")
    parser.add_argument("index", type=int)
    parser.add_argument("count", type=int)
    args = parser.parse_args(argv)
    settings = load_settings(env={}, **json.loads(sys.stdin.read()))
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    log_access_to_stderr()
    tune_memory()
    try:
        sock = listening_socket(settings.host, settings.port)
        app = create_app(settings, share=Share(args.index, args.count))
    except Exception:  # a configuration or environment error: a restart would fail the same way
        logger.exception("worker %d could not start", args.index)
        return STARTUP_FAILURE
    config = uvicorn.Config(
        app,
        access_log=False,
        log_level="warning",
        **uvicorn_options(settings),  # httptools, with the request limits
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        timeout_graceful_shutdown=DRAIN_SECONDS,
    )
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    return 0 if server.started else STARTUP_FAILURE


if __name__ == "__main__":
    sys.exit(worker_main())
