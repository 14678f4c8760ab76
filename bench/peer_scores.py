"""Perceptual score of outputs against their source: SSIMULACRA2, so speed is never bought with worse images.

The reference for an output of w×h pixels is its source decoded at full resolution and resized to
exactly w×h with Lanczos-3 in floating point and no box pre-shrink (``gap=0``), rounded to 8 bits:
"what every server means to produce, done without shortcuts". Both images are written as PNG and
scored by the ``ssimulacra2`` package from PyPI (a Python port of the metric; 100 = identical,
~90 = visually lossless, ~70 = high quality, ~50 = medium), which runs in its own virtual
environment under ``bench/.peers/metric-venv`` (git-ignored), created here on first use, so the
project's environment never carries numpy/scipy for a benchmark.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PEERS = BENCH / ".peers"
METRIC_VENV = PEERS / "metric-venv"
METRIC_PACKAGE = "ssimulacra2==0.3.0"

_SCORER = """
import json, sys
from concurrent.futures import ProcessPoolExecutor
from ssimulacra2 import compute_ssimulacra2

def one(pair):
    return compute_ssimulacra2(pair[0], pair[1])

pairs = json.load(sys.stdin)
with ProcessPoolExecutor(2) as pool:
    print(json.dumps(list(pool.map(one, pairs))))
"""


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(venv: Path, packages: Sequence[str]) -> Path:
    """A virtual environment at ``venv`` with ``packages`` from PyPI (made once; outside the project's)."""
    python = venv_python(venv)
    marker = venv / ".installed"
    if marker.exists() and marker.read_text() == " ".join(packages):
        return python
    print(f"installing {' '.join(packages)} into {venv.relative_to(BENCH.parent)} ...", file=sys.stderr)
    base = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *packages], check=True)
    marker.write_text(" ".join(packages))
    return python


def reference(source: Path, size: tuple[int, int], folder: Path) -> Path:
    """The no-shortcut resize of ``source`` to ``size``, as PNG (made once per size)."""
    import pyvips

    path = folder / f"ref-{source.stem}-{size[0]}x{size[1]}.png"
    if not path.exists():
        full = pyvips.Image.new_from_file(str(source)).autorot()
        if full.hasalpha():
            full = full.flatten(background=[255, 255, 255])
        scale = size[0] / full.width
        resized = full.cast("float").resize(scale, vscale=size[1] / full.height, kernel="lanczos3", gap=0)
        resized.rint().cast("uchar").copy(interpretation="srgb").pngsave(str(path), compression=1)
    return path


def as_png(output: Path, folder: Path) -> tuple[Path, tuple[int, int]]:
    """Decode any output (JPEG, WebP, AVIF) to an 8-bit sRGB PNG; the size it has."""
    import pyvips

    image = pyvips.Image.new_from_file(str(output))
    if image.hasalpha():
        image = image.flatten(background=[255, 255, 255])
    if image.bands == 1:
        image = image.colourspace("srgb")
    path = folder / f"out-{output.parent.name}-{output.name}.png"
    image.cast("uchar").pngsave(str(path), compression=1)
    return path, (image.width, image.height)


def scores(pairs: Sequence[tuple[Path, Path]]) -> list[float]:
    """SSIMULACRA2 of each (source photo, encoded output) pair."""
    if not pairs:
        return []
    python = ensure_venv(METRIC_VENV, [METRIC_PACKAGE])
    with tempfile.TemporaryDirectory(prefix="quality-") as tmp:
        folder = Path(tmp)
        jobs = []
        for number, (source, output) in enumerate(pairs):
            png, size = as_png(output, folder)
            png = png.rename(folder / f"{number}-{png.name}")
            jobs.append((str(reference(source, size, folder)), str(png)))
        done = subprocess.run(
            [str(python), "-c", _SCORER], input=json.dumps(jobs), capture_output=True, text=True, check=True
        )
    values: list[float] = json.loads(done.stdout)
    return values


def mean_score(pairs: Sequence[tuple[Path, Path]]) -> float:
    return statistics.mean(scores(pairs)) if pairs else float("nan")
