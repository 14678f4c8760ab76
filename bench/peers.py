"""Cache misses side by side: Enlarger against thumbor and sharp on the same photos and the same URLs.

Every server gets the same work: the corpus photos of 1280–3840 px (``bench/corpus.py``: Debian's
mate-backgrounds), resized to widths 600–999 px drawn at random (seeded), each photo once per round,
rounds shuffled, **every request a distinct transformation** on a **fresh server** (new process,
empty cache directory) per run, sent by a bounded client (each URL exactly once, ``c`` requests
in flight on keep-alive connections: ``bench/_load.py``'s raw client, ~0.1 ms CPU per request).
Runs go format by format (JPEG, WebP, AVIF), connection count by connection count (1, 2, 8),
servers in rotating order. Before each measured run one untimed request warms the server up.

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

Printed per format: req/s, p50/p99 latency, CPU per request (utime+stime summed over the server's
whole process tree from ``/proc``, the client excluded), mean output bytes and SSIMULACRA2 of a
sample of outputs against the source (``bench/peer_scores.py``); then Enlarger ÷ best peer for CPU
per request and for throughput. The machine is shared: CPU per request is the steadier figure.

Build the corpus first (``bench/corpus.py``). A full run took 3 minutes on 2 busy cores,
``--quick`` 2 (fewer requests, connections 1 and 8, 3 outputs scored); the peers' first install
adds a minute:
``.venv/bin/python bench/peers.py [--quick] [--formats jpeg,webp,avif] [--connections 1,2,8]``
"""

from __future__ import annotations

import argparse
import contextlib
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
from dataclasses import dataclass, field
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.append(str(Path(__file__).resolve().parent))  # after the stdlib: bench/http.py must not shadow it

from _load import Measured, drive_jobs, percentile, run_async, sync_get  # noqa: E402
from _procs import enlarger_command, free_port  # noqa: E402
from peer_scores import PEERS, ensure_venv, scores  # noqa: E402

BENCH = Path(__file__).resolve().parent
PHOTOS = BENCH / "corpus" / "photos"
ORIGIN = PEERS / "origin"
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
WARM_WIDTH = 500  # the untimed warm-up request (outside WIDTHS: never one of the measured URLs)


@dataclass(frozen=True)
class Peer:
    """How to start one server and spell one transformation for it."""

    name: str
    start: Callable[[int, Path], list[str]]  # (port, work dir) -> command
    url: Callable[[str, int, str], str]  # (photo file name, width, format) -> path
    health: str
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Run:
    server: str
    fmt: str
    connections: int
    measured: Measured
    cpu_s: float
    requests: int
    errors: int
    nbytes: list[int] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.measured.wall_s

    @property
    def cpu_ms(self) -> float:
        return self.cpu_s * 1000 / self.requests


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


# --- the servers ----------------------------------------------------------------------------------


