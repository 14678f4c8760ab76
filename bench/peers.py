"""Cache misses side by side: Enlarger against thumbor and sharp on the same sources and the same URLs.

Every server gets the same work, on a **fresh server** (new process, empty cache directory) per
run, sent by a bounded client (each URL exactly once, ``c`` requests in flight on keep-alive
connections: ``bench/_load.py``'s raw client, ~0.1 ms CPU per request). Runs go workload group by
group, connection count by connection count (1, 2, 8), servers in rotating order. Before each
measured run one untimed request warms the server up. ``--workload`` picks the work (issue 26):

- ``bursts`` (the default, the earlier table): the corpus photos of 1280–3840 px
  (``bench/corpus.py``: Debian's mate-backgrounds), resized to widths 600–999 px drawn at random
  (seeded), each photo once per round, rounds shuffled; one run per format.
- ``srcset``: each photo asked at 6 widths × every format of ``--formats`` (JPEG, WebP, AVIF), the
  18 URLs of one photo together (in a random order), photos in a shuffled order: what a page's
  ``srcset`` and ``format=auto`` ask for, the workload source and decode caches are for. One run
  mixes the formats.
- ``distinct``: at least 300 originals made once from the corpus (``bench/.peers/distinct/``): crops
  at least 1000 px wide re-encoded as JPEG (quality 70–95), PNG (20 %), WebP (10 %), 12-megapixel
  JPEGs (10 %) and HEIC (10 %, only when every server in the run reads HEIC: Enlarger does, sharp's
  prebuilt libvips and thumbor's Pillow engine do not, so with a peer the HEIC share is left out
  and the run says so); every request a new source, where no cache can help; one run per format.
- ``origin``: the ``srcset`` work served through a local HTTP origin (``bench/_origin.py``, its own
  process: strong ETags, 304 for a matching conditional GET) instead of a folder, counting the
  requests and bytes the origin served to each server; "ideal" is one download per source.
  Enlarger gets ``origin=http://…``; thumbor its ``http_loader`` with its default ``file_storage``
  (where it keeps originals); sharp's minimal server fetches the original for every request.

The peers are installed on demand **outside the project's environment**, under ``bench/.peers/``
(git-ignored): thumbor 7.8 (Pillow engine) from PyPI in its own virtual environment, two
processes (``--processes 2``, as the issue measured it), file loader, no storage, no result
storage; sharp 0.35 from npm behind ``bench/sharp_server.cjs``, a minimal Node server speaking
the same ``/cdn-cgi/image/width=…,format=…,quality=…/<file>`` URLs as Enlarger, with sharp's
defaults (concurrency, libuv threads). Enlarger runs as ``enlarger serve`` with its defaults.

Encoder settings are matched and printed: quality 80 everywhere; JPEG progressive with optimised
Huffman tables for all three (Cloudflare's ``format=jpeg`` is progressive; thumbor's default;
sharp told ``progressive: true``); WebP effort/method 4 (every server's default); AVIF at
libaom speed 7 (Enlarger ``avif_effort`` 2 and sharp ``effort`` 2, both speed = 9 − effort
through libheif; thumbor ``AVIF_SPEED`` 7 through Pillow's libavif). Metadata is stripped by all
(the photos carry no copyright notice).

Printed per run: req/s, p50/p99 latency, CPU per request (utime+stime summed over the server's
whole process tree from ``/proc``, the client and the origin excluded), cores used (req/s × CPU per
request), mean output bytes and SSIMULACRA2 of a sample of outputs against the source
(``bench/peer_scores.py``), and for ``origin`` the origin's requests and MiB; then Enlarger ÷ best
peer for CPU per request and for throughput. The machine is shared: CPU per request is the
steadier figure, origin bytes are not noisy at all.

Build the corpus first (``bench/corpus.py``). A full ``bursts`` run took 3 minutes on 2 busy
cores, ``--quick`` 2 (fewer requests, connections 1 and 8, 3 outputs scored); the peers' first
install adds a minute:
``.venv/bin/python bench/peers.py [--workload bursts|srcset|distinct|origin] [--quick] [--formats jpeg,webp,avif]
[--connections 1,2,8] [--servers enlarger,thumbor,sharp] [--enlarger LABEL=SRC[:setting=value]]
[--background N]``; ``--background N`` runs N busy processes at nice 19 beside the servers (a machine
shared with background jobs: who gets the cores then).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.append(str(Path(__file__).resolve().parent))  # after the stdlib: bench/http.py must not shadow it

from _load import Measured, drive_jobs, percentile, run_async, sync_get  # noqa: E402
from _procs import enlarger_command, free_port  # noqa: E402
from peer_scores import PEERS, ensure_venv, scores  # noqa: E402

BENCH = Path(__file__).resolve().parent
PHOTOS = BENCH / "corpus" / "photos"
ORIGIN = PEERS / "origin"
DISTINCT = PEERS / "distinct"
ORIGIN_SERVER = BENCH / "_origin.py"
THUMBOR_VENV = PEERS / "thumbor-venv"
THUMBOR_PACKAGES = ("thumbor==7.8.0",)
SHARP_DIR = PEERS / "sharp"
SHARP_PACKAGE = "sharp@0.35"
SHARP_SERVER = BENCH / "sharp_server.cjs"
CLK_TCK = os.sysconf("SC_CLK_TCK")

QUALITY = 80
WEBP_EFFORT = 4
AVIF_EFFORT = 2  # libheif speed = 9 - effort = 7
MAX_SIDE = 3840  # the corpus: the 15 photos up to 3840 px (the 5640 px one is left out)
WIDTHS = range(600, 1000)
SRCSET_WIDTHS = (320, 480, 640, 800, 1024, 1200)  # a page's srcset (every photo is at least 1280 wide)
WARM_WIDTH = 500  # the untimed warm-up request (outside WIDTHS and SRCSET_WIDTHS: never a measured URL)
DISTINCT_COUNT = 300  # originals made for the distinct workload (the issue: at least 300)
WORKLOADS = ("bursts", "srcset", "distinct", "origin")


@dataclass(frozen=True)
class Job:
    """One request: a source (a file name in the origin), the width and the format asked for."""

    source: str
    width: int
    fmt: str


@dataclass(frozen=True)
class Group:
    """The work of one run: its label in the tables, its jobs, and where the sources are."""

    label: str
    jobs: list[Job]
    folder: Path  # the folder holding the sources (served by the HTTP origin when ``http``)
    http: bool = False


@dataclass(frozen=True)
class Peer:
    """How to start one server and spell one transformation for it."""

    name: str
    start: Callable[[int, Path, str], list[str]]  # (port, work dir, origin: folder or http URL) -> command
    url: Callable[[Job, str], str]  # (job, origin: folder or http URL) -> path
    health: str
    env: Callable[[str], dict[str, str]] = lambda _origin: {}  # origin -> environment
    reads_heic: bool = False


@dataclass
class Run:
    server: str
    label: str
    connections: int
    measured: Measured
    cpu_s: float
    requests: int
    errors: int
    origin: dict[str, int] | None = None  # what the HTTP origin served (the origin workload)

    @property
    def rps(self) -> float:
        return self.requests / self.measured.wall_s

    @property
    def cpu_ms(self) -> float:
        return self.cpu_s * 1000 / self.requests

    @property
    def cores(self) -> float:
        """Cores kept busy: req/s × CPU seconds per request."""
        return self.rps * self.cpu_ms / 1000


# --- installing the peers (outside the project's environment) --------------------------------------


def ensure_thumbor() -> Path | None:
    try:
        python = ensure_venv(THUMBOR_VENV, THUMBOR_PACKAGES)
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"note: thumbor could not be installed ({exc}); left out", file=sys.stderr)
        return None
    return python.parent / "thumbor"


def ensure_sharp() -> bool:
    if (SHARP_DIR / "node_modules" / "sharp" / "package.json").exists():
        return True
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        print("note: node/npm not found; sharp left out", file=sys.stderr)
        return False
    print(f"installing {SHARP_PACKAGE} into {SHARP_DIR.relative_to(BENCH.parent)} ...", file=sys.stderr)
    SHARP_DIR.mkdir(parents=True, exist_ok=True)
    if not (SHARP_DIR / "package.json").exists():
        (SHARP_DIR / "package.json").write_text('{"name": "enlarger-bench-sharp", "private": true}\n')
    done = subprocess.run([npm, "install", "--no-audit", "--no-fund", SHARP_PACKAGE], cwd=SHARP_DIR, check=False)
    return done.returncode == 0


def origin_photos() -> list[str]:
    """The corpus photos up to ``MAX_SIDE``, copied into one origin folder every server reads."""
    import pyvips

    if not PHOTOS.is_dir():
        sys.exit("no corpus: run bench/corpus.py first")
    ORIGIN.mkdir(parents=True, exist_ok=True)
    names = []
    for path in sorted(PHOTOS.glob("*.jpg")):
        if max(pyvips.Image.new_from_file(str(path)).width, 1) > MAX_SIDE:
            continue
        target = ORIGIN / path.name
        if not target.exists() or target.stat().st_size != path.stat().st_size:
            shutil.copyfile(path, target)
        names.append(path.name)
    return names


def _distinct_kind(number: int) -> str:
    """Which kind of original number ``number`` is: 10 % 12 MP, 20 % PNG, 10 % WebP, 10 % HEIC, the rest JPEG."""
    return {0: "12mp", 3: "png", 7: "png", 8: "webp", 5: "heic"}.get(number % 10, "jpeg")


def distinct_sources(photos: Sequence[str], count: int = DISTINCT_COUNT) -> list[str]:
    """``count`` different originals made once from the photos (crops, re-encodes; see the module doc)."""
    import pyvips

    DISTINCT.mkdir(parents=True, exist_ok=True)
    rng = random.Random(26)
    names = []
    made = 0
    for number in range(count):
        kind = _distinct_kind(number)
        photo = photos[number % len(photos)]
        suffix = {"12mp": "jpg", "png": "png", "webp": "webp", "heic": "heic", "jpeg": "jpg"}[kind]
        name = f"{number:04d}-{kind}-{Path(photo).stem}.{suffix}"
        names.append(name)
        # the crop is drawn whether or not the file exists, so the set is the same every time
        full = pyvips.Image.new_from_file(str(ORIGIN / photo))
        width = rng.randint(max(1000, full.width // 2), full.width)
        height = rng.randint(max(600, full.height // 2), full.height)
        left, top = rng.randint(0, full.width - width), rng.randint(0, full.height - height)
        quality = rng.randint(70, 95)
        target = DISTINCT / name
        if target.exists():
            continue
        image = full.crop(left, top, width, height)
        if kind == "12mp":
            image = image.resize(4000 / image.width, vscale=3000 / image.height)
        elif kind == "png":
            image = image.resize(min(1.0, 1600 / image.width))  # PNG is large: photos of 1000-1600 px
        tmp = target.with_name("." + name)
        if kind == "png":
            image.pngsave(str(tmp), compression=6)
        elif kind == "webp":
            image.webpsave(str(tmp), Q=quality)
        elif kind == "heic":
            import pillow_heif

            pixels = image.cast("uchar").write_to_memory()
            pillow_heif.from_bytes("RGB", (image.width, image.height), pixels).save(str(tmp), quality=quality)
        else:
            image.jpegsave(str(tmp), Q=quality)
        tmp.rename(target)
        made += 1
    if made:
        print(f"made {made} distinct originals in {DISTINCT.relative_to(BENCH.parent)}", file=sys.stderr)
    return names


# --- the servers ----------------------------------------------------------------------------------


def _thumbor_conf(work: Path, origin: str) -> Path:
    conf = work / "thumbor.conf"
    if origin.startswith("http"):  # as deployed against an origin: originals kept in its storage
        loading = [
            "LOADER = 'thumbor.loaders.http_loader'",
            "ALLOWED_SOURCES = []",
            "STORAGE = 'thumbor.storages.file_storage'",
            f"FILE_STORAGE_ROOT_PATH = {str(work / 'thumbor-storage')!r}",
        ]
    else:
        loading = [
            "LOADER = 'thumbor.loaders.file_loader'",
            f"FILE_LOADER_ROOT_PATH = {origin!r}",
            "STORAGE = 'thumbor.storages.no_storage'",
        ]
    conf.write_text(
        "\n".join(
            [
                *loading,
                "RESULT_STORAGE = None",
                "ENGINE = 'thumbor.engines.pil'",
                f"QUALITY = {QUALITY}",
                "PROGRESSIVE_JPEG = True",
                f"AVIF_SPEED = {9 - AVIF_EFFORT}",
                "RESPECT_ORIENTATION = True",
                "ALLOW_UNSAFE_URL = True",
                "",
            ]
        )
    )
    return conf


def enlarger_variant(text: str) -> tuple[str, Path, dict[str, str]]:
    """``LABEL=SRC_DIR[:setting=value,...]``: another Enlarger (another source tree, other settings)."""
    label, _, rest = text.partition("=")
    src, _, overrides = rest.partition(":")
    if not label or not src:
        raise argparse.ArgumentTypeError(f"expected LABEL=SRC_DIR[:setting=value,...], got {text!r}")
    env = {f"ENLARGER_{k.upper()}": v for k, v in (item.split("=", 1) for item in overrides.split(",") if item)}
    return f"enlarger-{label}", Path(src).resolve(), env


def peers(thumbor: Path | None, sharp: bool, variants: Sequence[tuple[str, Path, dict[str, str]]] = ()) -> list[Peer]:
    def cf_url(job: Job, _origin: str) -> str:
        return f"/cdn-cgi/image/width={job.width},format={job.fmt},quality={QUALITY}/{job.source}"

    def enlarger(port: int, work: Path, _origin: str) -> list[str]:
        data = Path(tempfile.mkdtemp(prefix="data-", dir=work))
        return [*enlarger_command(), "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data)]

    def base(origin: str) -> dict[str, str]:
        return {"ENLARGER_ORIGIN": origin, "ENLARGER_QUEUE_SIZE": "256", "ENLARGER_AVIF_EFFORT": str(AVIF_EFFORT)}

    found = [Peer("enlarger", enlarger, cf_url, "/healthz", base, reads_heic=True)]
    for name, src, env in variants:

        def variant_env(origin: str, env: dict[str, str] = env, src: Path = src) -> dict[str, str]:
            return base(origin) | env | {"PYTHONPATH": str(src)}

        found.append(Peer(name, enlarger, cf_url, "/healthz", variant_env, reads_heic=True))
    if thumbor is not None:

        def thumbor_url(job: Job, origin: str) -> str:
            where = origin.removeprefix("http://") + "/" if origin.startswith("http") else ""
            return f"/unsafe/{job.width}x0/filters:format({job.fmt}):quality({QUALITY})/{where}{job.source}"

        found.append(
            Peer(
                "thumbor",
                lambda port, work, origin: [
                    *(str(thumbor), "-p", str(port), "-i", "127.0.0.1", "-c", str(_thumbor_conf(work, origin))),
                    *("--processes", "2", "-l", "error"),
                ],
                thumbor_url,
                "/healthcheck",
            )
        )
    if sharp:
        found.append(
            Peer(
                "sharp",
                lambda port, work, origin: [
                    *("node", str(SHARP_SERVER), "--port", str(port), "--origin", origin),
                    *("--jpeg-progressive", "1", "--webp-effort", str(WEBP_EFFORT), "--avif-effort", str(AVIF_EFFORT)),
                ],
                cf_url,
                "/healthz",
                lambda _origin: {"NODE_PATH": str(SHARP_DIR / "node_modules")},
            )
        )
    return found


def tree_cpu(root: int) -> float:
    """CPU seconds (user + system) of ``root`` and every live descendant, plus children it reaped."""
    parents: dict[int, int] = {}
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
        stats[int(entry.name)] = fields
    family, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in family:
                family.add(child)
                frontier.append(child)
    total = 0
    for pid in family:
        if pid in stats:
            fields = stats[pid]
            total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / CLK_TCK


def _wait_up(process: subprocess.Popen[bytes], port: int, health: str, name: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            sys.exit(f"{name} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            if sync_get(port, health, timeout=2)[0] in (200, 404):
                return
        if time.monotonic() > deadline:
            sys.exit(f"{name} did not answer {health} within 60 s:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)  # its own session: thumbor's forked workers go too
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def http_origin(folder: Path, work: Path) -> Iterator[int]:
    """A fresh local HTTP origin over ``folder`` (its own process); yields its port."""
    port = free_port()
    log = work / f"origin-{port}.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-P", str(ORIGIN_SERVER), "--root", str(folder), "--port", str(port)],
            stdout=handle,
            stderr=handle,
            start_new_session=True,
        )
    try:
        _wait_up(process, port, "/__stats", "the origin", log)
        yield port
    finally:
        _stop(process)


def origin_stats(port: int) -> dict[str, int]:
    stats: dict[str, int] = json.loads(sync_get(port, "/__stats")[2])
    return stats


@contextlib.contextmanager
def serving(peer: Peer, work: Path, origin: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    log = work / f"{peer.name}-{port}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENLARGER_")} | peer.env(origin)
    with log.open("wb") as handle:
        process = subprocess.Popen(
            peer.start(port, work, origin), stdout=handle, stderr=handle, env=env, cwd=work, start_new_session=True
        )
    try:
        _wait_up(process, port, peer.health, peer.name, log)
        yield process, port
    finally:
        _stop(process)


# --- the work -------------------------------------------------------------------------------------


def jobs(photos: Sequence[str], count: int, fmt: str = "jpeg", seed: int = 14) -> list[Job]:
    """``count`` distinct (photo, width) pairs: every photo once per round, rounds shuffled."""
    rng = random.Random(seed)
    widths = {photo: rng.sample(WIDTHS, math.ceil(count / len(photos))) for photo in photos}
    out: list[Job] = []
    for round_ in range(math.ceil(count / len(photos))):
        batch = [Job(photo, widths[photo][round_], fmt) for photo in photos]
        rng.shuffle(batch)
        out.extend(batch)
    return out[:count]


def srcset_jobs(photos: Sequence[str], formats: Sequence[str], seed: int = 26) -> list[Job]:
    """Each photo at every srcset width in every format, one photo's URLs together, photos shuffled."""
    rng = random.Random(seed)
    order = list(photos)
    rng.shuffle(order)
    out: list[Job] = []
    for photo in order:
        page = [Job(photo, width, fmt) for width in SRCSET_WIDTHS for fmt in formats]
        rng.shuffle(page)
        out.extend(page)
    return out


