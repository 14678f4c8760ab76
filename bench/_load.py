"""The benchmark's clients and load drivers: what sends requests and times the answers.

A minimal keep-alive HTTP/1.1 client over asyncio streams (``RawConnection``: about 0.1 ms CPU
per hit, some 40x less than httpx), httpx for comparison, ``wrk`` when installed, and three
drivers: each path once (``drive_jobs``), a closed loop (``drive_closed``) and a fixed request
rate (``drive_open``). Nothing here imports the standard ``http`` package at module level:
``bench/http.py`` shadows it while ``bench/`` is on ``sys.path``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import shutil
import socket
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

ACCEPT = "image/avif,image/webp,image/*,*/*;q=0.8"
WARMUP_S = 0.5  # closed/open-loop hit runs: discarded lead-in

Sample = tuple[int, str, int]  # status, X-Enlarger-Cache, body bytes
Fetch = Callable[[int], Awaitable[Sample]]
T = TypeVar("T")


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), math.ceil(q / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


@dataclass
class Measured:
    wall_s: float = 0.0  # the measured window (throughput = len(latencies) / wall_s)
    sent: int = 0  # every request answered, warm-up included (CPU per request divides by this)
    span_s: float = 0.0  # the whole time the client ran, warm-up included (loop busy % divides by this)
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    caches: Counter[str] = field(default_factory=Counter)
    nbytes: int = 0

    def add(self, latency: float, sample: Sample) -> None:
        self.latencies.append(latency)
        self.statuses[sample[0]] += 1
        self.caches[sample[1] or "-"] += 1
        self.nbytes += sample[2]


class RawConnection:
    """One keep-alive HTTP/1.1 connection doing GETs with pre-built requests; Content-Length bodies only."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, requests: Sequence[bytes]) -> None:
        self._reader = reader
        self._writer = writer
        self._requests = requests

    @classmethod
    async def open(cls, port: int, requests: Sequence[bytes]) -> RawConnection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer, requests)

    async def get(self, index: int) -> Sample:
        self._writer.write(self._requests[index])
        head = await self._reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        cache = ""
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"x-enlarger-cache":
                cache = value.strip().decode()
            elif name == b"transfer-encoding":
                raise RuntimeError("chunked responses are not supported by the raw client")
        if length:
            await self._reader.readexactly(length)
        return status, cache, length

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()


def raw_request(port: int, path: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: {ACCEPT}\r\nUser-Agent: enlarger-bench\r\n\r\n"
    ).encode()


@contextlib.asynccontextmanager
async def open_clients(kind: str, port: int, paths: Sequence[str], concurrency: int) -> AsyncIterator[list[Fetch]]:
    """``concurrency`` fetch functions, one per worker: raw connections, or one shared httpx client."""
    if kind == "raw":
        requests = [raw_request(port, path) for path in paths]
        connections = [await RawConnection.open(port, requests) for _ in range(concurrency)]
        try:
            yield [c.get for c in connections]
        finally:
            for c in connections:
                await c.close()
        return
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Accept": ACCEPT, "User-Agent": "enlarger-bench"}
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", http1=True, http2=False, limits=limits, timeout=120, headers=headers
    ) as client:

        async def fetch(index: int) -> Sample:
            response = await client.get(paths[index])
            return response.status_code, response.headers.get("x-enlarger-cache", ""), len(response.content)

        yield [fetch] * concurrency


def run_async(coro: Awaitable[T]) -> T:
    import uvloop

    async def wrapped() -> T:
        return await coro

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(wrapped())


async def drive_jobs(kind: str, port: int, paths: Sequence[str], concurrency: int) -> Measured:
    """Each path once, ``concurrency`` requests in flight, in order."""
    m = Measured()
    async with open_clients(kind, port, paths, concurrency) as fetches:
        counter = 0

        async def worker(fetch: Fetch) -> None:
            nonlocal counter
            while counter < len(paths):
                index = counter
                counter += 1
                started = time.perf_counter()
                sample = await fetch(index)
                m.add(time.perf_counter() - started, sample)

        started = time.perf_counter()
        async with asyncio.timeout(1800):
            await asyncio.gather(*(worker(f) for f in fetches))
        m.wall_s = m.span_s = time.perf_counter() - started
        m.sent = len(m.latencies)
    return m


