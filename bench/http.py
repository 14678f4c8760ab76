"""Benchmark the HTTP service end to end over loopback: cache misses, cache hits, and the engine alone.

Phases (each server is a fresh ``enlarger serve`` subprocess with its own empty data directory and
``ENLARGER_QUEUE_SIZE=256``; the origin is a temporary directory holding copies of
``bench/corpus/photos/*.jpg``):

1. **engine, in-process**: the miss transformations run through ``enlarger.pipeline.transform`` on a
   thread pool of ``os.cpu_count()`` workers (the server's transform pool size) in a fresh
   subprocess, reading each source file per job like the server does. Run before the first and
   after every round of server miss runs; their mean is the reference throughput.
2. **miss**: a fresh server per client concurrency (``--concurrency``, default 4 and 8; ``--repeat``
   rounds); every URL is distinct (each photo × 6 widths × jpeg/webp), so every request is a
   transformation. The ratio server-miss-throughput / in-process-throughput is what HTTP, the
   source read, the cache write and the event loop cost on top of the engine (target ≥ 0.90).
3. **hit**: a few URLs are warmed, then hammered for ``--duration`` seconds by 64
   (``--hit-concurrency``) keep-alive connections in a closed loop (each connection sends its next
   request when the previous answer is in). Every response must be ``X-Enlarger-Cache: HIT``
   (checked per response by the Python clients, and through the ``/metrics`` counters for every
   client). Also: ``/healthz`` under the same load (what a no-op route costs: the framework's
   floor), one connection (unloaded latency), the same hit load through httpx and through ``wrk``
   (when installed) to show what the client costs, and open-loop runs at fixed request rates
   (``--hit-rate``; default 25, 50 and 75 % of the measured closed-loop throughput) whose latencies
   include queueing behind slow answers.

The client competes with the server for the same cores (2 on the reference machine): the table
reports the CPU each side spent per request (server: ``/proc/<pid>``, its event-loop thread's busy
share separately; client: ``getrusage``). The default client ("raw") is a minimal HTTP/1.1 keep-alive
GET over asyncio streams on uvloop: about 0.1 ms CPU per hit, some 40× less than httpx, whose own
overhead caps a hit run at a few hundred requests/s on 2 cores (``--miss-client httpx`` and the
``hit httpx`` row use ``httpx.AsyncClient``: http1, keep-alive, limits = concurrency).

On the hit target: in a closed loop Little's law ties latency to throughput (mean latency =
connections / throughput), so p99 ≤ 5 ms at 64 connections needs well over 12,800 requests/s from
one uvicorn event loop; the ``/healthz`` row shows what even a no-op route reaches. The open-loop
row says what latency a client sees at a given, sustainable request rate.

``--server app`` runs ``bench/http_server.py`` (the same app under uvicorn, without the JSON
access-log line ``enlarger serve`` writes per request) to measure that line's cost; ``--server
PATH`` runs any script taking the same arguments (a variant of the server). ``--profile DIR``
samples the server with py-spy (``pip install py-spy``) during the first miss run (all threads) and
the closed-loop raw hit run (threads holding the GIL), writes collapsed stacks into DIR and prints
the heaviest frames.

Build the corpus first: ``.venv/bin/python bench/corpus.py``. Then:
``.venv/bin/python bench/http.py [--quick] [--duration 10] [--concurrency 4,8] [--repeat N]
[--hit-concurrency 64] [--hit-rate R] [--server cli|app|PATH] [--profile DIR]``.

This file holds the workloads, the phases and the report; the clients and load drivers are in
``bench/_load.py``, the server processes, CPU accounting and profiling in ``bench/_procs.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from _load import (
    ACCEPT,
    Measured,
    drive_closed,
    drive_jobs,
    drive_open,
    percentile,
    run_async,
    run_wrk,
    sync_get,
)
from _procs import QUEUE_SIZE, Cpu, Server, cpu_now, profile_summary, profiled, running_server

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PHOTOS = BENCH / "corpus" / "photos"

WIDTHS = (320, 480, 640, 800, 960, 1200)
QUICK_WIDTHS = (320, 640, 1200)
FORMATS = ("jpeg", "webp")
QUICK_PHOTOS = 4
HIT_WIDTHS = (320, 640)
HIT_PHOTOS = 4
WARM_OPTIONS = ("width=100,format=jpeg", "width=100,format=webp")  # first-use costs, outside the timing
HIT_CONCURRENCY = 64  # default of --hit-concurrency
HIT_P99_TARGET_MS = 5.0
OPEN_LOOP_FRACTIONS = (0.25, 0.5, 0.75)  # of the closed-loop throughput, when --hit-rate is not given
RATIO_TARGET = 0.90


def unshadow_stdlib_http() -> None:
    """Remove ``bench/`` from ``sys.path``: this file, ``http.py``, would hide the standard ``http`` package.

    Must run before anything imports ``http`` (httpx, uvicorn, urllib.request, ...), which is why
    those imports are inside functions (here and in ``_load``/``_procs``, imported before it runs).
    """
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH]


# --------------------------------------------------------------------------------------------
# workloads


@dataclass(frozen=True)
class Job:
    source: str  # file name in the origin directory
    options: str

    @property
    def path(self) -> str:
        return f"/cdn-cgi/image/{self.options}/{self.source}"


def photos(quick: bool) -> list[Path]:
    found = sorted(p for p in PHOTOS.glob("*.jpg") if p.is_file())
    if not found:
        sys.exit("the corpus is missing: run .venv/bin/python bench/corpus.py first")
    if quick:
        by_size = sorted(found, key=lambda p: p.stat().st_size)
        step = max(1, len(by_size) // QUICK_PHOTOS)
        found = sorted(by_size[::step][:QUICK_PHOTOS])
    return found


def miss_jobs(quick: bool) -> list[Job]:
    """Every (width, format, photo): all distinct, interleaved so neighbours are different photos."""
    names = [p.name for p in photos(quick)]
    widths = QUICK_WIDTHS if quick else WIDTHS
    return [Job(name, f"width={w},format={fmt}") for w in widths for fmt in FORMATS for name in names]


def warm_jobs() -> list[Job]:
    name = photos(quick=True)[0].name
    return [Job(name, options) for options in WARM_OPTIONS]


def hit_jobs() -> list[Job]:
    by_size = sorted(photos(quick=False), key=lambda p: p.stat().st_size)
    chosen = [by_size[i * len(by_size) // HIT_PHOTOS] for i in range(HIT_PHOTOS)]
    return [Job(p.name, f"width={w},format=jpeg") for p in chosen for w in HIT_WIDTHS]


# --------------------------------------------------------------------------------------------
# reporting rows


@dataclass
class Row:
    workload: str
    client: str
    concurrency: str
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    server_cpu_ms: float | None  # per request
    loop_pct: float | None  # event-loop thread busy, % of one core
    client_cpu_ms: float | None  # per request
    responses: str

    @classmethod
    def of(cls, workload: str, client: str, concurrency: str, m: Measured, cpu: Cpu, own_client: bool) -> Row:
        lat = sorted(m.latencies)
        n = len(lat)
        statuses = " ".join(f"{s}×{c}" for s, c in sorted(m.statuses.items()))
        caches = " ".join(f"{k}×{c}" for k, c in sorted(m.caches.items()))
        client_cpu = cpu.client if own_client else cpu.children
        sent = m.sent or n
        span = m.span_s or m.wall_s
        return cls(
            workload,
            client,
            concurrency,
            n,
            n / m.wall_s if m.wall_s else 0.0,
            percentile(lat, 50) * 1000,
            percentile(lat, 99) * 1000,
            cpu.server / sent * 1000 if sent else None,
            cpu.loop / span * 100 if span else None,
            client_cpu / sent * 1000 if sent else None,
            f"{statuses}; {caches}" if caches else statuses,
        )


# --------------------------------------------------------------------------------------------
# phases


def phase_engine(origin: Path, quick: bool) -> tuple[Row, dict[str, float]]:
    """The miss transformations in a fresh subprocess through the engine, on a cpu_count() thread pool."""
    # as a script (not -P): its sibling modules must import; main() unshadows ``http`` first thing
    command = [sys.executable, str(Path(__file__).resolve()), "--engine-child", str(origin)]
    if quick:
        command.append("--quick")
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    m = Measured(wall_s=result["wall_s"], latencies=result["latencies"])
    m.statuses[200] = len(m.latencies)
    cpu = Cpu(server=result["cpu_s"])
    row = Row.of("miss: engine in-process", "-", f"{result['workers']} thr", m, cpu, own_client=True)
    row.client_cpu_ms = None
    row.loop_pct = None
    row.responses = "p50/p99 = service time per job"
    return row, result


def engine_child(origin: Path, quick: bool) -> int:
    """Run inside the --engine-child subprocess: print one JSON line."""
    from enlarger.pipeline import transform
    from enlarger.settings import load_settings

    settings = load_settings(env={"ENLARGER_QUEUE_SIZE": str(QUEUE_SIZE)})
    workers = settings.workers

    def one(job: Job) -> float:
        started = time.perf_counter()
        data = (origin / job.source).read_bytes()
        transform(data, job.options, accept=ACCEPT, settings=settings, timeout=settings.transform_timeout)
        return time.perf_counter() - started

    jobs = miss_jobs(quick)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="transform") as pool:
        list(pool.map(one, warm_jobs()))
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        latencies = list(pool.map(one, jobs))
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    print(json.dumps({"wall_s": wall, "latencies": latencies, "cpu_s": cpu, "workers": workers}))
    return 0


def phase_miss(
    server_kind: str, client: str, origin: Path, work: Path, quick: bool, concurrency: int, profile: Path | None
) -> Row:
    jobs = miss_jobs(quick)
    with running_server(server_kind, origin, work, f"miss-c{concurrency}") as server:
        for job in warm_jobs():
            status = sync_get(server.port, job.path, timeout=120)[0]
            assert status == 200, (status, job)
        before = cpu_now(server.process.pid)
        with profiled(server.process.pid, profile, gil=False):
            m = run_async(drive_jobs(client, server.port, [j.path for j in jobs], concurrency))
        cpu = cpu_now(server.process.pid) - before
    if m.statuses != Counter({200: len(jobs)}) or m.caches != Counter({"MISS": len(jobs)}):
        print(f"warning: miss run c{concurrency}: {dict(m.statuses)} {dict(m.caches)}", file=sys.stderr)
    return Row.of("miss", client, str(concurrency), m, cpu, own_client=True)


def check_hits(name: str, server: Server, before: tuple[float, float], requests: int) -> str:
    hits, misses = server.cache_counts()
    hit_delta, miss_delta = hits - before[0], misses - before[1]
    ok = miss_delta == 0 and hit_delta >= requests
    verdict = "ok" if ok else "NOT ALL HITS"
    if not ok:
        print(f"warning: {name}: /metrics saw {hit_delta:.0f} hits, {miss_delta:.0f} misses", file=sys.stderr)
    return f"/metrics: +{hit_delta:.0f} hits +{miss_delta:.0f} misses ({verdict})"


def phase_hits(
    server_kind: str,
    origin: Path,
    work: Path,
    duration: float,
    quick: bool,
    rates: Sequence[float],
    profile: Path | None,
    concurrency: int = HIT_CONCURRENCY,
) -> list[Row]:
    jobs = hit_jobs()
    paths = [j.path for j in jobs]
    rows: list[Row] = []
    with running_server(server_kind, origin, work, "hit") as server:
        for path in paths:
            sync_get(server.port, path, timeout=120)
            status, headers, _ = sync_get(server.port, path)
            assert status == 200 and headers.get("x-enlarger-cache") == "HIT", (path, status, headers)
        pid = server.process.pid

        def measure(
            workload: str, client: str, conc: int, run: Callable[[], Measured | None], hits: bool = True
        ) -> Measured | None:
            counts = server.cache_counts()
            before = cpu_now(pid)
            m = run()
            if m is None:
                return None
            cpu = cpu_now(pid) - before
            row = Row.of(workload, client, str(conc), m, cpu, own_client=client != "wrk")
            if not hits:
                rows.append(row)
                return m
            note = check_hits(f"{workload} {client}", server, counts, len(m.latencies))
            if client != "wrk" and set(m.caches) != {"HIT"}:
                note = f"NOT ALL HITS {dict(m.caches)}; {note}"
            row.responses = f"{row.responses.split(';')[0]}; {note}" if client == "wrk" else f"{row.responses}; {note}"
            rows.append(row)
            print(f"  {workload} {client} c{conc}: {row.rps:.0f} req/s, p99 {row.p99_ms:.2f} ms", file=sys.stderr)
            return m

        short = max(2.0, duration / 3)
        if not quick:
            measure("hit", "raw", 1, lambda: run_async(drive_closed("raw", server.port, paths, 1, short)))
        measure(
            "healthz (no-op route)",
            "raw",
            concurrency,
            lambda: run_async(drive_closed("raw", server.port, ["/healthz"], concurrency, short)),
            hits=False,
        )
        with profiled(pid, profile, gil=True):
            closed = measure(
                "hit",
                "raw",
                concurrency,
                lambda: run_async(drive_closed("raw", server.port, paths, concurrency, duration)),
            )
        if not quick:
            measure(
                "hit",
                "httpx",
                concurrency,
                lambda: run_async(drive_closed("httpx", server.port, paths, concurrency, duration)),
            )
        measure("hit", "wrk", concurrency, lambda: run_wrk(server.port, paths, concurrency, duration, work))
        if not rates:
            peak = len(closed.latencies) / closed.wall_s if closed else 400.0
            rates = [fraction * peak for fraction in ((0.5,) if quick else OPEN_LOOP_FRACTIONS)]
        for rate in rates:

            def open_loop(rate: float = rate) -> Measured:
                return run_async(drive_open("raw", server.port, paths, concurrency, rate, duration))

            measure(f"hit open-loop {rate:.0f}/s", "raw", concurrency, open_loop)
    return rows


# --------------------------------------------------------------------------------------------
# reporting


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def table(rows: Sequence[Row]) -> str:
    headers = [
        "workload",
        "client",
        "conc",
        "requests",
        "req/s",
        "p50 ms",
        "p99 ms",
        "srv CPU ms/req",
        "loop thr %",
        "client CPU ms/req",
        "responses",
    ]
    cells = [
        [
            r.workload,
            r.client,
            r.concurrency,
            str(r.requests),
            f"{r.rps:.1f}",
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
            _fmt(r.server_cpu_ms, ".2f"),
            _fmt(r.loop_pct, ".0f"),
            _fmt(r.client_cpu_ms, ".3f"),
            r.responses,
        ]
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    left = {0, 1, len(headers) - 1}

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.ljust(w) if i in left else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(c) for c in cells)])


def _version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_facts(server_kind: str) -> str:
    import pyvips

    from enlarger.settings import Settings

    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    wrk = shutil.which("wrk")
    wrk_version = "not installed"
    if wrk:
        done = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
        wrk_version = (done.stdout or done.stderr).split("[")[0].strip() or "installed"
    server = "enlarger serve (JSON access-log line per request to stderr → a file)"
    if server_kind == "app":
        server = "bench/http_server.py (create_app under uvicorn, access log silent)"
    elif server_kind != "cli":
        server = f"{server_kind} (a variant server script)"
    return "\n".join(
        [
            f"machine: {os.cpu_count()} CPUs ({affinity} usable), {model}; {platform.platform()}",
            f"python {platform.python_version()} ({platform.python_implementation()}); "
            f"libvips {pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)} (pyvips {_version('pyvips')}); "
            f"uvicorn {_version('uvicorn')}, starlette {_version('starlette')}, httptools {_version('httptools')}, "
            f"uvloop {_version('uvloop')}, httpx {_version('httpx')}; wrk: {wrk_version}",
            f"server: {server}; transform workers {Settings().workers} (os.cpu_count()), queue_size {QUEUE_SIZE}, "
            "one uvicorn process (one event loop)",
            "client: same machine, same cores, over loopback; 'raw' = minimal HTTP/1.1 keep-alive GET on asyncio "
            "streams + uvloop; 'httpx' = httpx.AsyncClient (http1, keep-alive, limits = concurrency); "
            "'wrk' = wrk -t1 (C, epoll)",
        ]
    )


# --------------------------------------------------------------------------------------------


def parse_concurrency(text: str) -> list[int]:
    values = [int(v) for v in text.split(",") if v.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("a comma-separated list of positive integers, e.g. 4,8")
    return values


def parse_rates(text: str) -> list[float]:
    values = [float(v) for v in text.split(",") if v.strip()]
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError("a comma-separated list of positive request rates, e.g. 500,1000")
    return values


def main(argv: Sequence[str] | None = None) -> int:
    unshadow_stdlib_http()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, help="seconds per hit run (default 10; 3 with --quick)")
    parser.add_argument(
        "--concurrency", type=parse_concurrency, default=[4, 8], help="client concurrencies of the miss runs (4,8)"
    )
    parser.add_argument("--quick", action="store_true", help="fewer photos and widths, shorter runs, fewer rows")
    parser.add_argument(
        "--server",
        default="cli",
        help="cli: enlarger serve (default); app: bench/http_server.py (no access log); or the path of a script "
        "taking http_server.py's arguments (to measure a variant of the server)",
    )
    parser.add_argument("--miss-client", choices=("raw", "httpx"), default="raw", help="client of the miss runs")
    parser.add_argument(
        "--hit-concurrency", type=int, default=HIT_CONCURRENCY, help="connections of the hit runs (default 64)"
    )
    parser.add_argument(
        "--hit-rate",
        type=parse_rates,
        default=[],
        help="request rate(s) of the open-loop hit runs, e.g. 500,1000 (default: 25/50/75 %% of the closed-loop max)",
    )
    parser.add_argument("--profile", type=Path, metavar="DIR", help="py-spy the server; collapsed stacks into DIR")
    parser.add_argument("--repeat", type=int, default=1, help="miss runs per concurrency (engine runs between)")
    parser.add_argument("--no-misses", action="store_true", help="skip the miss and engine phases")
    parser.add_argument("--no-hits", action="store_true", help="skip the hit phase")
    parser.add_argument("--engine-child", type=Path, metavar="ORIGIN", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.engine_child:
        return engine_child(args.engine_child, args.quick)
    duration = args.duration or (3.0 if args.quick else 10.0)
    if args.repeat < 1 or args.hit_concurrency < 1 or duration <= 0:
        parser.error("--repeat, --hit-concurrency and --duration must be positive")
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)

    print(machine_facts(args.server))
    print()
    rows: list[Row] = []
    engine_rows: list[Row] = []
    miss_rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="enlarger-bench-http-") as tmp:
        work = Path(tmp)
        origin = work / "origin"
        origin.mkdir()
        for photo in photos(quick=False):
            shutil.copy2(photo, origin / photo.name)
        if not args.no_misses:
            n = len(miss_jobs(args.quick))
            print(f"miss set: {n} distinct URLs (photos × widths × jpeg/webp)", file=sys.stderr)
            row, _ = phase_engine(origin, args.quick)
            engine_rows.append(row)
            rows.append(row)
            print(f"  engine in-process: {row.rps:.2f} req/s", file=sys.stderr)
            for repeat in range(args.repeat):
                for i, conc in enumerate(args.concurrency):
                    first = repeat == 0 and i == 0
                    profile = args.profile / f"miss-c{conc}.txt" if args.profile and first else None
                    row = phase_miss(args.server, args.miss_client, origin, work, args.quick, conc, profile)
                    miss_rows.append(row)
                    rows.append(row)
                    print(f"  miss c{conc}: {row.rps:.2f} req/s", file=sys.stderr)
                row, _ = phase_engine(origin, args.quick)
                engine_rows.append(row)
                rows.append(row)
                print(f"  engine in-process: {row.rps:.2f} req/s", file=sys.stderr)
        if not args.no_hits:
            profile = args.profile / f"hit-c{args.hit_concurrency}.txt" if args.profile else None
            rows += phase_hits(
                args.server, origin, work, duration, args.quick, args.hit_rate, profile, args.hit_concurrency
            )

    print(table(rows))
    print()
    verdicts: list[str] = []
    if engine_rows and miss_rows:
        engine_rps = statistics.fmean(r.rps for r in engine_rows)
        spread = max(r.rps for r in engine_rows) / min(r.rps for r in engine_rows) - 1
        engine_cpu = statistics.fmean(r.server_cpu_ms or 0 for r in engine_rows)
        print(
            f"engine in-process: {engine_rps:.2f} req/s, {engine_cpu:.1f} CPU ms/req (mean of {len(engine_rows)} "
            f"runs bracketing the server runs; fastest/slowest − 1 = {spread:.1%}: the machine's own noise)"
        )
        for conc in args.concurrency:
            runs = [r for r in miss_rows if r.concurrency == str(conc)]
            rps = statistics.fmean(r.rps for r in runs)
            cpu = statistics.fmean(r.server_cpu_ms or 0 for r in runs)
            ratio = rps / engine_rps
            mark = "PASS" if ratio >= RATIO_TARGET else "MISS"
            verdicts.append(
                f"miss c{conc}: {rps:.2f} req/s (mean of {len(runs)}); server/in-process = {ratio:.3f} "
                f"(target ≥ {RATIO_TARGET}) {mark}; server CPU {cpu:.1f} ms/req vs engine {engine_cpu:.1f} "
                f"({cpu - engine_cpu:+.1f} ms/req for HTTP, source read, cache write, event loop)"
            )
    hit_rows = [r for r in rows if r.workload == "hit" and r.concurrency == str(args.hit_concurrency)]
    for r in hit_rows:
        mark = "PASS" if r.p99_ms <= HIT_P99_TARGET_MS else "MISS"
        server_cores = (r.server_cpu_ms or 0) * r.rps / 1000
        cores = f"CPU: server {server_cores:.2f} cores, client {(r.client_cpu_ms or 0) * r.rps / 1000:.2f} cores"
        verdicts.append(
            f"hit c{r.concurrency} {r.client}: p99 {r.p99_ms:.2f} ms (target ≤ {HIT_P99_TARGET_MS} ms) {mark}; "
            f"Little's law mean at this throughput: {args.hit_concurrency / r.rps * 1000:.1f} ms; {cores}"
        )
    for r in rows:
        if r.workload.startswith("healthz"):
            verdicts.append(
                f"{r.workload} c{r.concurrency}: {r.rps:.0f} req/s, p99 {r.p99_ms:.2f} ms: the most this server "
                "stack does per second with every request a no-op"
            )
        if r.workload.startswith("hit open-loop"):
            mark = "PASS" if r.p99_ms <= HIT_P99_TARGET_MS else "MISS"
            verdicts.append(f"{r.workload}: p99 {r.p99_ms:.2f} ms (target ≤ {HIT_P99_TARGET_MS} ms) {mark}")
    print("\n".join(verdicts))
    if args.profile:
        for name in ("miss-c", "hit-c"):
            for path in sorted(args.profile.glob(f"{name}*.txt")):
                print()
                print(f"profile {path}:")
                print(profile_summary(path))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