def distinct_jobs(sources: Sequence[str], count: int, fmt: str, seed: int = 300) -> list[Job]:
    """``count`` requests, each of a different source, at a width of 600-999 px."""
    rng = random.Random(seed)
    chosen = rng.sample(list(sources), min(count, len(sources)))
    return [Job(source, rng.choice(WIDTHS), fmt) for source in chosen]


def groups(args: argparse.Namespace, photos: list[str], heic: bool) -> list[Group]:
    """The runs' work for ``--workload``."""
    formats = args.formats.split(",")
    if args.workload in ("srcset", "origin"):
        chosen = photos[: args.sources or (4 if args.quick else len(photos))]
        label = "srcset" if args.workload == "srcset" else "srcset, HTTP origin"
        return [Group(label, srcset_jobs(chosen, formats), ORIGIN, http=args.workload == "origin")]
    if args.workload == "distinct":
        sources = distinct_sources(photos)
        if not heic:
            sources = [name for name in sources if not name.endswith(".heic")]
        out = []
        for fmt in formats:
            count = args.requests or (30 if args.quick else 100 if fmt == "avif" else DISTINCT_COUNT)
            out.append(Group(fmt, distinct_jobs(sources, count, fmt), DISTINCT))
        return out
    out = []
    for fmt in formats:
        count = args.requests or (15 if args.quick else 30 if fmt == "avif" else 45)
        out.append(Group(fmt, jobs(photos, count, fmt), ORIGIN))
    return out


