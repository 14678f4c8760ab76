"""The round trip with the real client: a Worker on workerd whose ``env.IMAGES`` is the runtime's own
``cloudflare-internal:images-api`` module, its fetcher pointed at Enlarger's binding listener.

What the Worker does is in ``workerd/worker.js``; these tests send it images and decode its answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pyvips

from enlarger.binding import Images
from enlarger.server.binding import create_app
from enlarger.settings import Settings
from tests.binding.workerd_runtime import run_worker, workerd_binary
from tests.imaging import decode, near, pixel, quadrants, save, solid
from tests.live import serve

QUADS = save(quadrants(200, 100), "png")  # red, green / blue, white
RED = save(solid(20, 10, (255, 0, 0)), "png")


@pytest.fixture(scope="module", params=["current", "oldest"])
def worker(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Worker on each tested workerd release (the oldest sends no ``imageIndex``)."""
    release: str = request.param
    workerd_binary(release)  # skip (or fail in CI) before starting anything
    directory: Path = tmp_path_factory.mktemp(f"workerd-{release}")
    images = Images(Settings(data_dir=directory / "data"))
    with serve(create_app(images)) as enlarger, run_worker(enlarger, directory, release) as url:
        yield url


#: draw() and text() came after the oldest tested release: those tests run on the current one only
CURRENT_ONLY = pytest.mark.parametrize("worker", ["current"], indirect=True)


def _call(worker: str, path: str, image: bytes = QUADS, overlay: bytes = RED, **params: str) -> httpx.Response:
    files = {
        "image": ("image", image, "application/octet-stream"),
        "overlay": ("o", overlay, "application/octet-stream"),
    }
    return httpx.post(f"{worker}/{path}", files=files, params=params, timeout=60)


def _image(response: httpx.Response) -> pyvips.Image:
    assert response.status_code == 200, response.text
    return decode(response.content)


def _error(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 500
    body: dict[str, Any] = response.json()
    return body


def test_info(worker: str) -> None:
    described = _call(worker, "info").json()
    assert {key: described[key] for key in ("format", "fileSize", "width", "height")} == {
        "format": "image/png",
        "fileSize": len(QUADS),
        "width": 200,
        "height": 100,
    }


def test_info_of_text_is_9412(worker: str) -> None:
    error = _error(_call(worker, "info", image=b"not an image at all"))
    assert error["code"] == 9412 and error["message"].startswith("IMAGES_INFO_ERROR 9412: ")


def test_chained_transforms_apply_in_order(worker: str) -> None:
    # trim to the red quarter (100×50), rotate it (50×100), then width 25 (25×50): all red
    image = _image(_call(worker, "chain"))
    assert (image.width, image.height) == (25, 50)
    assert near(pixel(image, 2, 2), (255, 0, 0), 2) and near(pixel(image, 22, 47), (255, 0, 0), 2)


@CURRENT_ONLY
@pytest.mark.parametrize(
    ("fmt", "tolerance"), [("image/png", 4), ("image/jpeg", 24), ("image/webp", 24), ("image/avif", 30)]
)
def test_image_and_text_overlays_in_each_format(worker: str, fmt: str, tolerance: int) -> None:
    response = _call(worker, "draw", format=fmt)
    assert response.headers["content-type"] == fmt
    image = _image(response)
    assert (image.width, image.height) == (200, 100)
    # the red overlay at half opacity, 10 px from the bottom-right, over the white quadrant: pink
    assert near(pixel(image, 175, 84), (255, 128, 128), tolerance)
    assert near(pixel(image, 175, 95), (255, 255, 255), tolerance)  # below it: white again
    # the green text over the red quadrant, top left
    top_left = image.crop(0, 0, 60, 45)
    greenish = (top_left.extract_band(1) > 160) & (top_left.extract_band(0) < 100)
    assert greenish.avg() > 5  # % of the area (× 2.55): the glyphs are there


@CURRENT_ONLY
def test_gif_output(worker: str) -> None:
    response = _call(worker, "draw", format="image/gif")
    assert response.content.startswith(b"GIF8")
    assert near(pixel(_image(response), 20, 80), (0, 0, 255), 8)


@CURRENT_ONLY
def test_repeat_tiles_with_alpha(worker: str) -> None:
    stripe = save(solid(10, 10, (0, 0, 0, 0)).draw_rect([255, 255, 0, 255], 0, 0, 5, 5, fill=True), "png")
    image = _image(_call(worker, "tile", overlay=stripe))
    for x, y in ((1, 1), (51, 41), (191, 91)):
        assert near(pixel(image, x, y), (255, 255, 0), 1)  # a tile's opaque corner
    assert near(pixel(image, 8, 8), (255, 0, 0), 1) and near(pixel(image, 198, 98), (255, 255, 255), 1)


@CURRENT_ONLY
def test_text_canvas_is_transparent_around_the_glyphs(worker: str) -> None:
    image = _image(_call(worker, "text"))
    assert image.bands == 4 and image.extract_band(3).min() == 0 and image.extract_band(3).max() == 255
    _, where = image.extract_band(3).max(x=True, y=True)
    assert near(pixel(image, where["x"], where["y"]), (255, 255, 255, 255), 1)  # the glyphs are white


@CURRENT_ONLY
@pytest.mark.parametrize(
    ("path", "code", "words"), [("both-sides", 9401, "left or right"), ("consumed", 9525, "consumed")]
)
def test_draw_errors_reach_the_worker_with_their_codes(worker: str, path: str, code: int, words: str) -> None:
    error = _error(_call(worker, path))
    assert error["code"] == code and words in error["message"]


def test_a_missing_format_reaches_the_worker_as_9401(worker: str) -> None:
    error = _error(_call(worker, "no-format"))
    assert error["code"] == 9401 and "format" in error["message"]


@pytest.mark.parametrize("fmt", ["image/png", "image/jpeg", "image/webp", "image/avif", "image/gif"])
def test_cover_crop_in_each_format(worker: str, fmt: str) -> None:
    """One transform, as every release (the oldest sends it without ``imageIndex``) writes it."""
    response = _call(worker, "cover", format=fmt)
    assert response.headers["content-type"] == fmt
    image = _image(response)
    assert (image.width, image.height) == (50, 50)
    # cover keeps the middle 100×100 of the 200×100 quadrants: red/green over blue/white, halved
    assert near(pixel(image, 12, 12), (255, 0, 0), 30) and near(pixel(image, 37, 37), (255, 255, 255), 30)
