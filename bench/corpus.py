"""Build the benchmark corpus under ``bench/corpus/`` (git-ignored); idempotent.

* ``photos/``: the JPEG photographs of Debian's ``mate-backgrounds`` package (about 46 MB), fetched
  with ``apt-get download`` (no root needed) and unpacked with ``dpkg-deb -x``. Files are picked by
  their magic bytes, not by their names.
* ``generated/photo-6000x4000.jpg``: a large photo-like JPEG (smooth colour fields, gradients and
  sensor-like noise) made with pyvips, to exercise shrink-on-load on a 24-megapixel source.
* ``generated/animated-480x270.gif``: a 24-frame looping animation (a pan over a colour field with a
  moving disc) made with pyvips.

Run: ``.venv/bin/python bench/corpus.py`` (``--force`` rebuilds everything).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pyvips

BENCH = Path(__file__).resolve().parent
CORPUS = BENCH / "corpus"
PHOTOS = CORPUS / "photos"
GENERATED = CORPUS / "generated"
PACKAGE = "mate-backgrounds"
PHOTOS_DONE = PHOTOS / ".complete"
BIG_JPEG = GENERATED / "photo-6000x4000.jpg"
ANIMATED_GIF = GENERATED / "animated-480x270.gif"
JPEG_MAGIC = b"\xff\xd8\xff"


def _is_jpeg(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(3) == JPEG_MAGIC


def _check_ignored() -> None:
    """Refuse to fill a folder git would track (the corpus is ~50 MB of third-party images)."""
    repo = BENCH.parent
    try:
        result = subprocess.run(
            ["git", "check-ignore", "-q", str(CORPUS / "probe")], cwd=repo, check=False, capture_output=True
        )
    except FileNotFoundError:
        print("note: git not found; cannot verify that bench/corpus/ is git-ignored", file=sys.stderr)
        return
    if result.returncode == 1:
        sys.exit("bench/corpus/ is not git-ignored: add 'bench/corpus/' to .gitignore first")


def fetch_photos(force: bool = False) -> list[Path]:
    """Download ``mate-backgrounds`` and copy every JPEG in it into ``photos/``."""
    if PHOTOS_DONE.exists() and not force:
        present = sorted(p for p in PHOTOS.iterdir() if p.is_file() and _is_jpeg(p))
        print(f"photos: {len(present)} JPEGs already in {PHOTOS.relative_to(BENCH.parent)} (skipped)")
        return present
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        sys.exit("apt-get and dpkg-deb are needed to fetch the photo corpus (Debian/Ubuntu)")
    if PHOTOS.exists():
        shutil.rmtree(PHOTOS)
    PHOTOS.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="enlarger-corpus-") as tmp:
        work = Path(tmp)
        print(f"photos: apt-get download {PACKAGE} ...")
        subprocess.run(["apt-get", "download", PACKAGE], cwd=work, check=True)
        debs = sorted(work.glob(f"{PACKAGE}_*.deb"))
        if not debs:
            sys.exit(f"apt-get download {PACKAGE} produced no .deb")
        tree = work / "tree"
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(tree)], check=True)
        photos: list[Path] = []
        for source in sorted(tree.rglob("*")):
            if not source.is_file() or source.is_symlink() or not _is_jpeg(source):
                continue
            name = f"{source.stem}.jpg"
            if (PHOTOS / name).exists():  # same stem in two folders: prefix the folder
                name = f"{source.parent.name}-{source.stem}.jpg"
            target = PHOTOS / name
            shutil.copyfile(source, target)
            photos.append(target)
    if not photos:
        sys.exit(f"{PACKAGE} contained no JPEG")
    PHOTOS_DONE.write_text(f"{PACKAGE}: {len(photos)} JPEGs\n", encoding="utf-8")
    total = sum(p.stat().st_size for p in photos)
    print(f"photos: copied {len(photos)} JPEGs ({total / 1e6:.1f} MB) into {PHOTOS.relative_to(BENCH.parent)}")
    return photos


def _smooth_field(width: int, height: int, cells: int, seed: int) -> pyvips.Image:
    """Three bands of low-frequency colour: a small (seeded, so reproducible) noise image enlarged smoothly."""
    small_w = max(2, width // cells)
    small_h = max(2, height // cells)
    bands = [pyvips.Image.gaussnoise(small_w, small_h, sigma=45, mean=128, seed=seed + i) for i in range(3)]
    field = bands[0].bandjoin(bands[1:])
    return field.resize(width / small_w, vscale=height / small_h, kernel="cubic")


def make_big_jpeg(path: Path, width: int = 6000, height: int = 4000) -> None:
    """A photo-like JPEG: colour blobs + diagonal light gradient + vignette + fine noise."""
    blobs = _smooth_field(width, height, cells=250, seed=1)
    detail = _smooth_field(width, height, cells=25, seed=11) - 128
    xyz = pyvips.Image.xyz(width, height)
    x, y = xyz[0], xyz[1]
    light = (x / width + y / height) * 40 - 40  # -40 .. +40 across the diagonal
    cx, cy = width / 2, height / 2
    r2 = ((x - cx) ** 2 + (y - cy) ** 2) / (cx**2 + cy**2)
    vignette = 1 - r2 * 0.45
    grain = pyvips.Image.gaussnoise(width, height, sigma=6, mean=0, seed=31)
    image = ((blobs + detail * 0.35 + light) * vignette + grain).cast("uchar")
    image = image.copy(interpretation="srgb")
    image.jpegsave(str(path), Q=92, keep=pyvips.enums.ForeignKeep.NONE)


def make_animated_gif(path: Path, width: int = 480, height: int = 270, frames: int = 24) -> None:
    """A looping pan over a colour field with a disc moving across, as one tall libvips strip."""
    step = 12
    panorama = _smooth_field(width + step * frames, height, cells=30, seed=21).cast("uchar")
    panorama = panorama.copy(interpretation="srgb")
    xyz = pyvips.Image.xyz(width, height)
    pages: list[pyvips.Image] = []
    for i in range(frames):
        frame = panorama.crop(i * step, 0, width, height)
        cx = 40 + (width - 80) * i / (frames - 1)
        cy = height / 2 + (height / 4) * (1 if i % 2 else -1) * (i / frames)
        inside = ((xyz[0] - cx) ** 2 + (xyz[1] - cy) ** 2) < 30**2
        frame = inside.ifthenelse([250, 220, 40], frame)
        pages.append(frame)
    strip = pyvips.Image.arrayjoin(pages, across=1).copy(interpretation="srgb")
    strip.set_type(pyvips.GValue.gint_type, "page-height", height)
    strip.set_type(pyvips.GValue.gint_type, "n-pages", frames)
    strip.set_type(pyvips.GValue.array_int_type, "delay", [80] * frames)
    strip.set_type(pyvips.GValue.gint_type, "loop", 0)
    strip.gifsave(str(path))


def generate(force: bool = False) -> list[Path]:
    GENERATED.mkdir(parents=True, exist_ok=True)
    made: list[Path] = []
    for path, maker in ((BIG_JPEG, make_big_jpeg), (ANIMATED_GIF, make_animated_gif)):
        rel = path.relative_to(BENCH.parent)
        if path.exists() and path.stat().st_size > 0 and not force:
            print(f"generated: {rel} already present (skipped)")
        else:
            partial = path.with_suffix(path.suffix + ".part")
            maker(partial)
            partial.replace(path)
            print(f"generated: {rel} ({path.stat().st_size / 1e6:.1f} MB)")
        made.append(path)
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true", help="rebuild the corpus even if present")
    args = parser.parse_args(argv)
    _check_ignored()
    fetch_photos(force=args.force)
    generate(force=args.force)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
