"""Benchmark the engine's ``transform`` against a hand-written pyvips floor and against Pillow.

For each option set, every corpus file is run through three implementations doing the same work:

* ``engine``: ``enlarger.pipeline.transform(data, options)``;
* ``floor``: the shortest hand-written pyvips code giving the same output (``thumbnail_buffer`` with
  shrink-on-load, the same crop, the same saver with the engine's parameters): what the engine would
  cost with zero overhead;
* ``pillow``: Pillow doing the same work the usual fast way (``draft`` shrink-on-load for JPEG with a
  reducing gap of 2 like libvips, ``exif_transpose``, LANCZOS with ``reducing_gap=2``, the same
  quality/progressive/effort settings).

The three run interleaved in one process (their order rotated every repeat) after a warm-up call, and
each file's time is the median of ``--repeat`` runs. libvips' operation cache is disabled
(``pyvips.cache_set_max(0)``) so neither the engine nor the floor is served from cache.

Peak memory is measured separately, one subprocess per (implementation, option set), since RSS is
process-wide: ``python bench/transform.py --rss engine --case jpeg-800``.

Build the corpus first: ``.venv/bin/python bench/corpus.py``. Then:
``.venv/bin/python bench/transform.py [--repeat 5] [--quick] [--case NAME ...] [--per-file] [--no-rss]``.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
CORPUS = BENCH / "corpus"
PHOTOS = CORPUS / "photos"
GENERATED = CORPUS / "generated"
ANIMATED_GIF = GENERATED / "animated-480x270.gif"

IMPLS = ("engine", "floor", "pillow")
QUALITY = 85  # the engine's default quality
WEBP_EFFORT = 4  # Settings.webp_effort default
AVIF_EFFORT = 2  # Settings.avif_effort default; libvips passes libheif speed = 9 - effort
GIF_EFFORT = 7  # the engine's gifsave effort
UNBOUNDED = 10_000_000  # "no limit" for the free axis of a width-only thumbnail
SLOWER_THRESHOLD = 1.10


@dataclass(frozen=True)
class Output:
    """What one implementation produced: enough to check the three did the same work."""

    width: int
    height: int  # of one frame
    frames: int
    nbytes: int


Impl = Callable[[bytes], Output]


@dataclass(frozen=True)
class Case:
    name: str
    options: str  # the engine's options string
    animated: bool
    describe: str


CASES: tuple[Case, ...] = (
    Case("jpeg-800", "width=800,format=jpeg", False, "thumbnail 800 px wide, JPEG Q85 progressive+optimized"),
    Case("webp-800", "width=800,format=webp", False, "thumbnail 800 px wide, WebP Q85 effort/method 4"),
    Case("avif-800", "width=800,format=avif", False, "thumbnail 800 px wide, AVIF Q85 effort 2 (speed 7), 8-bit"),
    Case("cover-400", "width=400,height=400,fit=cover", False, "cover crop 400×400, gravity centre, JPEG Q85"),
    Case("gif-200", "width=200,format=gif", True, "animated GIF resized to 200 px wide, all frames"),
)
CASE_NAMES = tuple(case.name for case in CASES)


# --------------------------------------------------------------------------------------------
# the three implementations (imports are lazy so an --rss child loads only its own libraries)


def _vips_output(image: object, data: bytes) -> Output:
    import pyvips

    assert isinstance(image, pyvips.Image)
    page = int(image.get("page-height")) if "page-height" in image.get_fields() else image.height
    if not 0 < page <= image.height or image.height % page:
        page = image.height
    return Output(image.width, page, image.height // page, len(data))


def make_engine(case: Case) -> Impl:
    import pyvips

    from enlarger.pipeline import transform

    pyvips.cache_set_max(0)
    options = case.options

    def run(data: bytes) -> Output:
        result = transform(data, options)
        return Output(result.width, result.height, result.frames, len(result.data))

    return run


def make_floor(case: Case) -> Impl:
    """The least pyvips code that produces the same output as the engine."""
    import pyvips

    pyvips.cache_set_max(0)
    keep_none = pyvips.enums.ForeignKeep.NONE
    load_options = "fail_on=truncated"

    def save_jpeg(image: pyvips.Image) -> bytes:
        return bytes(image.jpegsave_buffer(Q=QUALITY, interlace=True, optimize_coding=True, keep=keep_none))

    def save_webp(image: pyvips.Image) -> bytes:
        return bytes(image.webpsave_buffer(Q=QUALITY, lossless=False, effort=WEBP_EFFORT, keep=keep_none))

    def save_avif(image: pyvips.Image) -> bytes:
        return bytes(
            image.heifsave_buffer(Q=QUALITY, compression="av1", effort=AVIF_EFFORT, bitdepth=8, keep=keep_none)
        )

    def save_gif(image: pyvips.Image) -> bytes:
        return bytes(image.gifsave_buffer(effort=GIF_EFFORT, keep=keep_none))

    def width_only(width: int, save: Callable[[pyvips.Image], bytes], option_string: str) -> Impl:
        def run(data: bytes) -> Output:
            image = pyvips.Image.thumbnail_buffer(
                data, width, height=UNBOUNDED, size="down", option_string=option_string
            )
            return _vips_output(image, save(image))

        return run

    def cover(width: int, height: int) -> Impl:
        def run(data: bytes) -> Output:
            image = pyvips.Image.thumbnail_buffer(data, width, height=height, crop="centre", option_string=load_options)
            return _vips_output(image, save_jpeg(image))

        return run

    impls: dict[str, Impl] = {
        "jpeg-800": width_only(800, save_jpeg, load_options),
        "webp-800": width_only(800, save_webp, load_options),
        "avif-800": width_only(800, save_avif, load_options),
        "cover-400": cover(400, 400),
        "gif-200": width_only(200, save_gif, load_options + ",n=-1"),
    }
    return impls[case.name]


def pillow_avif() -> bool:
    from PIL import features

    return bool(features.check("avif"))


def make_pillow(case: Case) -> Impl | None:
    """Pillow doing the same work the usual fast way; ``None`` where this Pillow cannot (no AVIF)."""
    from PIL import Image, ImageOps, ImageSequence

    if case.name == "avif-800" and not pillow_avif():
        return None
    lanczos = Image.Resampling.LANCZOS
    swapping = (5, 6, 7, 8)

    def open_still(data: bytes) -> tuple[Image.Image, int]:
        image = Image.open(io.BytesIO(data))
        return image, int(image.getexif().get(0x0112, 1))

    def upright(image: Image.Image) -> Image.Image:
        ImageOps.exif_transpose(image, in_place=True)
        return image if image.mode in ("RGB", "L") else image.convert("RGB")

    def save(image: Image.Image, fmt: str) -> bytes:
        buffer = io.BytesIO()
        if fmt == "JPEG":
            image.save(buffer, "JPEG", quality=QUALITY, progressive=True, optimize=True)
        elif fmt == "WEBP":
            image.save(buffer, "WEBP", quality=QUALITY, method=WEBP_EFFORT)
        else:
            image.save(buffer, "AVIF", quality=QUALITY, speed=9 - AVIF_EFFORT)
        return buffer.getvalue()

    def width_only(width: int, fmt: str) -> Impl:
        def run(data: bytes) -> Output:
            image, orientation = open_still(data)
            box = (UNBOUNDED, width) if orientation in swapping else (width, UNBOUNDED)
            image.thumbnail(box, lanczos)  # draft() to >= 2× the target, then reduce + LANCZOS (gap 2)
            image = upright(image)
            return Output(image.width, image.height, 1, len(save(image, fmt)))

        return run

    def cover(width: int, height: int) -> Impl:
        def run(data: bytes) -> Output:
            image, orientation = open_still(data)
            sw, sh = image.size
            ow, oh = (sh, sw) if orientation in swapping else (sw, sh)
            scale = max(width / ow, height / oh)
            dw, dh = round(ow * scale * 2), round(oh * scale * 2)  # draft to >= 2× the scaled size
            image.draft("RGB", (dh, dw) if orientation in swapping else (dw, dh))
            image = upright(image)
            sw, sh = image.size
            cw, ch = (sw, sw * height / width) if sw * height <= sh * width else (sh * width / height, sh)
            left, top = (sw - cw) / 2, (sh - ch) / 2
            image = image.resize((width, height), lanczos, box=(left, top, left + cw, top + ch), reducing_gap=2.0)
            return Output(image.width, image.height, 1, len(save(image, "JPEG")))

        return run

    def animated(width: int) -> Impl:
        def run(data: bytes) -> Output:
            source = Image.open(io.BytesIO(data))
            frames: list[Image.Image] = []
            durations: list[int] = []
            for frame in ImageSequence.Iterator(source):
                mode = "RGBA" if frame.has_transparency_data else "RGB"
                rgb = frame.convert(mode)
                height = max(1, round(rgb.height * width / rgb.width))
                frames.append(rgb.resize((width, height), lanczos, reducing_gap=2.0))
                durations.append(int(frame.info.get("duration", 100)))
            buffer = io.BytesIO()
            frames[0].save(
                buffer,
                "GIF",
                save_all=True,
                append_images=frames[1:],
                duration=durations,
                loop=int(source.info.get("loop", 0)),
            )
            return Output(frames[0].width, frames[0].height, len(frames), len(buffer.getvalue()))

        return run

    impls: dict[str, Impl] = {
        "jpeg-800": width_only(800, "JPEG"),
        "webp-800": width_only(800, "WEBP"),
        "avif-800": width_only(800, "AVIF"),
        "cover-400": cover(400, 400),
        "gif-200": animated(200),
    }
    return impls[case.name]


def make_impl(name: str, case: Case) -> Impl | None:
    if name == "engine":
        return make_engine(case)
    if name == "floor":
        return make_floor(case)
    return make_pillow(case)


# --------------------------------------------------------------------------------------------
# corpus


def corpus_files(case: Case, quick: bool) -> list[Path]:
    if case.animated:
        files = [ANIMATED_GIF] if ANIMATED_GIF.exists() else []
    else:
        photos = sorted(p for p in PHOTOS.glob("*.jpg") if p.is_file())
        generated = sorted(p for p in GENERATED.glob("*.jpg") if p.is_file())
        if quick and photos:
            by_size = sorted(photos, key=lambda p: p.stat().st_size)
            photos = sorted({by_size[0], by_size[len(by_size) // 2], by_size[-1]})
        files = photos + generated
    if not files:
        sys.exit("the corpus is missing: run .venv/bin/python bench/corpus.py first")
    return files


# --------------------------------------------------------------------------------------------
# timing


@dataclass
class FileTimes:
    path: Path
    seconds: dict[str, list[float]] = field(default_factory=dict)
    outputs: dict[str, Output] = field(default_factory=dict)

    def median_ms(self, impl: str) -> float:
        return statistics.median(self.seconds[impl]) * 1000


@dataclass
class CaseResult:
    case: Case
    impls: tuple[str, ...]
    files: list[FileTimes]
    notes: list[str] = field(default_factory=list)

    def mean_ms(self, impl: str) -> float | None:
        if impl not in self.impls:
            return None
        return statistics.fmean(f.median_ms(impl) for f in self.files)

    def ratio(self, a: str, b: str) -> float | None:
        ma, mb = self.mean_ms(a), self.mean_ms(b)
        return None if ma is None or mb is None else ma / mb

    def worst(self, a: str, b: str) -> tuple[float, str] | None:
        if a not in self.impls or b not in self.impls:
            return None
        return max((f.median_ms(a) / f.median_ms(b), f.path.name) for f in self.files)

    def mean_kb(self, impl: str) -> float | None:
        if impl not in self.impls:
            return None
        return statistics.fmean(f.outputs[impl].nbytes for f in self.files) / 1024


def _check_same_work(case: Case, times: FileTimes, notes: list[str]) -> None:
    reference = times.outputs["floor"]
    for impl, out in times.outputs.items():
        if impl == "floor":
            continue
        if (
            abs(out.width - reference.width) > 1
            or abs(out.height - reference.height) > 1
            or out.frames != reference.frames
        ):
            notes.append(
                f"{case.name} {times.path.name}: {impl} gave {out.width}×{out.height}×{out.frames} frames, "
                f"floor {reference.width}×{reference.height}×{reference.frames}"
            )


def time_case(case: Case, files: Sequence[Path], repeat: int, progress: bool) -> CaseResult:
    built = {name: make_impl(name, case) for name in IMPLS}
    impls = {name: impl for name, impl in built.items() if impl is not None}
    result = CaseResult(case, tuple(impls), [])
    if "pillow" not in impls:
        result.notes.append(f"{case.name}: Pillow has no AVIF support here (features.check('avif') is false); skipped")
    order = list(impls)
    for path in files:
        data = path.read_bytes()
        times = FileTimes(path, {name: [] for name in order})
        for name in order:  # warm-up, and the outputs to compare
            times.outputs[name] = impls[name](data)
        _check_same_work(case, times, result.notes)
        gc.collect()
        for r in range(repeat):
            rotated = order[r % len(order) :] + order[: r % len(order)]
            for name in rotated:
                start = time.perf_counter()
                impls[name](data)
                times.seconds[name].append(time.perf_counter() - start)
        result.files.append(times)
        if progress:
            cells = "  ".join(f"{name} {times.median_ms(name):7.1f}" for name in order)
            print(f"  {case.name:10} {path.name:28} {cells}", file=sys.stderr, flush=True)
    return result


# --------------------------------------------------------------------------------------------
# peak memory, one subprocess per (implementation, case)


def _vm_hwm_kb() -> int | None:
    """This process' own peak RSS (VmHWM). Unlike ru_maxrss it is not inherited across fork+exec."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _peak_kb() -> int:
    hwm = _vm_hwm_kb()
    if hwm is not None:
        return hwm
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


