"""Soak: mixed traffic at about 70 % of measured capacity against one server, for minutes.

Users of every peer report memory growth under load; this is the check that Enlarger has none.
One fresh ``enlarger serve`` (``--processes`` worker processes; its own memory tuning,
:mod:`enlarger.server.memory`, nothing set in the environment; ``cache_memory_bytes`` 16 MiB so
the bounded in-memory layers are full long before the second half, where growth would mean a
leak) gets an open-loop mix:

==========  =====  ==================================================================
kind        share  what
==========  =====  ==================================================================
miss          30 %  a corpus photo at a random width (200–1600) and format: a transformation
hit           37 %  one of 16 warmed URLs
delivery      15 %  a hosted image (uploaded at start or during the run), variant public or thumb
upload         5 %  a small generated JPEG through the images API (multipart POST)
bad            11 %  an invalid option (400), a missing source (404), a damaged JPEG (415),
                    an invalid fit (400)
large          2 %  the 6000×4000 photo at a random width
==========  =====  ==================================================================

Capacity is measured first: the same mix in a closed loop (``2 × cores`` connections) for
``--calibrate`` seconds; the soak then sends ``--load`` (0.7) × that rate, requests due at a
fixed rate (latency counts from when a request was due). Every ``--interval`` seconds it
records the resident memory summed over the server's processes, p50/p99 of the answers in that
window, the 5xx and unexpected answers, and the machine's load average (on a shared machine,
other jobs taking the cores lower the capacity below the offered load: the server then answers
503 by design, and the load column says why); it writes them as a PNG chart (Pillow) and exits 1
when any of these holds:

- RSS grows more than 5 % in the second half: RSS is sampled once a second and each window
  keeps its floor (lowest sample), what stays resident when the backlog is smallest — queued
  requests hold their source bytes and running ones their decoded pixels, so the median and
  peak follow the backlog, not retention; the floor checked is that of RSS less the decoded
  copies the decoded-copy cache holds at the same second (read from ``/metrics``): the cache is
  bounded, but copies replace one another, so what it holds swings by tens of MB between
  seconds; the median floor of the second half's first three windows is compared with that of
  its last three;
- any 5xx answer (or any answer other than the kind's expected status);
- p99 drifts upward: the p99 of the last third of the answers is more than 1.5 × that of the first third.

Each window also records the bytes held by the decoded-copy cache and the source cache (from
``/metrics``); with ``--http-origin`` the originals come from a local HTTP origin
(``bench/_origin.py``), so the source cache fills as well (local originals are never copied).

Build the corpus first (``bench/corpus.py``). Run:
``.venv/bin/python bench/soak.py [--minutes 10] [--processes 1] [--http-origin] [--chart docs/soak.png]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/http.py would shadow the standard http package that httpx needs: look in bench/ last
# ruff: noqa: E402
BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH] + [str(BENCH)]

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import shutil
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import httpx
import pyvips
from PIL import Image, ImageDraw

from _cluster import Group, running
from _load import percentile
from enlarger.catalog.store import Catalog
from enlarger.settings import Settings
from peers import http_origin

PHOTOS = BENCH / "corpus" / "photos"
LARGE = BENCH / "corpus" / "generated" / "photo-6000x4000.jpg"
MIX = {"miss": 30, "hit": 37, "delivery": 15, "upload": 5, "bad": 11, "large": 2}
EXPECTED = {"miss": 200, "hit": 200, "delivery": 200, "upload": 200, "large": 200}
BAD = [
    ("/cdn-cgi/image/width=banana/{photo}", 400),
    ("/cdn-cgi/image/width=300/no-such-photo.jpg", 404),
    ("/cdn-cgi/image/width=300/broken.jpg", 415),
    ("/cdn-cgi/image/width=300,fit=sideways/{photo}", 400),
]
HOT_URLS = 16
MAX_OUTSTANDING = 256
RSS_GROWTH = 0.05
P99_DRIFT = 1.5


@dataclass
class Window:
    """One interval's record."""

    t: float  # seconds since the soak began (end of the window)
    rss_floor_mb: float  # lowest once-a-second sample: what stays resident when the backlog is smallest
    rest_floor_mb: float  # lowest sample of RSS less the decoded copies held at that moment: what must not grow
    rss_mb: float  # median of the samples
    rss_max_mb: float
    load: float  # the machine's 1-minute load average (other jobs share the cores)
    requests: int
    p50_ms: float
    p99_ms: float
    errors_5xx: int
    unexpected: int
    decode_cache_mb: float  # decoded copies held (summed over processes, from /metrics)
    source_cache_mb: float  # remote originals on disk (only with --http-origin: local originals are not cached)


