"""Throughput against cores: the server pinned (``taskset``) to 1, 2, … cores, for misses and for hits.

For each core count C the server runs as ``enlarger serve --processes C`` with ``concurrency``
C (one transformation thread per process), pinned to cores 0..C-1. With ``--compare-single``
the single-process server (one event loop, C threads) runs on the same cores too, to show what
the processes add. Each run is a fresh server with an empty cache.

- **miss**: every URL distinct (each corpus photo × widths), ``2 × C`` connections, each path once;
- **hit**: a few URLs warmed, then a closed loop of 32 keep-alive connections for ``--duration`` s.

The load generator runs on the cores the server does not get when there are any (on a 2-core
machine: core 1 at C=1; at C=2 it shares both cores with the server, so the C=2 figure is a
floor). It prints req/s, p50/p99, server CPU per request, the cores the server actually kept
busy (req/s × CPU per request: well below C means something else — the client, other jobs on a
shared machine, or the server's own serial part — held it back), the scaling factor against
C=1 and the efficiency (factor ÷ C); the curve "bends" at the first C whose efficiency falls
below 0.8.

Build the corpus first (``bench/corpus.py``). Run:
``.venv/bin/python bench/scaling.py [--cores 1,2] [--duration 10] [--quick] [--compare-single]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from _cluster import Group, running
from _load import Measured, drive_closed, drive_jobs, percentile, run_async, sync_get

BENCH = Path(__file__).resolve().parent
PHOTOS = BENCH / "corpus" / "photos"
WIDTHS = (480, 640, 800, 960, 1100, 1280)
QUICK_WIDTHS = (640, 960)
HIT_PATHS = 8
HIT_CONNECTIONS = 32
BEND = 0.8  # efficiency below which the curve is said to bend


@dataclass
class Row:
    kind: str
    cores: int
    processes: int
    rate: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float
    errors: int


def _cpu_range(count: int) -> str:
    return "0" if count == 1 else f"0-{count - 1}"


def _client_cores(count: int) -> set[int] | None:
    rest = set(range(count, os.cpu_count() or 1))
    return rest or None


def _measure(
    kind: str, group: Group, paths: Sequence[str], connections: int, duration: float
) -> tuple[Measured, float]:
    before = group.cpu_seconds()
    if kind == "miss":
        m = run_async(drive_jobs("raw", group.port, paths, connections))
    else:
        for path in paths:
            sync_get(group.port, path)
        m = run_async(drive_closed("raw", group.port, paths, connections, duration))
    return m, group.cpu_seconds() - before


def _run(kind: str, cores: int, processes: int, origin: Path, work: Path, args: argparse.Namespace) -> Row:
    names = sorted(p.name for p in PHOTOS.glob("*.jpg"))
    widths = QUICK_WIDTHS if args.quick else WIDTHS
    if kind == "miss":
        paths = [f"/cdn-cgi/image/width={w},format=jpeg/{n}" for w in widths for n in names]
        connections = 2 * cores
    else:
        hot = zip(widths * HIT_PATHS, names[:HIT_PATHS], strict=False)
        paths = [f"/cdn-cgi/image/width={w},format=jpeg/{n}" for w, n in hot]
        connections = HIT_CONNECTIONS
    settings = {"concurrency": cores, "queue_size": 256}
    label = f"{kind}-{cores}c-{processes}p"
    with running(origin, work, label, processes=processes, cores=_cpu_range(cores), settings=settings) as group:
        m, cpu = _measure(kind, group, paths, connections, args.duration)
    lat = sorted(m.latencies)
    errors = sum(n for status, n in m.statuses.items() if status != 200)
    return Row(
        kind,
        cores,
        processes,
        len(lat) / m.wall_s,
        percentile(lat, 50) * 1000,
        percentile(lat, 99) * 1000,
        cpu / max(1, m.sent) * 1000,
        errors,
    )


def report(rows: list[Row]) -> str:
    lines = [
        f"{'kind':5} {'cores':>5} {'procs':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'cpu ms/req':>10} {'cores used':>10} {'errors':>6} {'factor':>7} {'effic.':>6}"
    ]
    for row in rows:
        base = next((r for r in rows if r.kind == row.kind and r.cores == 1 and r.processes == 1), None)
        factor = row.rate / base.rate if base else float("nan")
        lines.append(
            f"{row.kind:5} {row.cores:>5} {row.processes:>5} {row.rate:>9.1f} {row.p50_ms:>8.1f} {row.p99_ms:>8.1f} "
            f"{row.cpu_ms:>10.2f} {row.rate * row.cpu_ms / 1000:>10.2f} {row.errors:>6} {factor:>7.2f} "
            f"{factor / row.cores:>6.2f}"
        )
    for kind in ("miss", "hit"):
        curve = [r for r in rows if r.kind == kind and r.processes == r.cores]
        base = next((r for r in curve if r.cores == 1), None)
        if base is None:
            continue
        bent = next((r for r in curve if r.rate / base.rate / r.cores < BEND), None)
        where = f"bends at {bent.cores} cores" if bent else f"no bend up to {max(r.cores for r in curve)} cores"
        lines.append(f"{kind}: {where} (efficiency < {BEND} = bent)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cores", default="1,2", help="core counts to pin the server to (default 1,2)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of each hit run")
    parser.add_argument("--quick", action="store_true", help="fewer miss URLs")
    parser.add_argument("--compare-single", action="store_true", help="also one process with C threads")
    args = parser.parse_args(argv)
    if not PHOTOS.is_dir():
        sys.exit("no corpus: run bench/corpus.py first")
    counts = [int(c) for c in args.cores.split(",")]
    if max(counts) > (os.cpu_count() or 1):
        sys.exit(f"this machine has {os.cpu_count()} cores")
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} cores, Python {platform.python_version()}")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="enlarger-scaling-") as tmp:
        work = Path(tmp)
        for kind in ("miss", "hit"):
            for cores in counts:
                client = _client_cores(cores)
                if client is not None:
                    os.sched_setaffinity(0, client)
                else:
                    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
                for processes in sorted({cores, 1} if args.compare_single else {cores}):
                    row = _run(kind, cores, processes, PHOTOS, work, args)
                    rows.append(row)
                    print(f"  {kind} on {cores} core(s), {processes} process(es): {row.rate:.1f} req/s", flush=True)
    print()
    print(report(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