def rss_child(impl_name: str, case: Case, quick: bool) -> dict[str, object]:
    """Run one implementation once over the case's files; report baseline and peak RSS (KiB)."""
    impl = make_impl(impl_name, case)
    files = corpus_files(case, quick)
    baseline = _peak_kb()  # after importing the implementation's libraries, before any image
    if impl is None:
        return {"impl": impl_name, "case": case.name, "skipped": True}
    for path in files:
        impl(path.read_bytes())
    return {
        "impl": impl_name,
        "case": case.name,
        "baseline_kb": baseline,
        "peak_kb": _peak_kb(),
        "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "largest_input_kb": max(p.stat().st_size for p in files) // 1024,
    }


def measure_rss(cases: Sequence[Case], quick: bool) -> dict[tuple[str, str], dict[str, object]]:
    results: dict[tuple[str, str], dict[str, object]] = {}
    for case in cases:
        for impl in IMPLS:
            command = [sys.executable, str(Path(__file__).resolve()), "--rss", impl, "--case", case.name]
            if quick:
                command.append("--quick")
            done = subprocess.run(command, check=True, capture_output=True, text=True)
            results[(impl, case.name)] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


# --------------------------------------------------------------------------------------------
# reporting


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = [
        "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths, strict=True)))
    ]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append(
            "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        )
    return "\n".join(lines)


def environment() -> str:
    import PIL
    import pyvips

    concurrency = pyvips.vips_lib.vips_concurrency_get() if hasattr(pyvips.vips_lib, "vips_concurrency_get") else "?"
    return (
        f"python {platform.python_version()}, libvips {pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)} "
        f"(pyvips {pyvips.__version__}, vips concurrency {concurrency}), Pillow {PIL.__version__} "
        f"(AVIF {'yes' if pillow_avif() else 'no'}), {os.cpu_count()} CPUs\n"
        "libvips operation cache: disabled for engine and floor (pyvips.cache_set_max(0)); "
        "all three run interleaved in one process, order rotated each repeat, after one warm-up call\n"
        "caveats: libvips runs its pipeline on `vips concurrency` threads, Pillow resizes on one; "
        "for gif-200 Pillow quantizes each frame with its median-cut palette and no dithering, while "
        "libvips' gifsave (effort 7) uses libimagequant with dithering: not the same encoder work"
    )


def report(results: Sequence[CaseResult], repeat: int) -> str:
    headers = [
        "option set",
        "files",
        "engine ms",
        "floor ms",
        "Pillow ms",
        "engine/floor",
        "engine/Pillow",
        "worst engine/floor",
    ]
    rows = []
    for res in results:
        worst = res.worst("engine", "floor")
        rows.append(
            [
                res.case.name,
                str(len(res.files)),
                _fmt(res.mean_ms("engine"), ".1f"),
                _fmt(res.mean_ms("floor"), ".1f"),
                _fmt(res.mean_ms("pillow"), ".1f"),
                _fmt(res.ratio("engine", "floor"), ".2f"),
                _fmt(res.ratio("engine", "pillow"), ".2f"),
                "—" if worst is None else f"{worst[0]:.2f} ({worst[1]})",
            ]
        )
    size_rows = [
        [res.case.name, res.case.options] + [_fmt(res.mean_kb(impl), ".1f") for impl in IMPLS] for res in results
    ]
    parts = [
        f"Time per image: each file's median of {repeat} runs, averaged over the files (ms)",
        _table(headers, rows),
        "",
        "Mean output size (KiB), to check the three did comparable work",
        _table(["option set", "engine options", "engine", "floor", "Pillow"], size_rows),
    ]
    slow = [res for res in results if (r := res.ratio("engine", "floor")) is not None and r > SLOWER_THRESHOLD]
    parts.append("")
    if slow:
        parts.append(
            f"engine more than {SLOWER_THRESHOLD - 1:.0%} slower than the pyvips floor: "
            + ", ".join(f"{res.case.name} ({res.ratio('engine', 'floor'):.2f}×)" for res in slow)
        )
    else:
        parts.append(f"engine within {SLOWER_THRESHOLD - 1:.0%} of the pyvips floor for every option set")
    notes = [note for res in results for note in res.notes]
    if notes:
        parts += ["", "notes:", *(f"  {note}" for note in notes)]
    return "\n".join(parts)


def per_file_report(results: Sequence[CaseResult]) -> str:
    headers = ["option set / file", "KiB in", "engine ms", "floor ms", "Pillow ms", "engine/floor"]
    rows = []
    for res in results:
        for f in res.files:
            rows.append(
                [
                    f"{res.case.name} {f.path.name}",
                    str(f.path.stat().st_size // 1024),
                    f"{f.median_ms('engine'):.1f}",
                    f"{f.median_ms('floor'):.1f}",
                    f"{f.median_ms('pillow'):.1f}" if "pillow" in res.impls else "—",
                    f"{f.median_ms('engine') / f.median_ms('floor'):.2f}",
                ]
            )
    return _table(headers, rows)


def rss_report(rss: dict[tuple[str, str], dict[str, object]], cases: Sequence[Case]) -> str:
    def mib(value: object) -> str:
        return f"{int(str(value)) / 1024:.0f}" if isinstance(value, int) else "—"

    rows = []
    for impl in IMPLS:
        row = [impl]
        for case in cases:
            entry = rss[(impl, case.name)]
            row.append("skipped" if entry.get("skipped") else f"{mib(entry['peak_kb'])} ({mib(entry['baseline_kb'])})")
        rows.append(row)
    return "\n".join(
        [
            "Peak RSS in MiB per implementation, one fresh subprocess per cell, one pass over the case's files",
            "(VmHWM of that process; in brackets the baseline after importing its libraries, before any image):",
            _table(["implementation", *(case.name for case in cases)], rows),
        ]
    )


# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per file and implementation (default 5)")
    parser.add_argument("--quick", action="store_true", help="a few files only (smallest, median, largest photo)")
    parser.add_argument("--case", action="append", choices=CASE_NAMES, help="option set(s) to run (default all)")
    parser.add_argument("--per-file", action="store_true", help="also print every file's medians")
    parser.add_argument("--no-rss", action="store_true", help="skip the peak-RSS subprocesses")
    parser.add_argument("--progress", action="store_true", help="print each file's medians to stderr as it goes")
    parser.add_argument("--rss", choices=IMPLS, help="internal: measure peak RSS of one implementation and exit")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    cases = [case for case in CASES if args.case is None or case.name in args.case]

    if args.rss:
        for case in cases:
            print(json.dumps(rss_child(args.rss, case, args.quick)))
        return 0

    print(environment())
    print()
    started = time.perf_counter()
    results = [time_case(case, corpus_files(case, args.quick), args.repeat, args.progress) for case in cases]
    print(report(results, args.repeat))
    if args.per_file:
        print()
        print(per_file_report(results))
    if not args.no_rss:
        print()
        print(rss_report(measure_rss(cases, args.quick), cases))
    print()
    print(f"total wall time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
