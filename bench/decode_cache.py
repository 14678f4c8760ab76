"""CPU per cache miss with and without the decoded-copy cache (issue 26), side by side.

Workloads, each on a 12-megapixel source (a corpus photo cropped to 4000×3000 and saved as PNG and
as WebP, the formats without useful shrink-on-load):

- **srcset burst**: one source asked at 6 widths × 3 formats (JPEG, WebP, AVIF), in a shuffled
  order, as a page's ``srcset`` with ``format=auto`` does for three kinds of browser: 18 misses;
- **one output per source**: a new source for every request (where no copy can help: what the
  cache costs when it is of no use).

Each variant is a worker process (``decode_cache_bytes`` = 0, "off", or the default, "on"), one
libvips thread, libvips' operation cache off. Every burst is a new source to the workers (its own
``source_id``), so it pays the first request (remembered only), the copy and the hits. Variants
run one after another within each round, their order rotated every round, so the shared machine's
load falls on both alike. The figure is the worker's process CPU time (all its threads) per output;
the median over rounds is printed with the ratio on/off. Run from the repository root:

    .venv/bin/python bench/corpus.py        # the photos
    .venv/bin/python bench/decode_cache.py  # ≈ 3 min on 2 cores; --rounds 5 for steadier figures
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SRC = BENCH.parent / "src"
PHOTO = BENCH / "corpus" / "photos" / "Elephants_5640x3172.jpg"
WIDTHS = (320, 640, 960, 1280, 1600, 1920)
FORMATS = ("jpeg", "webp", "avif")
SIZE = (4000, 3000)
VARIANTS = {"off": 0, "on": None}  # decode_cache_bytes (None: the default)


def _start(limit: int | None) -> None:
    """A worker's set-up: the tree's engine, one libvips thread, no operation cache."""
    sys.path.insert(0, str(SRC))
    os.environ["VIPS_CONCURRENCY"] = "1"
    import pyvips

    pyvips.cache_set_max(0)
    pyvips.concurrency_set(1)
    global _SETTINGS
    from enlarger.settings import Settings

    _SETTINGS = Settings() if limit is None else Settings(decode_cache_bytes=limit)


_SETTINGS: object = None


def _run(data: bytes, jobs: list[tuple[str, str]]) -> tuple[float, int]:
    """Transform ``data`` for every (source id, options) job; the worker's CPU seconds and output bytes."""
    from enlarger.pipeline import transform
    from enlarger.settings import Settings

    assert isinstance(_SETTINGS, Settings)
    started = time.process_time()
    size = 0
    for source_id, options in jobs:
        size += len(transform(data, options, settings=_SETTINGS, source_id=source_id).data)
    return time.process_time() - started, size


def _sources(photo: Path) -> dict[str, bytes]:
    sys.path.insert(0, str(SRC))
    import pyvips

    image = pyvips.Image.new_from_file(str(photo))
    scale = max(SIZE[0] / image.width, SIZE[1] / image.height)
    image = image.resize(scale).crop(0, 0, *SIZE).copy_memory()
    return {"PNG": bytes(image.pngsave_buffer()), "WebP": bytes(image.webpsave_buffer(Q=90))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--photo", type=Path, default=PHOTO)
    parser.add_argument("--distinct", type=int, default=4, help="sources in the one-output-per-source workload")
    args = parser.parse_args(argv)
    if not args.photo.exists():
        parser.error(f"{args.photo} is missing: run bench/corpus.py first")
    sources = _sources(args.photo)
    print(f"sources {SIZE[0]}×{SIZE[1]}: " + ", ".join(f"{k} {len(v) / 1e6:.1f} MB" for k, v in sources.items()))
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: libvips' threads do not survive fork
    pools = {
        name: ProcessPoolExecutor(1, mp_context=spawn, initializer=_start, initargs=(limit,))
        for name, limit in VARIANTS.items()
    }
    rng = random.Random(26)
    cpu: dict[tuple[str, str, str], list[float]] = {}
    sizes: dict[tuple[str, str, str], int] = {}
    try:
        for round_ in range(args.rounds):
            for kind, data in sources.items():
                burst = [f"width={w},format={f}" for w in WIDTHS for f in FORMATS]
                rng.shuffle(burst)
                workloads = {
                    "srcset burst": [(f"burst-{round_}-{kind}", options) for options in burst],
                    "one output per source": [
                        (f"one-{round_}-{kind}-{i}", f"width={rng.choice(WIDTHS)},format={rng.choice(FORMATS)}")
                        for i in range(args.distinct)
                    ],
                }
                for workload, jobs in workloads.items():
                    names = list(pools)[round_ % 2 :] + list(pools)[: round_ % 2]
                    for name in names:
                        seconds, nbytes = pools[name].submit(_run, data, jobs).result()
                        cpu.setdefault((kind, workload, name), []).append(seconds * 1000 / len(jobs))
                        sizes[(kind, workload, name)] = nbytes // len(jobs)
            print(f"round {round_ + 1} of {args.rounds} done", file=sys.stderr, flush=True)
    finally:
        for pool in pools.values():
            pool.shutdown()
    print()
    print("| source | workload | CPU ms per output, cache off | on | on ÷ off | KiB per output off / on |")
    print("| --- | --- | ---: | ---: | ---: | --- |")
    for kind in sources:
        for workload in ("srcset burst", "one output per source"):
            off, on = (statistics.median(cpu[(kind, workload, name)]) for name in VARIANTS)
            spread = ", ".join(
                f"{name} {min(cpu[(kind, workload, name)]):.0f}–{max(cpu[(kind, workload, name)]):.0f}"
                for name in VARIANTS
            )
            kib = " / ".join(f"{sizes[(kind, workload, name)] / 1024:.1f}" for name in VARIANTS)
            print(f"| {kind} | {workload} | {off:.1f} | {on:.1f} | **{on / off:.2f}** | {kib} |  <!-- {spread} -->")
    return 0


if __name__ == "__main__":
    sys.exit(main())
