"""What Content Credentials cost: signing per transformation, and nothing per cache hit.

A camera-signed photo (``--size``, default 3000×2000 JPEG, made here with a throw-away test PKI)
is transformed in-process with the feature off (``Settings()``) and on with a signing identity,
``--repeat`` times each; the table gives the median milliseconds, the ratio on/off, and the
credentials step timed alone (``sign ms``: steadier than the difference on a busy machine).
Signing reads and validates the source's manifest store, hashes the source for the ingredient,
builds and signs the new manifest (ES256) and embeds it: a few milliseconds plus hashing the
source (twice) and the output.

Then the same photo is served over loopback HTTP by two in-process services (off, on): after one
warming request per URL every answer is an ``X-Enlarger-Cache: HIT`` of the stored (for "on":
already signed) bytes; the median hit latency of each and their ratio show that a hit pays
nothing for credentials (the client, httpx, dominates both).

Run: ``.venv/bin/python bench/provenance.py [--size 3000x2000] [--repeat 7] [--hits 200]``.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# the repository root instead of bench/, whose http.py would shadow the standard library's http
sys.path.remove(str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import pyvips
from tests.credentials import Authority, capture, has_manifest
from tests.live import serve

from enlarger import provenance
from enlarger.options import parse_options
from enlarger.pipeline import decide, transform
from enlarger.server.app import create_app
from enlarger.settings import Settings

TRANSFORMS = (
    "width=800",
    "width=800,format=webp",
    "width=800,format=avif",
    "width=800,format=png",
    "width=400,height=400,fit=cover",
    "width=1600,brightness=1.1,sharpen=1",
)


def _photo(width: int, height: int) -> bytes:
    noise = pyvips.Image.gaussnoise(width, height, mean=128, sigma=30).cast("uchar")
    ramp = (pyvips.Image.xyz(width, height)[0] * (255 / width)).cast("uchar")
    image = ramp.bandjoin([noise, (ramp + noise) / 2]).cast("uchar").copy(interpretation="srgb")
    return bytes(image.jpegsave_buffer(Q=90))


def _median_ms(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="3000x2000")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--hits", type=int, default=200)
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "origin").mkdir()
        authority = Authority()
        cert, key = authority.issue("Bench CDN").write(directory)
        off = Settings(data_dir=directory / "off", origin=str(directory / "origin"))
        on = Settings(
            data_dir=directory / "on",
            origin=str(directory / "origin"),
            c2pa_preserve=True,
            c2pa_sign_cert=str(cert),
            c2pa_sign_key=str(key),
        )
        photo = capture(_photo(width, height), "image/jpeg", authority.issue("Bench Camera"))
        (directory / "origin" / "photo.jpg").write_bytes(photo)
        print(f"source: {width}×{height} JPEG, {len(photo):,} bytes, camera-signed; median of {args.repeat}")
        print(f"{'transformation':36} {'off ms':>8} {'on ms':>8} {'ratio':>6} {'sign ms':>8} {'+bytes':>8}")
        for options in TRANSFORMS:
            plain = transform(photo, options, settings=off)
            signed = transform(photo, options, settings=on)  # warm both (signer, context, codecs)
            assert has_manifest(signed.data, signed.media_type), options
            off_ms = _median_ms(functools.partial(transform, photo, options, settings=off), args.repeat)
            on_ms = _median_ms(functools.partial(transform, photo, options, settings=on), args.repeat)
            decision = decide(photo, parse_options(options), settings=on)
            alone = functools.partial(provenance.credentials, photo, plain.data, False, decision, on)
            sign_ms = _median_ms(alone, args.repeat)  # the credentials step by itself, without pixel noise
            added = len(signed.data) - len(plain.data)
            print(f"{options:36} {off_ms:8.1f} {on_ms:8.1f} {on_ms / off_ms:6.2f} {sign_ms:8.1f} {added:8,}")
        print(f"\ncache hits over loopback HTTP (httpx, one connection), median of {args.hits}")
        hit_ms = {}
        for name, settings in (("off", off), ("on", on)):
            with serve(create_app(settings)) as base, httpx.Client(base_url=base) as client:
                url = "/cdn-cgi/image/width=800,format=webp/photo.jpg"
                first = client.get(url)
                assert first.headers["x-enlarger-cache"] == "MISS"
                assert has_manifest(first.content, "image/webp") == (name == "on")

                def hit(c: httpx.Client = client, u: str = url, body: bytes = first.content) -> None:
                    answer = c.get(u)
                    assert answer.headers["x-enlarger-cache"] == "HIT" and answer.content == body

                hit_ms[name] = _median_ms(hit, args.hits)
            print(f"{name:4} {hit_ms[name]:8.3f} ms")
        print(f"ratio on/off: {hit_ms['on'] / hit_ms['off']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
