"""A server for the scaling and soak benchmarks: ``enlarger serve`` with N processes, pinned to cores.

Unlike ``_procs.running_server`` it takes any settings (as ``ENLARGER_*`` variables), pins the
whole process tree with ``taskset`` (workers inherit the affinity), and reads memory and CPU
summed over the supervisor and its workers from ``/proc``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from _load import sync_get
from _procs import CLK_TCK, enlarger_command, free_port, stop, wait_healthy

PAGE = os.sysconf("SC_PAGE_SIZE")


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _listeners(port: int) -> int:
    """Sockets listening on ``port`` (each worker has its own, SO_REUSEPORT), from /proc/net/tcp."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        if int(parts[1].split(":")[1], 16) == port and parts[3] == "0A":
            count += 1
    return count


@dataclass
class Group:
    """The supervisor (or the single server) and its workers."""

    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log: Path

    def pids(self) -> list[int]:
        return [self.process.pid, *_children(self.process.pid)]

    def rss_bytes(self) -> int:
        """Resident memory summed over every process of the server."""
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        return total

    def cpu_seconds(self) -> float:
        """CPU (user + system) summed over the server's live processes."""
        total = 0.0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                text = Path(f"/proc/{pid}/stat").read_text()
                fields = text[text.rfind(")") + 2 :].split()
                total += (int(fields[11]) + int(fields[12])) / CLK_TCK
        return total

    def metric(self, name: str) -> float:
        _, _, body = sync_get(self.port, "/metrics")
        total = 0.0
        for line in body.decode().splitlines():
            if line.startswith(name) and line[len(name)] in " {":
                total += float(line.rsplit(" ", 1)[1])
        return total


@contextlib.contextmanager
def running(
    origin: Path | str,
    work: Path,
    label: str,
    *,
    processes: int = 1,
    cores: str | None = None,
    settings: Mapping[str, object] | None = None,
    data_dir: Path | None = None,
) -> Iterator[Group]:
    """``enlarger serve`` on a free port (pinned to ``cores``, e.g. "0" or "0-1"), ready when all its workers listen."""
    port = free_port()
    fresh = data_dir is None
    data = data_dir or Path(tempfile.mkdtemp(prefix=f"data-{label}-", dir=work))
    log = work / f"server-{label}.log"
    command = [*enlarger_command(), "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data)]
    command += ["--origin", str(origin), "--processes", str(processes)]
    if cores is not None:
        command = ["taskset", "-c", cores, *command]
    env = {**os.environ, **{f"ENLARGER_{k.upper()}": str(v) for k, v in (settings or {}).items()}}
    with log.open("wb") as handle:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=handle, env=env, cwd=work)
    group = Group(process, port, data, log)
    try:
        wait_healthy(process, port, log, 120, ready=lambda: _listeners(port) == processes)
        yield group
    finally:
        stop(process, signal.SIGTERM, 90)
        if fresh:
            shutil.rmtree(data, ignore_errors=True)