# --- the runs -------------------------------------------------------------------------------------


def measure(peer: Peer, group: Group, connections: int, work: Path) -> Run:
    with contextlib.ExitStack() as stack:
        origin_port = stack.enter_context(http_origin(group.folder, work)) if group.http else None
        origin = f"http://127.0.0.1:{origin_port}" if origin_port else str(group.folder)
        paths = [peer.url(job, origin) for job in group.jobs]
        process, port = stack.enter_context(serving(peer, work, origin))
        first = group.jobs[0]
        status, _, _ = sync_get(port, peer.url(Job(first.source, WARM_WIDTH, first.fmt), origin), timeout=120)
        if status != 200:
            sys.exit(f"{peer.name}: warm-up request answered {status}")
        before = tree_cpu(process.pid)
        measured = run_async(drive_jobs("raw", port, paths, connections))
        cpu = tree_cpu(process.pid) - before
        served = origin_stats(origin_port) if origin_port else None  # the warm-up included
    errors = sum(count for status, count in measured.statuses.items() if status != 200)
    return Run(peer.name, group.label, connections, measured, cpu, len(paths), errors, served)


def sample_outputs(peer: Peer, group: Group, sample: Sequence[Job], work: Path) -> list[tuple[Path, Path]]:
    """Fetch the sample's outputs from a fresh server; (source, saved output) pairs."""
    folder = work / "outputs" / peer.name
    folder.mkdir(parents=True, exist_ok=True)
    pairs = []
    with serving(peer, work, str(group.folder)) as (_, port):
        for job in sample:
            status, _, body = sync_get(port, peer.url(job, str(group.folder)), timeout=120)
            if status != 200:
                sys.exit(f"{peer.name}: {job.source}@{job.width}.{job.fmt} answered {status}")
            out = folder / f"{Path(job.source).stem}@{job.width}.{job.fmt}"
            out.write_bytes(body)
            pairs.append((group.folder / job.source, out))
    return pairs


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg()[0]
    return f"{os.cpu_count()} cores, {model}, {platform.system()} {platform.release()}; load average {load:.1f}"