def _thumbor_conf(work: Path) -> Path:
    conf = work / "thumbor.conf"
    conf.write_text(
        "\n".join(
            [
                "LOADER = 'thumbor.loaders.file_loader'",
                f"FILE_LOADER_ROOT_PATH = {str(ORIGIN)!r}",
                "STORAGE = 'thumbor.storages.no_storage'",
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
    def cf_url(photo: str, width: int, fmt: str) -> str:
        return f"/cdn-cgi/image/width={width},format={fmt},quality={QUALITY}/{photo}"

    def enlarger(port: int, work: Path) -> list[str]:
        data = Path(tempfile.mkdtemp(prefix="data-", dir=work))
        return [*enlarger_command(), "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data)]

    base = {"ENLARGER_ORIGIN": str(ORIGIN), "ENLARGER_QUEUE_SIZE": "256", "ENLARGER_AVIF_EFFORT": str(AVIF_EFFORT)}
    found = [Peer("enlarger", enlarger, cf_url, "/healthz", base)]
    for name, src, env in variants:
        found.append(Peer(name, enlarger, cf_url, "/healthz", base | env | {"PYTHONPATH": str(src)}))
    if thumbor is not None:
        found.append(
            Peer(
                "thumbor",
                lambda port, work: [
                    *(str(thumbor), "-p", str(port), "-i", "127.0.0.1", "-c", str(_thumbor_conf(work))),
                    *("--processes", "2", "-l", "error"),
                ],
                lambda photo, width, fmt: f"/unsafe/{width}x0/filters:format({fmt}):quality({QUALITY})/{photo}",
                "/healthcheck",
            )
        )
    if sharp:
        found.append(
            Peer(
                "sharp",
                lambda port, work: [
                    *("node", str(SHARP_SERVER), "--port", str(port), "--origin", str(ORIGIN)),
                    *("--jpeg-progressive", "1", "--webp-effort", str(WEBP_EFFORT), "--avif-effort", str(AVIF_EFFORT)),
                ],
                cf_url,
                "/healthz",
                {"NODE_PATH": str(SHARP_DIR / "node_modules")},
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


@contextlib.contextmanager
def serving(peer: Peer, work: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    log = work / f"{peer.name}-{port}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENLARGER_")} | peer.env
    with log.open("wb") as handle:
        process = subprocess.Popen(
            peer.start(port, work), stdout=handle, stderr=handle, env=env, cwd=work, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                sys.exit(f"{peer.name} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(OSError):
                if sync_get(port, peer.health, timeout=2)[0] == 200:
                    break
            if time.monotonic() > deadline:
                sys.exit(f"{peer.name} did not answer {peer.health} within 60 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.05)
        yield process, port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)  # its own session: thumbor's forked workers go too
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# --- the runs -------------------------------------------------------------------------------------


def jobs(photos: Sequence[str], count: int, seed: int = 14) -> list[tuple[str, int]]:
    """``count`` distinct (photo, width) pairs: every photo once per round, rounds shuffled."""
    rng = random.Random(seed)
    widths = {photo: rng.sample(WIDTHS, math.ceil(count / len(photos))) for photo in photos}
    out: list[tuple[str, int]] = []
    for round_ in range(math.ceil(count / len(photos))):
        batch = [(photo, widths[photo][round_]) for photo in photos]
        rng.shuffle(batch)
        out.extend(batch)
    return out[:count]


def measure(peer: Peer, fmt: str, connections: int, work_list: Sequence[tuple[str, int]], work: Path) -> Run:
    paths = [peer.url(photo, width, fmt) for photo, width in work_list]
    with serving(peer, work) as (process, port):
        status, _, _ = sync_get(port, peer.url(work_list[0][0], WARM_WIDTH, fmt), timeout=120)
        if status != 200:
            sys.exit(f"{peer.name}: warm-up request answered {status}")
        before = tree_cpu(process.pid)
        measured = run_async(drive_jobs("raw", port, paths, connections))
        cpu = tree_cpu(process.pid) - before
    errors = sum(count for status, count in measured.statuses.items() if status != 200)
    return Run(peer.name, fmt, connections, measured, cpu, len(paths), errors)


def sample_outputs(peer: Peer, fmt: str, sample: Sequence[tuple[str, int]], work: Path) -> list[tuple[Path, Path]]:
    """Fetch the sample's outputs from a fresh server; (source photo, saved output) pairs."""
    folder = work / "outputs" / peer.name
    folder.mkdir(parents=True, exist_ok=True)
    pairs = []
    with serving(peer, work) as (_, port):
        for photo, width in sample:
            status, _, body = sync_get(port, peer.url(photo, width, fmt), timeout=120)
            if status != 200:
                sys.exit(f"{peer.name}: {photo}@{width}.{fmt} answered {status}")
            out = folder / f"{Path(photo).stem}@{width}.{fmt}"
            out.write_bytes(body)
            pairs.append((ORIGIN / photo, out))
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


def report(runs: list[Run], quality: dict[tuple[str, str], float], sizes: dict[tuple[str, str], float]) -> None:
    formats = list(dict.fromkeys(r.fmt for r in runs))
    print()
    header = f"{'format':6s} {'server':16s} {'conns':>5s} {'req/s':>7s} {'p50 ms':>7s} {'p99 ms':>7s}"
    header += f" {'CPU ms/req':>10s} {'KiB':>6s} {'ssimu2':>7s} {'errors':>6s}"
    print(header)
    for fmt in formats:
        for r in (r for r in runs if r.fmt == fmt):
            lat = sorted(r.measured.latencies)
            score = quality.get((r.server, fmt), float("nan"))
            print(
                f"{fmt:6s} {r.server:16s} {r.connections:5d} {r.rps:7.2f} {percentile(lat, 50) * 1000:7.0f} "
                f"{percentile(lat, 99) * 1000:7.0f} {r.cpu_ms:10.1f} {sizes[(r.server, fmt)]:6.1f} {score:7.2f} "
                f"{r.errors:6d}"
            )
    print("\nEnlarger ÷ best peer (CPU per request: lower is better; throughput: higher is better)")
    summary = []
    for fmt in formats:
        for connections in sorted({r.connections for r in runs if r.fmt == fmt}):
            here = [r for r in runs if r.fmt == fmt and r.connections == connections]
            ours = next((r for r in here if r.server == "enlarger"), None)
            others = [r for r in here if not r.server.startswith("enlarger")]
            if ours is None or not others:
                continue
            cheapest = min(others, key=lambda r: r.cpu_ms)
            fastest = max(others, key=lambda r: r.rps)
            cpu_ratio, rps_ratio = ours.cpu_ms / cheapest.cpu_ms, ours.rps / fastest.rps
            print(
                f"  {fmt:5s} c={connections}: CPU {cpu_ratio:5.2f}× ({cheapest.server}), "
                f"throughput {rps_ratio:5.2f}× ({fastest.server})"
            )
            summary.append(f"{fmt} c{connections} cpu {cpu_ratio:.2f}× req/s {rps_ratio:.2f}×")
    print("Enlarger ÷ best peer: " + "; ".join(summary))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer requests, connections 1 and 8 (about a minute)")
    parser.add_argument("--formats", default="jpeg,webp,avif")
    parser.add_argument("--connections", default=None, help="comma-separated (default 1,2,8; --quick 1,8)")
    parser.add_argument("--servers", default="enlarger,thumbor,sharp")
    parser.add_argument("--requests", type=int, default=None, help="per run (default 45, AVIF 30; --quick 15)")
    parser.add_argument("--sample", type=int, default=None, help="outputs scored per server and format (default 5)")
    parser.add_argument("--no-score", action="store_true")
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
    print(f"machine: {machine()}")
    print(
        f"work: {len(photos)} photos, widths 600–999, quality {QUALITY}; JPEG progressive+optimised for all; "
        f"WebP effort/method {WEBP_EFFORT}; AVIF libaom speed {9 - AVIF_EFFORT} (Enlarger avif_effort "
        f"{AVIF_EFFORT}, sharp effort {AVIF_EFFORT}, thumbor AVIF_SPEED {9 - AVIF_EFFORT}); servers: "
        + ", ".join(p.name for p in servers)
    )
    runs: list[Run] = []
    quality: dict[tuple[str, str], float] = {}
    sizes: dict[tuple[str, str], float] = {}
    work = Path(tempfile.mkdtemp(prefix="peers-"))
    try:
        for fmt in args.formats.split(","):
            count = args.requests or (15 if args.quick else 30 if fmt == "avif" else 45)
            work_list = jobs(photos, count)
            for step, c in enumerate(connections):
                order = servers[step % len(servers) :] + servers[: step % len(servers)]
                for peer in order:
                    run = measure(peer, fmt, c, work_list, work)
                    runs.append(run)
                    sizes[(peer.name, fmt)] = run.measured.nbytes / max(1, len(run.measured.latencies)) / 1024
                    print(
                        f"  {fmt} c={c} {peer.name:9s} {run.rps:6.2f} req/s {run.cpu_ms:6.1f} ms CPU/req",
                        file=sys.stderr,
                        flush=True,
                    )
            if not args.no_score:
                sample = work_list[: args.sample or (3 if args.quick else 5)]
                for peer in servers:
                    pairs = sample_outputs(peer, fmt, sample, work)
                    quality[(peer.name, fmt)] = statistics.mean(scores(pairs))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(runs, quality, sizes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
