"""The Images binding's costs: a chained pipeline against the plain transform, and HTTP over Python.

On a 4 MP photo-like JPEG (2448×1632, made with pyvips), side by side, best of ``--runs``:

1. plain: ``transform(photo, "width=1200,format=webp")`` — one engine run;
2. the same through the binding: ``input().transform({width: 1200}).output(webp)`` — its overhead;
3. a pipeline: ``.transform({width: 1200})`` + a logo overlay (PNG with alpha, 20 % of the width,
   bottom right, opacity 0.6) + a text overlay (a caption, top left) + ``.output(webp)`` — still one
   engine run (the overlays join the transform's job);
4. the same with a second ``.transform({sharpen: 1})`` after the draws — a second engine run with
   a lossless in-between image;
5. (3) posted to ``POST /transform`` on loopback, in workerd's form: the HTTP overhead.

Prints milliseconds (wall clock) and the ratio to (1). Run: ``.venv/bin/python bench/binding.py``
(about 20 s on 2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

# bench/http.py would shadow the standard library's http package that httpx imports: the
# repository root replaces this script's folder on the path
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import httpx  # noqa: E402
import pyvips  # noqa: E402
from tests.live import serve  # noqa: E402

from enlarger.binding import Images  # noqa: E402
from enlarger.pipeline import transform  # noqa: E402
from enlarger.server.binding import create_app  # noqa: E402
from enlarger.settings import Settings  # noqa: E402


def photo() -> bytes:
    """A smooth, noisy 2448×1632 colour field: compresses and resamples like a photo."""
    xyz = pyvips.Image.xyz(2448, 1632)
    r, g = xyz[0] * (255 / 2447), xyz[1] * (255 / 1631)
    noise = pyvips.Image.gaussnoise(2448, 1632, sigma=12)
    image = (r + noise).bandjoin([g + noise, (r + g) / 2]).cast("uchar").copy(interpretation="srgb")
    return bytes(image.jpegsave_buffer(Q=90))


def logo() -> bytes:
    """A 400×200 white disc with a soft edge on transparency."""
    disc = pyvips.Image.black(400, 200).draw_circle(255, 200, 100, 90, fill=True).gaussblur(3)
    return bytes((disc.new_from_image([255, 255, 255]).bandjoin(disc)).cast("uchar").pngsave_buffer())


def interleaved(runs: int, cases: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Best milliseconds of each case; the cases take turns (after one warm-up round), so load
    from other processes falls on all of them alike."""
    best = dict.fromkeys(cases, float("inf"))
    for round_ in range(runs + 1):
        for name, fn in cases.items():
            started = time.perf_counter()
            fn()
            if round_:
                best[name] = min(best[name], (time.perf_counter() - started) * 1000)
    return best


def pipeline(images: Images, base: bytes, mark: bytes, second: bool) -> Awaitable[object]:
    chain = images.input(base).transform({"width": 1200})
    chain = chain.draw(mark, {"bottom": 20, "right": 20, "opacity": 0.6, "width": 0.2, "fit": "contain"})
    chain = chain.draw(images.text("© Enlarger bench", size=36, color="#ffffffcc"), {"top": 20, "left": 20})
    if second:
        chain = chain.transform({"sharpen": 1})
    return chain.output(format="image/webp")


def form(base: bytes, mark: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts: list[tuple[str, bytes | str]] = [
        ("image", base),
        ("draw_image", mark),
        ("draw_text", json.dumps({"text": "© Enlarger bench", "size": 36, "color": "#ffffffcc"})),
        (
            "transforms",
            json.dumps(
                [
                    {"imageIndex": 0, "width": 1200},
                    {
                        "drawImageIndex": 1,
                        "targetImageIndex": 0,
                        "bottom": 20,
                        "right": 20,
                        "opacity": 0.6,
                        "width": 0.2,
                        "fit": "contain",
                    },
                    {"drawImageIndex": 2, "targetImageIndex": 0, "top": 20, "left": 20},
                ]
            ),
        ),
        ("output_format", "image/webp"),
    ]
    body = b""
    for name, value in parts:
        disposition = f'form-data; name="{name}"' + ('; filename="f"' if isinstance(value, bytes) else "")
        data = value if isinstance(value, bytes) else value.encode()
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    base, mark = photo(), logo()
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(data_dir=Path(scratch))
        images = Images(settings)

        def binding(fn: Callable[[], Awaitable[object]]) -> Callable[[], object]:
            return lambda: asyncio.run(fn())  # type: ignore[arg-type]

        body, content_type = form(base, mark)
        with serve(create_app(images)) as url, httpx.Client(timeout=60) as client:

            def post() -> None:
                response = client.post(f"{url}/transform", content=body, headers={"content-type": content_type})
                assert response.status_code == 200, response.text

            rows = interleaved(
                args.runs,
                {
                    "plain transform": lambda: transform(base, "width=1200,format=webp", settings=settings),
                    "binding, transform only": binding(
                        lambda: images.input(base).transform({"width": 1200}).output("image/webp")
                    ),
                    "binding, + image + text overlay": binding(lambda: pipeline(images, base, mark, False)),
                    "binding, + a second transform": binding(lambda: pipeline(images, base, mark, True)),
                    "POST /transform, + image + text overlay": post,
                },
            )
    plain = rows["plain transform"]
    print(f"4 MP JPEG (2448×1632) → 1200 px WebP; best of {args.runs}")
    for name, ms in rows.items():
        print(f"  {name:<42} {ms:8.1f} ms  {ms / plain:5.2f}×")
    http, python = rows["POST /transform, + image + text overlay"], rows["binding, + image + text overlay"]
    print(f"  HTTP overhead over the Python API: {http - python:+.1f} ms ({http / python:.2f}×)")


if __name__ == "__main__":
    main()