async def drive_closed(kind: str, port: int, paths: Sequence[str], concurrency: int, duration: float) -> Measured:
    """Every connection sends its next request as soon as the last answer is in, for ``duration`` s."""
    m = Measured()
    async with open_clients(kind, port, paths, concurrency) as fetches:
        begin = time.perf_counter() + WARMUP_S
        end = begin + duration

        async def worker(number: int, fetch: Fetch) -> None:
            index = number
            while True:
                started = time.perf_counter()
                if started >= end:
                    return
                sample = await fetch(index % len(paths))
                m.sent += 1
                if started >= begin:
                    m.add(time.perf_counter() - started, sample)
                index += 1

        first = time.perf_counter()
        async with asyncio.timeout(duration + 120):
            await asyncio.gather(*(worker(i, f) for i, f in enumerate(fetches)))
        m.wall_s = duration
        m.span_s = time.perf_counter() - first
    return m


async def drive_open(
    kind: str, port: int, paths: Sequence[str], concurrency: int, rate: float, duration: float
) -> Measured:
    """Requests due at a fixed rate, sent on ``concurrency`` connections.

    A request's latency counts from when it was due if every connection was busy then (queueing
    behind slow answers is real latency), otherwise from when it was actually sent (the client's
    timer granularity is not the server's fault).
    """
    m = Measured()
    total = int(rate * (duration + WARMUP_S))
    skip = int(rate * WARMUP_S)
    interval = 1.0 / rate
    async with open_clients(kind, port, paths, concurrency) as fetches:
        counter = 0
        t0 = time.perf_counter() + 0.05

        async def worker(fetch: Fetch) -> None:
            nonlocal counter
            while counter < total:
                k = counter
                counter += 1
                due = t0 + k * interval
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                    started = time.perf_counter()
                else:
                    started = due
                sample = await fetch(k % len(paths))
                m.sent += 1
                if k >= skip:
                    m.add(time.perf_counter() - started, sample)

        async with asyncio.timeout(duration + 120):
            await asyncio.gather(*(worker(f) for f in fetches))
        m.wall_s = time.perf_counter() - (t0 + skip * interval)
        m.span_s = time.perf_counter() - t0
    return m


def sync_get(port: int, path: str, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """A blocking one-shot GET (``Connection: close``), for health checks, warming and /metrics."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: {ACCEPT}\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := s.recv(1 << 16):
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split(" ", 2)[1]), headers, body


def run_wrk(port: int, paths: Sequence[str], concurrency: int, duration: float, work: Path) -> Measured | None:
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    script = work / "paths.lua"
    quoted = ", ".join(json.dumps(p) for p in paths)
    script.write_text(
        f"local paths = {{{quoted}}}\nlocal i = 0\nrequest = function()\n"
        '  i = i % #paths + 1\n  return wrk.format("GET", paths[i], {["Accept"] = "image/*"})\nend\n'
    )
    command = [wrk, "-t1", f"-c{concurrency}", f"-d{max(1, round(duration))}s", "--latency", "-s", str(script)]
    done = subprocess.run([*command, f"http://127.0.0.1:{port}"], check=True, capture_output=True, text=True)
    return parse_wrk(done.stdout, duration)


def _wrk_seconds(text: str) -> float:
    for unit, scale in (("us", 1e-6), ("ms", 1e-3), ("m", 60.0), ("s", 1.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    return float(text)


def parse_wrk(output: str, duration: float) -> Measured:
    """wrk's summary as a Measured: its latency percentiles become a two-point distribution."""
    p50 = p99 = 0.0
    requests = 0
    non2xx = 0
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "50%":
            p50 = _wrk_seconds(parts[1])
        elif len(parts) == 2 and parts[0] == "99%":
            p99 = _wrk_seconds(parts[1])
        elif "requests in" in line:
            requests = int(parts[0])
        elif line.startswith("Non-2xx"):
            non2xx = int(parts[-1])
    m = Measured(wall_s=duration)
    # 98 % at p50 and 2 % at p99 keeps wrk's own nearest-rank p50 and p99 for percentile()
    low = requests * 98 // 100
    m.latencies = [p50] * low + [p99] * (requests - low)
    m.statuses[200] = requests - non2xx
    if non2xx:
        m.statuses[0] = non2xx
    return m
