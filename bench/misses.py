"""CPU per cache miss in process, for engine variants run side by side: before/after of each speed lever.

Each variant is a worker process running ``enlarger.pipeline.transform`` from its own source tree
(``--variant LABEL=SRC_DIR``) and/or with its own settings (``LABEL=SRC_DIR:webp_effort=2,...``,
passed as ``ENLARGER_*`` environment variables) or libvips concurrency (``vips_concurrency=1``).
The jobs (the corpus photos up to 3840 px × widths 600–999, as in the HTTP benchmarks) are sent to
every worker in turn, the order of the workers rotated every job, so noise from other processes on
a shared machine falls on all variants alike. A job's time is the worker's ``process_time`` around
one ``transform`` call (all its threads), the median over ``--rounds``; the table gives the mean and
median over jobs, output bytes, and optionally (``--score``) SSIMULACRA2 on a sample (see
``bench/peer_scores.py``).

Compare the tree as it was with the working tree::

    git archive BASE src | tar -x -C /tmp/base
    .venv/bin/python bench/misses.py --variant before=/tmp/base/src --variant after=src --formats jpeg,webp

libvips' operation cache is off in every worker, so repeated rounds are real work.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

BENCH = Path(__file__).resolve().parent
PHOTOS = BENCH / "corpus" / "photos"
WIDTHS = (600, 700, 800, 900, 999)
MAX_WIDTH = 3840  # the corpus: 15 photos of 1280–3840 px (the 5640 px one is left out)
QUALITY = 80  # as in the peers benchmark (bench/peers.py) and speed-notes


@dataclass(frozen=True)
class Variant:
    label: str
    src: Path
    settings: dict[str, str]


@dataclass
class Tally:
    ms: dict[str, list[float]] = field(default_factory=dict)  # job id -> CPU ms per round
    nbytes: dict[str, int] = field(default_factory=dict)
    saved: dict[str, Path] = field(default_factory=dict)  # job id -> output file (for --score)


def parse_variant(text: str) -> Variant:
    label, _, rest = text.partition("=")
    src, _, overrides = rest.partition(":")
    if not label or not src:
        raise argparse.ArgumentTypeError(f"expected LABEL=SRC_DIR[:name=value,...], got {text!r}")
    pairs = dict(item.split("=", 1) for item in overrides.split(",") if item)
    return Variant(label, Path(src).resolve(), pairs)


def photos() -> list[Path]:
    import pyvips

    found = []
    for path in sorted(PHOTOS.glob("*.jpg")):
        if pyvips.Image.new_from_file(str(path)).width <= MAX_WIDTH:
            found.append(path)
    if not found:
        sys.exit("no corpus: run bench/corpus.py first")
    return found


def worker() -> int:
    """One variant: read JSON jobs from stdin, answer CPU ms and bytes (and save the output if asked)."""
    import time

    import pyvips

    from enlarger.pipeline import transform
    from enlarger.settings import load_settings

    pyvips.cache_set_max(0)
    threads = int(os.environ.get("BENCH_VIPS_CONCURRENCY", "0"))
    if threads:
        pyvips.concurrency_set(threads)
    settings = load_settings()
    sources: dict[str, bytes] = {}
    for line in sys.stdin:
        job = json.loads(line)
        data = sources.setdefault(job["photo"], Path(job["photo"]).read_bytes())
        started = time.process_time()
        result = transform(data, job["options"], settings=settings)
        spent = time.process_time() - started
        if job.get("save"):
            Path(job["save"]).write_bytes(result.data)
        print(json.dumps({"ms": spent * 1000, "bytes": len(result.data)}), flush=True)
    return 0


class Worker:
    def __init__(self, variant: Variant) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENLARGER_")}
        env["PYTHONPATH"] = str(variant.src)
        for name, value in variant.settings.items():
            if name == "vips_concurrency":
                env["BENCH_VIPS_CONCURRENCY"] = value
            else:
                env[f"ENLARGER_{name.upper()}"] = value
        self.variant = variant
        self.process = subprocess.Popen(
            [sys.executable, "-P", str(Path(__file__).resolve()), "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )

    def run(self, job: dict[str, str]) -> tuple[float, int]:
        stdin: IO[str] | None = self.process.stdin
        stdout: IO[str] | None = self.process.stdout
        assert stdin is not None and stdout is not None
        stdin.write(json.dumps(job) + "\n")
        stdin.flush()
        line = stdout.readline()
        if not line:
            sys.exit(f"worker {self.variant.label} died (exit {self.process.wait()})")
        answer = json.loads(line)
        return float(answer["ms"]), int(answer["bytes"])

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", type=parse_variant, action="append", default=[])
    parser.add_argument("--formats", default="jpeg,webp")
    parser.add_argument("--widths", default=",".join(map(str, WIDTHS)))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quality", type=int, default=QUALITY)
    parser.add_argument("--extra", default="", help="more options for every job, e.g. compression=fast")
    parser.add_argument("--score", action="store_true", help="SSIMULACRA2 of widths 600/800/999 (slow)")
    parser.add_argument("--json", type=Path, help="write the per-job results here")
    args = parser.parse_args(argv)
    if args.worker:
        return worker()
    if not args.variant:
        parser.error("give at least one --variant LABEL=SRC_DIR[:setting=value,...]")
    widths = [int(w) for w in args.widths.split(",")]
    formats = args.formats.split(",")
    photo_list = photos()
    jobs = [(fmt, p, w) for fmt in formats for p in photo_list for w in widths]
    random.Random(14).shuffle(jobs)
    workers = [Worker(v) for v in args.variant]
    tallies = {v.label: {fmt: Tally() for fmt in formats} for v in args.variant}
    save_dir = Path(tempfile.mkdtemp(prefix="misses-")) if args.score else None
    try:
        for round_ in range(args.rounds):
            for number, (fmt, photo, width) in enumerate(jobs):
                job_id = f"{photo.stem}@{width}"
                options = f"width={width},format={fmt},quality={args.quality}"
                options += f",{args.extra}" if args.extra else ""
                turn = (number + round_) % len(workers)
                for w in workers[turn:] + workers[:turn]:
                    tally = tallies[w.variant.label][fmt]
                    job = {"photo": str(photo), "options": options}
                    if save_dir is not None and round_ == 0 and width in (600, 800, 999):
                        out = save_dir / w.variant.label / fmt / f"{job_id}.{fmt}"
                        out.parent.mkdir(parents=True, exist_ok=True)
                        job["save"] = str(out)
                        tally.saved[job_id] = out
                    ms, nbytes = w.run(job)
                    tally.ms.setdefault(job_id, []).append(ms)
                    tally.nbytes[job_id] = nbytes
            print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    finally:
        for w in workers:
            w.close()
    scores = _scores(tallies) if save_dir is not None else {}
    report(tallies, formats, scores, args)
    return 0


def _scores(tallies: dict[str, dict[str, Tally]]) -> dict[tuple[str, str], float]:
    from peer_scores import mean_score

    out = {}
    for label, per_format in tallies.items():
        for fmt, tally in per_format.items():
            pairs = [(photo_of(job_id), path) for job_id, path in sorted(tally.saved.items())]
            out[(label, fmt)] = mean_score(pairs)
    return out


def photo_of(job_id: str) -> Path:
    return PHOTOS / f"{job_id.split('@')[0]}.jpg"


def report(
    tallies: dict[str, dict[str, Tally]],
    formats: list[str],
    scores: dict[tuple[str, str], float],
    args: argparse.Namespace,
) -> None:
    print(f"\nCPU per transform (ms, process_time, median of {args.rounds} rounds per job; Q{args.quality})")
    first = next(iter(tallies))
    print(f"{'variant':28s} {'format':6s} {'mean':>7s} {'median':>7s} {'KiB':>7s} {'vs ' + first:>9s} {'ssimu2':>7s}")
    for fmt in formats:
        base_mean = statistics.mean(statistics.median(v) for v in tallies[first][fmt].ms.values())
        for label, per_format in tallies.items():
            tally = per_format[fmt]
            medians = [statistics.median(v) for v in tally.ms.values()]
            mean = statistics.mean(medians)
            kib = statistics.mean(tally.nbytes.values()) / 1024
            score = scores.get((label, fmt))
            score_text = f"{score:7.2f}" if score is not None else "      -"
            print(
                f"{label:28s} {fmt:6s} {mean:7.1f} {statistics.median(medians):7.1f} {kib:7.1f} "
                f"{mean / base_mean:8.3f}x {score_text}"
            )
    if args.json:
        dump = {
            label: {fmt: {"ms": t.ms, "bytes": t.nbytes} for fmt, t in per_format.items()}
            for label, per_format in tallies.items()
        }
        args.json.write_text(json.dumps(dump, indent=1))


if __name__ == "__main__":
    raise SystemExit(main())