@dataclass
class Soak:
    """What the load generator knows while it runs."""

    photos: list[str]
    account_id: str
    account_hash: str
    token: str
    hosted: list[str] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(14))
    answers: list[tuple[float, float, int, str]] = field(default_factory=list)  # (done at, latency, status, kind)

    def pick(self) -> str:
        return self.rng.choices(list(MIX), weights=list(MIX.values()))[0]

    def hot(self, i: int) -> str:
        return f"/cdn-cgi/image/width={300 + 20 * i},format=webp/{self.photos[i % len(self.photos)]}"

    async def send(self, client: httpx.AsyncClient, kind: str) -> tuple[int, int]:
        """Send one request of ``kind``; (status, expected status)."""
        rng = self.rng
        if kind == "miss":
            fmt = rng.choice(("jpeg", "webp"))
            path = f"/cdn-cgi/image/width={rng.randint(200, 1600)},format={fmt}/{rng.choice(self.photos)}"
        elif kind == "large":
            path = f"/cdn-cgi/image/width={rng.randint(400, 2400)},format=jpeg/large.jpg"
        elif kind == "hit":
            path = self.hot(rng.randrange(HOT_URLS))
        elif kind == "delivery":
            path = f"/{self.account_hash}/{rng.choice(self.hosted)}/{rng.choice(('public', 'thumb'))}"
        elif kind == "upload":
            response = await client.post(
                f"/client/v4/accounts/{self.account_id}/images/v1",
                headers={"Authorization": f"Bearer {self.token}"},
                files={"file": ("soak.jpg", small_jpeg(rng), "image/jpeg")},
            )
            if response.status_code == 200:
                self.hosted.append(response.json()["result"]["id"])
            return response.status_code, 200
        else:
            template, expected = rng.choice(BAD)
            response = await client.get(template.format(photo=rng.choice(self.photos)))
            return response.status_code, expected
        response = await client.get(path)
        return response.status_code, EXPECTED[kind]


def small_jpeg(rng: random.Random) -> bytes:
    bands = [pyvips.Image.gaussnoise(320, 240, mean=rng.randrange(40, 220), sigma=20) for _ in range(3)]
    image = bands[0].bandjoin(bands[1:]).cast("uchar").copy(interpretation="srgb")
    data: bytes = image.jpegsave_buffer(Q=85)
    return data