def report(
    runs: list[Run],
    quality: dict[tuple[str, str], float],
    sizes: dict[tuple[str, str], float],
    ideal: dict[str, int],
) -> None:
    labels = list(dict.fromkeys(r.label for r in runs))
    print()
    header = f"{'work':20s} {'server':16s} {'conns':>5s} {'req/s':>7s} {'p50 ms':>7s} {'p99 ms':>7s}"
    header += f" {'CPU ms/req':>10s} {'cores':>5s} {'KiB':>6s} {'ssimu2':>7s} {'errors':>6s}"
    if any(r.origin for r in runs):
        header += f" {'origin req':>10s} {'304s':>5s} {'origin MiB':>10s} {'× ideal':>7s}"
    print(header)
    for label in labels:
        for r in (r for r in runs if r.label == label):
            lat = sorted(r.measured.latencies)
            score = quality.get((r.server, label), float("nan"))
            line = (
                f"{label:20s} {r.server:16s} {r.connections:5d} {r.rps:7.2f} {percentile(lat, 50) * 1000:7.0f} "
                f"{percentile(lat, 99) * 1000:7.0f} {r.cpu_ms:10.1f} {r.cores:5.2f} {sizes[(r.server, label)]:6.1f} "
                f"{score:7.2f} {r.errors:6d}"
            )
            if r.origin is not None:
                times = r.origin["bytes"] / ideal[label] if ideal.get(label) else float("nan")
                line += f" {r.origin['requests']:10d} {r.origin['not_modified']:5d} {r.origin['bytes'] / 2**20:10.2f}"
                line += f" {times:7.2f}"
            print(line)
    if ideal:
        for label, nbytes in ideal.items():
            print(f"ideal for {label!r}: one download per source, {nbytes / 2**20:.2f} MiB")
    print("\nEnlarger ÷ best peer (CPU per request: lower is better; throughput: higher is better)")
    summary = []
    for label in labels:
        for connections in sorted({r.connections for r in runs if r.label == label}):
            here = [r for r in runs if r.label == label and r.connections == connections]
            ours = next((r for r in here if r.server == "enlarger"), None)
            others = [r for r in here if not r.server.startswith("enlarger")]
            if ours is None or not others:
                continue
            cheapest = min(others, key=lambda r: r.cpu_ms)
            fastest = max(others, key=lambda r: r.rps)
            busiest = max(others, key=lambda r: r.cores)
            cpu_ratio, rps_ratio = ours.cpu_ms / cheapest.cpu_ms, ours.rps / fastest.rps
            cores_ratio = ours.cores / busiest.cores
            print(
                f"  {label:20s} c={connections}: CPU {cpu_ratio:5.2f}× ({cheapest.server}), "
                f"throughput {rps_ratio:5.2f}× ({fastest.server}), cores used {cores_ratio:5.2f}× ({busiest.server})"
            )
            summary.append(
                f"{label} c{connections} cpu {cpu_ratio:.2f}× req/s {rps_ratio:.2f}× cores {cores_ratio:.2f}×"
            )
    print("Enlarger ÷ best peer: " + ("; ".join(summary) or "(no peer in this run)"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workload", choices=WORKLOADS, default="bursts")
    parser.add_argument("--quick", action="store_true", help="fewer requests, connections 1 and 8 (about a minute)")
    parser.add_argument("--formats", default="jpeg,webp,avif")
    parser.add_argument("--connections", default=None, help="comma-separated (default 1,2,8; --quick 1,8)")
    parser.add_argument("--servers", default="enlarger,thumbor,sharp")
    parser.add_argument(
        "--requests", type=int, default=None, help="per run (bursts 45, AVIF 30; distinct 300, AVIF 100; --quick 15/30)"
    )
    parser.add_argument("--sources", type=int, default=None, help="photos in srcset/origin (default all; --quick 4)")
    parser.add_argument("--sample", type=int, default=None, help="outputs scored per server and run (default 5)")
    parser.add_argument("--no-score", action="store_true")
    parser.add_argument(
        "--background",
        type=int,
        default=0,
        metavar="N",
        help="run N busy processes at nice 19 during the runs: a machine shared with background jobs",
    )
    parser.add_argument(
        "--enlarger",
        type=enlarger_variant,
        action="append",
        default=[],
        metavar="LABEL=SRC_DIR[:setting=value,...]",
        help="also run this Enlarger (e.g. the tree before a change: git archive REV src | tar -x -C /tmp/rev)",
    )
    args = parser.parse_args(argv)
    connections = [int(c) for c in (args.connections or ("1,8" if args.quick else "1,2,8")).split(",")]
    wanted = args.servers.split(",")
    photos = origin_photos()
    thumbor = ensure_thumbor() if "thumbor" in wanted else None
    sharp = ensure_sharp() if "sharp" in wanted else False
    wanted += [name for name, _, _ in args.enlarger]
    servers = [p for p in peers(thumbor, sharp, args.enlarger) if p.name in wanted]
    heic = all(p.reads_heic for p in servers)
    print(f"machine: {machine()}")
    print(
        f"work: {args.workload}; quality {QUALITY}; JPEG progressive+optimised for all; "
        f"WebP effort/method {WEBP_EFFORT}; AVIF libaom speed {9 - AVIF_EFFORT} (Enlarger avif_effort "
        f"{AVIF_EFFORT}, sharp effort {AVIF_EFFORT}, thumbor AVIF_SPEED {9 - AVIF_EFFORT}); servers: "
        + ", ".join(p.name for p in servers)
    )
    if args.workload == "distinct" and not heic:
        unable = ", ".join(p.name for p in servers if not p.reads_heic)
        print(f"note: HEIC originals left out: {unable} cannot read HEIC (HEVC)")
    quality: dict[tuple[str, str], float] = {}
    sizes: dict[tuple[str, str], float] = {}
    ideal: dict[str, int] = {}
    work = Path(tempfile.mkdtemp(prefix="peers-"))
    if args.background:
        print(f"background: {args.background} busy processes at nice 19 during the runs")
    try:
        with niced_load(args.background):
            runs = run_all(args, servers, connections, groups(args, photos, heic), work, quality, sizes, ideal)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(runs, quality, sizes, ideal)
    return 0


@contextlib.contextmanager
def niced_load(count: int) -> Iterator[None]:
    """``count`` processes spinning at nice 19 (the "machine shared with niced background load" of issue 26)."""
    spinning = [subprocess.Popen(["nice", "-n", "19", sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for process in spinning:
            process.kill()
            process.wait()


def run_all(
    args: argparse.Namespace,
    servers: list[Peer],
    connections: Sequence[int],
    work_groups: Sequence[Group],
    work: Path,
    quality: dict[tuple[str, str], float],
    sizes: dict[tuple[str, str], float],
    ideal: dict[str, int],
) -> list[Run]:
    """Every server on every group at every connection count (servers in rotating order), then the scores."""
    runs: list[Run] = []
    for group in work_groups:
        if group.http:
            ideal[group.label] = sum((group.folder / s).stat().st_size for s in {j.source for j in group.jobs})
        for step, c in enumerate(connections):
            order = servers[step % len(servers) :] + servers[: step % len(servers)]
            for peer in order:
                run = measure(peer, group, c, work)
                runs.append(run)
                sizes[(peer.name, group.label)] = run.measured.nbytes / max(1, len(run.measured.latencies)) / 1024
                served = f", origin {run.origin['bytes'] / 2**20:.1f} MiB" if run.origin else ""
                print(
                    f"  {group.label} c={c} {peer.name:9s} {run.rps:6.2f} req/s {run.cpu_ms:6.1f} ms CPU/req{served}",
                    file=sys.stderr,
                    flush=True,
                )
        if not args.no_score:
            readable = [job for job in group.jobs if not job.source.endswith(".heic")]  # the scorer uses libvips
            sample = readable[: args.sample or (3 if args.quick else 5)]
            for peer in servers:
                pairs = sample_outputs(peer, group, sample, work)
                quality[(peer.name, group.label)] = statistics.mean(scores(pairs))
    return runs


if __name__ == "__main__":
    raise SystemExit(main())
