"""Named qualities as perceptual targets: bytes, consistency and CPU against fixed encoder qualities.

For each photo of the corpus (``bench/corpus.py`` builds it) and each format, the output at
``--width`` is made losslessly (the reference pixels), then

* on a grid of fixed encoder qualities: bytes and the SSIMULACRA2 score of the *whole* output;
* for each named level with the per-image search (``quality_search``): bytes, score, and the
  search's CPU time (a cold call minus a warm one: the warm call finds the memoised quality).

Then the formats against each other: at SSIMULACRA2 65, 72, 80 and 90, the bytes each needs
(every image at the quality that reaches the score) and its median encode CPU time (all threads).

Reported per format and level: the searched outputs' mean score, spread (standard deviation, min)
and bytes, against (a) the level's former fixed quality, (b) the one fixed quality whose mean score
equals the search's (bytes at equal mean score), (c) the lowest fixed quality that brings *every*
image to the search's floor (target − tolerance; bytes at equal worst case). Fixed-quality values
between grid points are interpolated per image. ``--calibrate`` prints the median JPEG score of
each former fixed quality (how ``quality_search.TARGETS`` was chosen).

Run: ``.venv/bin/python bench/quality.py [--photos 3] [--width 640] [--formats jpeg,webp,avif,jxl]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyvips
from numpy.typing import NDArray

from enlarger import codecs, quality_search
from enlarger.options import NAMED_QUALITY
from enlarger.perceptual import Reference
from enlarger.pipeline import transform

PHOTOS = Path(__file__).resolve().parent / "corpus" / "photos"
GRID = (30, 40, 50, 60, 65, 70, 80, 85, 90, 95)
LEVELS = tuple(NAMED_QUALITY)


def rgb(data: bytes) -> NDArray[np.uint8]:
    header = codecs.probe(data)
    image = codecs.load(data, header, (header.width, header.height), all_frames=False)
    image = image.extract_band(0, n=3) if image.bands > 3 else image
    return np.ndarray(buffer=image.write_to_memory(), dtype=np.uint8, shape=(image.height, image.width, 3))


@dataclass
class Curve:
    """One image, one format: bytes and score at each grid quality, and the searched answers."""

    size: dict[int, int] = field(default_factory=dict)
    score: dict[int, float] = field(default_factory=dict)
    cpu: dict[int, float] = field(default_factory=dict)  # encode CPU seconds (all threads)
    searched: dict[str, tuple[int, int, float, float]] = field(default_factory=dict)  # q, bytes, score, cpu s

    def at(self, values: dict[int, int] | dict[int, float], q: float) -> float:
        grid = sorted(values)
        return float(np.interp(q, grid, [values[g] for g in grid]))

    def quality_for(self, target: float) -> float:
        """The (interpolated) fixed quality at which this image scores ``target``."""
        grid = sorted(self.score)
        scores = np.maximum.accumulate([self.score[g] for g in grid])  # monotone for interpolation
        return float(np.interp(target, scores, grid))


def measure(data: bytes, fmt: str, width: int) -> Curve:
    base = f"width={width},format={fmt},metadata=none"
    reference = Reference(rgb(transform(data, f"width={width},format=png").data))
    curve = Curve()
    pixels = transform(data, f"width={width},format=png").data
    for q in GRID:
        out = transform(data, f"{base},quality={q}").data
        curve.size[q], curve.score[q] = len(out), reference.score(rgb(out))
        start = time.process_time()  # the encode alone: from decoded pixels (PNG decodes in ~1 ms here)
        transform(pixels, f"{base},quality={q}")
        curve.cpu[q] = time.process_time() - start
    for level in LEVELS:
        start = time.process_time()
        out = transform(data, f"{base},quality={level}").data
        cold = time.process_time() - start
        start = time.process_time()
        transform(data, f"{base},quality={level}")
        warm = time.process_time() - start
        key = next(k for k in quality_search.MEMO._entries if k[1].endswith(f"quality={level},width={width}"))
        curve.searched[level] = (quality_search.MEMO._entries[key], len(out), reference.score(rgb(out)), cold - warm)
        quality_search.MEMO._entries.clear()
    return curve


def report(fmt: str, curves: list[Curve]) -> None:
    print(f"\n### {fmt} ({len(curves)} photos)\n")
    print(
        "| level | target | searched: mean ± sd (min) | bytes | fixed Q: mean ± sd (min) | bytes "
        "| equal mean: Q, bytes | equal floor: Q, bytes | search CPU ms (median) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for level in LEVELS:
        target, fixed = quality_search.TARGETS[level], NAMED_QUALITY[level]
        s_scores = [c.searched[level][2] for c in curves]
        s_bytes = sum(c.searched[level][1] for c in curves)
        f_scores = [c.at(c.score, fixed) for c in curves]
        f_bytes = sum(c.at(c.size, fixed) for c in curves)
        # (b) one fixed quality for all images with the same mean score as the search
        qs = np.linspace(min(GRID), max(GRID), 261)
        means = [statistics.mean(c.at(c.score, q) for c in curves) for q in qs]
        q_mean = float(np.interp(statistics.mean(s_scores), np.maximum.accumulate(means), qs))
        b_mean = sum(c.at(c.size, q_mean) for c in curves)
        # (c) one fixed quality that brings every image to the search's floor
        q_floor = max(c.quality_for(target - quality_search.TOLERANCE) for c in curves)
        b_floor = sum(c.at(c.size, q_floor) for c in curves)
        cpu = statistics.median(c.searched[level][3] for c in curves) * 1000
        print(
            f"| {level} | {target:g} | {statistics.mean(s_scores):.1f} ± {statistics.pstdev(s_scores):.1f} "
            f"({min(s_scores):.1f}) | {s_bytes / 1024:.0f} KiB | Q{fixed}: {statistics.mean(f_scores):.1f} ± "
            f"{statistics.pstdev(f_scores):.1f} ({min(f_scores):.1f}) | {f_bytes / 1024:.0f} KiB "
            f"| Q{q_mean:.0f}: {b_mean / 1024:.0f} KiB ({100 * (1 - s_bytes / b_mean):+.0f} %) "
            f"| Q{q_floor:.0f}: {b_floor / 1024:.0f} KiB ({100 * (1 - s_bytes / b_floor):+.0f} %) | {cpu:.0f} |"
        )


def compare(results: dict[str, list[Curve]]) -> None:
    """Formats against each other at equal SSIMULACRA2 (each image at the quality reaching the score)."""
    formats = list(results)
    print(
        f"\n### Formats at equal score ({len(next(iter(results.values())))} photos; bytes summed, "
        "encode CPU ms median)\n"
    )
    print("| score | " + " | ".join(formats) + " |")
    print("|---|" + "---|" * len(formats))
    for target in (65.0, 72.0, 80.0, 90.0):
        cells = []
        for fmt in formats:
            curves = results[fmt]
            qs = [c.quality_for(target) for c in curves]
            if any(c.at(c.score, max(GRID)) < target for c in curves):
                cells.append("not reached by every image")
                continue
            total = sum(c.at(c.size, q) for c, q in zip(curves, qs, strict=True))
            cpu = statistics.median(c.at(c.cpu, q) for c, q in zip(curves, qs, strict=True)) * 1000
            base = results[formats[0]]
            ref = sum(c.at(c.size, c.quality_for(target)) for c in base)
            cells.append(f"{total / 1024:.0f} KiB ({100 * (total / ref - 1):+.0f} %), {cpu:.0f} ms")
        print(f"| {target:g} | " + " | ".join(cells) + " |")


def calibrate(photos: list[Path], width: int) -> None:
    scores: dict[int, list[float]] = {q: [] for q in NAMED_QUALITY.values()}
    for path in photos:
        data = path.read_bytes()
        reference = Reference(rgb(transform(data, f"width={width},format=png").data))
        for q in scores:
            out = transform(data, f"width={width},format=jpeg,quality={q},metadata=none").data
            scores[q].append(reference.score(rgb(out)))
    for level, q in NAMED_QUALITY.items():
        print(
            f"{level}: JPEG Q{q} median SSIMULACRA2 {statistics.median(scores[q]):.1f} (spread {min(scores[q]):.1f}"
            f"–{max(scores[q]):.1f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=3)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--formats", default="jpeg,webp,avif,jxl")
    parser.add_argument("--calibrate", action="store_true")
    args = parser.parse_args()
    photos = sorted(p for p in PHOTOS.iterdir() if p.is_file() and not p.name.startswith("."))[: args.photos]
    if not photos:
        sys.exit("no photos: run bench/corpus.py first")
    pyvips.cache_set_max(0)
    if args.calibrate:
        calibrate(photos, args.width)
        return
    print(f"{len(photos)} photos at width {args.width}; SSIMULACRA2 of the whole output against lossless")
    results: dict[str, list[Curve]] = {}
    for fmt in args.formats.split(","):
        results[fmt] = [measure(p.read_bytes(), fmt, args.width) for p in photos]
        report(fmt, results[fmt])
    if len(results) > 1:
        compare(results)


if __name__ == "__main__":
    main()