def prepare_origin(origin: Path) -> list[str]:
    origin.mkdir(parents=True, exist_ok=True)
    names = []
    for photo in sorted(PHOTOS.glob("*.jpg")):
        shutil.copyfile(photo, origin / photo.name)  # symlinks out of the origin are refused (403)
        names.append(photo.name)
    shutil.copyfile(LARGE, origin / "large.jpg")
    (origin / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg at all" * 10)
    return names


async def _one(soak: Soak, client: httpx.AsyncClient, kind: str, due: float, unexpected: list[str]) -> None:
    try:
        status, expected = await soak.send(client, kind)
    except httpx.HTTPError as exc:
        status, expected = 599, 0
        unexpected.append(f"{kind}: {type(exc).__name__}")
    done = time.monotonic()
    if status != expected:
        unexpected.append(f"{kind}: {status} (expected {expected})")
    soak.answers.append((done, done - due, status if status == expected or status >= 500 else -status, kind))


async def calibrate(soak: Soak, port: int, connections: int, seconds: float) -> float:
    """The mix's capacity in requests/s: a closed loop of ``connections`` for ``seconds``."""
    done = 0
    end = time.monotonic() + seconds
    async with _client(port, connections) as client:

        async def loop() -> None:
            nonlocal done
            while time.monotonic() < end:
                await soak.send(client, soak.pick())
                done += 1

        started = time.monotonic()
        await asyncio.gather(*(loop() for _ in range(connections)))
        return done / (time.monotonic() - started)


def _client(port: int, connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    headers = {"Accept": "image/avif,image/webp,image/*,*/*;q=0.8"}
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=120, headers=headers)


async def soak_run(soak: Soak, group: Group, rate: float, seconds: float, interval: float) -> list[Window]:
    windows: list[Window] = []
    unexpected: list[str] = []
    begin = time.monotonic()
    gate = asyncio.Semaphore(MAX_OUTSTANDING)
    tasks: set[asyncio.Task[None]] = set()

    async def gated(kind: str, due: float) -> None:
        async with gate:
            await _one(soak, client, kind, due, unexpected)

    async with _client(group.port, MAX_OUTSTANDING) as client:
        k = 0
        next_mark = begin + interval
        next_sample = begin
        samples: list[float] = []
        rest: list[float] = []
        seen = 0
        while True:
            now = time.monotonic()
            if now >= next_sample:
                samples.append(group.rss_bytes() / 2**20)
                rest.append(samples[-1] - (await cache_sizes(client))[0])
                next_sample += 1.0
            if now >= next_mark:
                fresh = soak.answers[seen:]
                seen = len(soak.answers)
                lat = sorted(a[1] for a in fresh)
                windows.append(
                    Window(
                        round(now - begin, 1),
                        min(samples),
                        min(rest),
                        statistics.median(samples),
                        max(samples),
                        float(Path("/proc/loadavg").read_text().split()[0]),
                        len(fresh),
                        percentile(lat, 50) * 1000 if lat else 0.0,
                        percentile(lat, 99) * 1000 if lat else 0.0,
                        sum(1 for a in fresh if a[2] >= 500),
                        sum(1 for a in fresh if a[2] < 0),
                        *(await cache_sizes(client)),
                    )
                )
                w = windows[-1]
                print(
                    f"  t={w.t:4.0f}s rss {w.rss_floor_mb:5.0f}/{w.rss_mb:5.0f}/{w.rss_max_mb:5.0f} MB "
                    f"load {w.load:4.1f} req={w.requests:4d} "
                    f"p50={w.p50_ms:7.1f} ms p99={w.p99_ms:8.1f} ms 5xx={w.errors_5xx} unexpected={w.unexpected} "
                    f"caches: decoded {w.decode_cache_mb:.0f} MB, sources {w.source_cache_mb:.0f} MB",
                    flush=True,
                )
                samples, rest = [], []
                next_mark += interval
                if now - begin >= seconds:
                    break
            due = begin + k / rate
            if due > now:
                await asyncio.sleep(min(due, next_mark, next_sample) - now)
                continue
            task = asyncio.create_task(gated(soak.pick(), due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            k += 1
        await asyncio.gather(*tasks)
    for line, count in sorted(Counter(unexpected).items())[:20]:
        print(f"  not as expected: {line} × {count}")
    return windows


async def cache_sizes(client: httpx.AsyncClient) -> tuple[float, float]:
    """MB held by the decoded-copy cache and the source cache now, from the server's ``/metrics``."""
    text = (await client.get("/metrics")).text
    held = {"enlarger_decode_cache_bytes": 0.0, "enlarger_source_cache_bytes": 0.0}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name.split("{")[0] in held:
            held[name.split("{")[0]] += float(value)
    return held["enlarger_decode_cache_bytes"] / 2**20, held["enlarger_source_cache_bytes"] / 2**20


def verdict(windows: list[Window], answers: list[tuple[float, float, int, str]]) -> tuple[dict[str, float], list[str]]:
    """The figures and the reasons to fail (empty: passed)."""
    second = windows[len(windows) // 2 :]
    start_rss = statistics.median(w.rest_floor_mb for w in second[:3])
    end_rss = statistics.median(w.rest_floor_mb for w in second[-3:])
    growth = end_rss / start_rss - 1
    third = len(answers) // 3
    first_p99 = percentile(sorted(a[1] for a in answers[:third]), 99) * 1000
    last_p99 = percentile(sorted(a[1] for a in answers[-third:]), 99) * 1000
    all_lat = sorted(a[1] for a in answers)
    figures = {
        "requests": len(answers),
        "rss_first_floor_mb": windows[0].rss_floor_mb,
        "rss_peak_mb": max(w.rss_max_mb for w in windows),
        "rest_floor_second_half_start_mb": start_rss,
        "rest_floor_end_mb": end_rss,
        "rss_growth_second_half": growth,
        "p50_ms": percentile(all_lat, 50) * 1000,
        "p99_ms": percentile(all_lat, 99) * 1000,
        "p99_first_third_ms": first_p99,
        "p99_last_third_ms": last_p99,
        "decode_cache_peak_mb": max(w.decode_cache_mb for w in windows),
        "source_cache_peak_mb": max(w.source_cache_mb for w in windows),
        "errors_5xx": sum(w.errors_5xx for w in windows),
        "unexpected": sum(w.unexpected for w in windows),
    }
    reasons = []
    if growth > RSS_GROWTH:
        reasons.append(f"RSS less the decoded copies grew {growth:.1%} in the second half (limit {RSS_GROWTH:.0%})")
    if figures["errors_5xx"]:
        reasons.append(f"{figures['errors_5xx']:.0f} answers were 5xx")
    if figures["unexpected"]:
        reasons.append(f"{figures['unexpected']:.0f} answers had an unexpected status")
    if last_p99 > P99_DRIFT * first_p99:
        reasons.append(f"p99 drifted from {first_p99:.0f} ms to {last_p99:.0f} ms (limit ×{P99_DRIFT})")
    return figures, reasons


def chart(windows: list[Window], path: Path, title: str) -> None:
    """Three stacked line panels over time: RSS, p50/p99, 5xx + unexpected answers."""
    width, panel, margin = 900, 170, 60
    image = Image.new("RGB", (width, 3 * panel + 60), "white")
    draw = ImageDraw.Draw(image)
    draw.text((margin, 10), title, fill="black")
    t_max = max(w.t for w in windows) or 1.0
    panels = [
        (
            "RSS, MB (all server processes): floor, median and peak per interval; floor less decoded copies",
            [
                ("less copies", [w.rest_floor_mb for w in windows], (148, 103, 189)),
                ("floor", [w.rss_floor_mb for w in windows], (31, 119, 180)),
                ("median", [w.rss_mb for w in windows], (120, 170, 210)),
                ("peak", [w.rss_max_mb for w in windows], (190, 210, 235)),
            ],
        ),
        (
            "latency, ms",
            [("p50", [w.p50_ms for w in windows], (44, 160, 44)), ("p99", [w.p99_ms for w in windows], (214, 39, 40))],
        ),
        (
            "errors per interval",
            [
                ("5xx", [float(w.errors_5xx) for w in windows], (214, 39, 40)),
                ("unexpected", [float(w.unexpected) for w in windows], (255, 127, 14)),
            ],
        ),
    ]
    for n, (label, series) in enumerate(panels):
        top = 40 + n * panel
        bottom = top + panel - 40
        left, right = margin, width - 20
        v_max = max([v for _, values, _ in series for v in values] + [1.0]) * 1.1
        draw.rectangle((left, top, right, bottom), outline=(160, 160, 160))
        draw.text((left, top - 14), label, fill="black")
        for frac in (0.0, 0.5, 1.0):
            y = bottom - frac * (bottom - top)
            value = v_max * frac
            draw.text((4, y - 6), f"{value:,.0f}" if value >= 10 else f"{value:.1f}", fill=(90, 90, 90))
        for k, (name, values, colour) in enumerate(series):
            points = [
                (left + (w.t / t_max) * (right - left), bottom - (v / v_max) * (bottom - top))
                for w, v in zip(windows, values, strict=True)
            ]
            if len(points) > 1:
                draw.line(points, fill=colour, width=2)
            draw.text((right - 90, top + 4 + 12 * k), name, fill=colour)
        draw.text((left, bottom + 4), "0 s", fill=(90, 90, 90))
        draw.text((right - 40, bottom + 4), f"{t_max:.0f} s", fill=(90, 90, 90))
    image.save(path)


def _account(data_dir: Path) -> tuple[str, str, str]:
    catalog = Catalog(Settings(data_dir=data_dir).catalog_url)
    account = catalog.create_account("soak")
    _, token = catalog.create_token(account.id)
    catalog.close()
    return account.id, account.hash, token


async def _setup(soak: Soak, port: int) -> None:
    """Upload the first hosted images, add the thumb variant, warm the hot URLs."""
    async with _client(port, 4) as client:
        auth = {"Authorization": f"Bearer {soak.token}"}
        api = f"/client/v4/accounts/{soak.account_id}/images/v1"
        variant = {"id": "thumb", "options": {"fit": "cover", "width": 160, "height": 120}}
        response = await client.post(f"{api}/variants", json=variant, headers=auth)
        response.raise_for_status()
        for _ in range(8):
            await soak.send(client, "upload")
        for i in range(HOT_URLS):
            (await client.get(soak.hot(i))).raise_for_status()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the soak (default 10)")
    parser.add_argument("--processes", type=int, default=1, help="server processes (default 1)")
    parser.add_argument("--load", type=float, default=0.7, help="share of the measured capacity to send (default 0.7)")
    parser.add_argument("--rate", type=float, help="requests/s to send instead of measuring capacity")
    parser.add_argument("--calibrate", type=float, default=30.0, help="seconds of the capacity run (default 30)")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds per recorded window (default 10)")
    parser.add_argument("--chart", type=Path, default=Path("soak.png"), help="PNG chart to write")
    parser.add_argument("--json", type=Path, help="also write the windows and figures as JSON")
    parser.add_argument(
        "--http-origin",
        action="store_true",
        help="serve the originals through a local HTTP origin (bench/_origin.py), so the source cache fills too",
    )
    args = parser.parse_args(argv)
    if not PHOTOS.is_dir() or not LARGE.exists():
        sys.exit("no corpus: run bench/corpus.py first")
    settings = {"cache_memory_bytes": 16 * 2**20}
    with tempfile.TemporaryDirectory(prefix="enlarger-soak-") as tmp:
        work = Path(tmp)
        photos = prepare_origin(work / "origin")
        data_dir = work / "data"
        data_dir.mkdir()
        account_id, account_hash, token = _account(data_dir)
        soak = Soak(photos, account_id, account_hash, token)
        with contextlib.ExitStack() as stack:
            origin: Path | str = work / "origin"
            if args.http_origin:
                origin = f"http://127.0.0.1:{stack.enter_context(http_origin(work / 'origin', work))}"
            group = stack.enter_context(
                running(origin, work, "soak", processes=args.processes, settings=settings, data_dir=data_dir)
            )
            asyncio.run(_setup(soak, group.port))
            if args.rate:
                rate = args.rate
            else:
                capacity = asyncio.run(calibrate(soak, group.port, 2 * (os.cpu_count() or 1), args.calibrate))
                rate = args.load * capacity
                print(f"capacity of the mix: {capacity:.1f} req/s; soaking at {rate:.1f} req/s", flush=True)
            soak.answers.clear()
            windows = asyncio.run(soak_run(soak, group, rate, args.minutes * 60, args.interval))
    figures, reasons = verdict(windows, soak.answers)
    figures["rate"] = rate
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {args.processes} server process(es)"
    chart(windows, args.chart, f"enlarger soak: {args.minutes:g} min at {rate:.1f} req/s ({machine})")
    if args.json:
        args.json.write_text(json.dumps({"figures": figures, "windows": [asdict(w) for w in windows]}, indent=1))
    for name, value in figures.items():
        print(f"{name:28} {value:.3f}" if isinstance(value, float) and not math.isnan(value) else f"{name:28} {value}")
    print(f"chart: {args.chart}")
    if reasons:
        print("FAIL: " + "; ".join(reasons))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
