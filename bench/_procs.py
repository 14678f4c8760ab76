"""The benchmark's server processes: start one, read its CPU from ``/proc``, profile it with py-spy.

Each server is a fresh ``enlarger serve`` (or ``bench/http_server.py``, or any script taking
the same arguments) on a free port with an empty data directory, ready once ``/healthz``
answers; CPU is read per side (server process, its event-loop thread, this client) so the
table can say who spent what on the shared cores.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from _load import sync_get

BENCH = Path(__file__).resolve().parent
HTTP_SERVER = BENCH / "http_server.py"
QUEUE_SIZE = 256
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Cpu:
    """CPU seconds: server process, its main (event-loop) thread, this process, waited-for children."""

    server: float = 0.0
    loop: float = 0.0
    client: float = 0.0
    children: float = 0.0

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(
            self.server - other.server,
            self.loop - other.loop,
            self.client - other.client,
            self.children - other.children,
        )


def _proc_cpu(stat_path: Path) -> float:
    try:
        text = stat_path.read_text()
    except OSError:
        return 0.0
    fields = text[text.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def cpu_now(pid: int | None) -> Cpu:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    server = loop = 0.0
    if pid is not None:
        server = _proc_cpu(Path(f"/proc/{pid}/stat"))
        loop = _proc_cpu(Path(f"/proc/{pid}/task/{pid}/stat"))
    return Cpu(server, loop, own.ru_utime + own.ru_stime, kids.ru_utime + kids.ru_stime)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def metric(self, name: str) -> float:
        _, _, body = sync_get(self.port, "/metrics")
        total = 0.0
        for line in body.decode().splitlines():
            if line.startswith(name) and (line[len(name)] in " {"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def cache_counts(self) -> tuple[float, float]:
        return self.metric("enlarger_cache_hits_total"), self.metric("enlarger_cache_misses_total")

    def stop(self) -> None:
        stop(self.process, signal.SIGINT, 20)


def enlarger_command() -> list[str]:
    beside = Path(sys.executable).parent / "enlarger"
    found = str(beside) if beside.exists() else shutil.which("enlarger")
    if found is None:
        sys.exit("the enlarger command is not installed: run .venv/bin/pip install -e '.[dev]'")
    return [found, "serve"]


def stop(process: subprocess.Popen[bytes], sig: signal.Signals, seconds: float) -> None:
    """Ask ``process`` to stop with ``sig``; kill it if it has not exited within ``seconds``."""
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_healthy(
    process: subprocess.Popen[bytes], port: int, log: Path, seconds: float, ready: Callable[[], bool] = lambda: True
) -> None:
    """Return once the server answers /healthz (and ``ready()``); exit with its log if it dies or takes
    longer than ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            sys.exit(f"the server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            if ready() and sync_get(port, "/healthz", timeout=2)[0] == 200:
                return
        if time.monotonic() > deadline:
            sys.exit(f"the server did not answer /healthz within {seconds:g} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)


@contextlib.contextmanager
def running_server(kind: str, origin: Path, work: Path, label: str) -> Iterator[Server]:
    """A fresh server (empty data directory) on a free port, ready when /healthz answers."""
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix=f"data-{label}-", dir=work))
    log = work / f"server-{label}.log"
    if kind == "cli":
        base = enlarger_command()
    else:  # "app", or the path of a script taking the same arguments as bench/http_server.py
        base = [sys.executable, "-P", str(HTTP_SERVER if kind == "app" else Path(kind).resolve())]
    command = [*base, "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir), "--origin", str(origin)]
    env = {**os.environ, "ENLARGER_QUEUE_SIZE": str(QUEUE_SIZE)}
    with log.open("wb") as log_handle:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log_handle, env=env, cwd=work)
    server = Server(process, port, log)
    try:
        wait_healthy(process, port, log, 60)
        yield server
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@contextlib.contextmanager
def profiled(pid: int, out: Path | None, gil: bool) -> Iterator[None]:
    """Sample ``pid`` with py-spy (collapsed stacks in ``out``) while the block runs.

    ``gil``: keep only samples of threads holding the GIL. That is the hit path's scarce resource
    (one event loop plus helper threads, all Python), while misses are spent in libvips without it.
    """
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if out is None or not Path(spy).exists():
        if out is not None:
            print("note: py-spy not found (pip install py-spy); not profiling", file=sys.stderr)
        yield
        return
    command = [spy, "record", "--pid", str(pid), "--rate", "200", "--format", "raw", "--function", "--nonblocking"]
    if gil:
        command.append("--gil")
    spy_process = subprocess.Popen(
        [*command, "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(1.0)  # attach
    try:
        yield
    finally:
        stop(spy_process, signal.SIGINT, 60)


_WAITING = ("Condition.wait ", "Event.wait ")  # a thread parked in Python-level waits is idle
_PLUMBING = (
    "<module> ",
    "main (enlarger/cli.py",
    "_cmd_serve ",
    "run (uvicorn/main.py",
    "Server.run (uvicorn",
    "asyncio_run ",
    "Thread._bootstrap",
    "Thread.run ",
    "_worker (concurrent",
)


def profile_summary(path: Path, top: int = 24) -> str:
    """The heaviest frames of py-spy's collapsed stacks: inclusive (anywhere on the stack) and self.

    Samples parked in ``Condition.wait``/``Event.wait`` are dropped (idle pool threads); frames that
    are on every stack (the entry point, thread bootstrap) are left out of the inclusive list. A
    ``Runner.run`` self sample is time in C below the event loop: uvloop, httptools, socket calls.
    """
    if not path.exists():
        return f"(no profile at {path})"
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = idle = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f.strip() for f in stack.split(";") if f.strip()]
        if not frames or frames[-1].startswith(_WAITING):
            idle += count
            continue
        total += count
        for frame in set(frames):
            if not frame.startswith(_PLUMBING):
                inclusive[frame] += count
        leaf[frames[-1]] += count
    if not total:
        return "(empty profile)"
    lines = [f"{total} busy samples ({idle} idle-wait samples dropped); inclusive (anywhere on the stack):"]
    lines += [f"  {c / total:6.1%}  {frame}" for frame, c in inclusive.most_common(top)]
    lines.append("self (innermost frame):")
    lines += [f"  {c / total:6.1%}  {frame}" for frame, c in leaf.most_common(top // 2)]
    return "\n".join(lines)
