"""Hostile images through every image-taking door (issue 24, findings 9 and 12).

Damaged TIFFs whose damage libtiff reports in its own words ("Not enough data at scanline …",
"ZLib error") must be refused as bad images (415) on every door, never answered 500/9523.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from enlarger.binding import Images
from enlarger.server.binding import create_app as binding_app
from enlarger.settings import Settings
from enlarger.storage.ownership import MARKER_KEY
from tests.imaging import animation, coloured_frames, gradient, save
from tests.live import Origin, serve
from tests.server.conftest import Start, Tenant, open_tenant
from tests.server.test_binding_http import _failure, _post, _transforms
from tests.test_codecs import _BOMBS, _gif_frames_declaring
from tests.test_passthrough import GIF_COMMENT, PHP, _with_gif_blocks

WIDTH, HEIGHT = 64, 48
PIXELS = bytes((x * 4) % 256 for x in range(WIDTH * HEIGHT))


def _tiff(strip: bytes, *, compression: int) -> bytes:
    """A little-endian 64×48 grey TIFF with one strip holding ``strip`` (as stored, compressed or not)."""
    entries = [(256, WIDTH), (257, HEIGHT), (258, 8), (259, compression), (262, 1), (277, 1), (278, HEIGHT)]
    ifd_offset = 8 + len(strip)
    ifd = struct.pack("<H", len(entries) + 2)
    for tag, value in entries:
        ifd += struct.pack("<HHIHH", tag, 3, 1, value, 0)
    ifd += struct.pack("<HHII", 273, 4, 1, 8) + struct.pack("<HHII", 279, 4, 1, len(strip))  # offset, byte count
    return b"II*\x00" + struct.pack("<I", ifd_offset) + strip + ifd + struct.pack("<I", 0)


def damaged_tiffs() -> dict[str, bytes]:
    """Headers that read fine over strip data that does not: only decoding finds the damage."""
    return {
        # a complete deflate stream of too few pixels: "tiff2vips: Not enough data at scanline 0"
        "not-enough-data": _tiff(zlib.compress(PIXELS[:1000]), compression=8),
        # a deflate stream cut short: "tiff2vips: ZLib error"
        "zlib-cut": _tiff(zlib.compress(PIXELS)[:40], compression=8),
    }


def test_the_builders_make_a_valid_tiff_when_undamaged() -> None:
    import pyvips

    for strip, compression in ((PIXELS, 1), (zlib.compress(PIXELS), 8)):
        image = pyvips.Image.new_from_buffer(_tiff(strip, compression=compression), "")
        assert (image.width, image.height) == (WIDTH, HEIGHT)
        assert bytes(image.write_to_memory()) == PIXELS


TIFFS = damaged_tiffs()
JPEG = save(gradient(120, 90), "jpeg")


def _bad_image(response: httpx.Response) -> None:
    assert response.status_code == 415, response.text
    assert response.headers["cf-resized"] == "err=9520"
    assert "damaged" in response.text


@pytest.fixture
def origin_dir_with_tiffs(origin_dir: Path) -> Path:
    for name, data in TIFFS.items():
        (origin_dir / f"{name}.tif").write_bytes(data)
    return origin_dir


@pytest.mark.parametrize("name", TIFFS)
def test_damaged_tiffs_are_415_on_resize_and_overlay(start: Start, origin_dir_with_tiffs: Path, name: str) -> None:
    client = start()
    _bad_image(client.get(f"/cdn-cgi/image/width=50,format=png/{name}.tif"))
    _bad_image(client.get(f"/cdn-cgi/image/width=100,format=png,draw=url(/{name}.tif),draw.width=20/photo.jpg"))
    assert client.get("/cdn-cgi/image/width=50/photo.jpg").status_code == 200


@pytest.fixture
def tiff_origin() -> Iterator[str]:
    origin = Origin()
    for name, data in TIFFS.items():
        origin.files[f"/{name}.tif"] = data
    with serve(origin.app(), host="127.0.0.2") as base:
        yield base


@pytest.fixture
def tenant(start: Start, tmp_path: Path) -> Tenant:
    return open_tenant(start, tmp_path / "data")


def _refused_upload(tenant: Tenant, response: httpx.Response) -> None:
    assert response.status_code == 415, response.text
    error = response.json()["errors"][0]
    assert error["code"] == 9520 and "damaged" in error["message"]
    assert [p for p in (tenant.data_dir / "originals").rglob("*") if p.is_file() and p.name != MARKER_KEY] == []


@pytest.mark.parametrize("name", TIFFS)
def test_damaged_tiffs_are_415_on_every_upload_door(tenant: Tenant, tiff_origin: str, name: str) -> None:
    api = f"{tenant.api}/v1"
    _refused_upload(tenant, tenant.http.post(api, headers=tenant.auth(), files={"file": ("a.tif", TIFFS[name])}))
    by_url = tenant.http.post(api, headers=tenant.auth(), files={"url": (None, f"{tiff_origin}/{name}.tif")})
    _refused_upload(tenant, by_url)
    slot = tenant.http.post(f"{tenant.api}/v2/direct_upload", headers=tenant.auth(), files={"metadata": (None, "{}")})
    slot = slot.json()["result"]
    _refused_upload(tenant, httpx.post(slot["uploadURL"], files={"file": ("a.tif", io.BytesIO(TIFFS[name]))}))


@pytest.fixture(scope="module")
def binding_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("binding"))
    with serve(binding_app(Images(settings))) as base:
        yield base


@pytest.mark.parametrize("name", TIFFS)
def test_damaged_tiffs_are_415_on_binding_transform_and_draw(binding_url: str, name: str) -> None:
    png = ("output_format", "image/png")
    transformed = _post(
        binding_url, "/transform", [("image", TIFFS[name]), _transforms({"imageIndex": 0, "width": 30}), png]
    )
    assert transformed.status_code == 415 and _failure(transformed)[0] == 9520, transformed.text
    drawn = _post(
        binding_url,
        "/transform",
        [("image", JPEG), ("draw_image", TIFFS[name]), _transforms({"drawImageIndex": 1, "targetImageIndex": 0}), png],
    )
    assert drawn.status_code == 415 and _failure(drawn)[0] == 9520, drawn.text


def test_a_gif_comment_is_not_delivered_with_an_animation_passed_through(start: Start, origin_dir: Path) -> None:
    """Issue 24: an animation over the pixel limit is delivered untransformed, but without its comments."""
    looping = animation(coloured_frames(40, 30, [(255, 0, 0), (0, 0, 255), (0, 255, 0)]), "gif")
    (origin_dir / "php.gif").write_bytes(_with_gif_blocks(looping, GIF_COMMENT))
    client = start(max_animation_pixels=1000)
    response = client.get("/cdn-cgi/image/width=20,metadata=none/php.gif")
    assert response.status_code == 200 and response.headers["content-type"] == "image/gif"
    assert PHP not in response.content and response.content == looping


def test_too_many_frames_are_refused_on_resize_and_upload(start: Start, origin_dir: Path, tmp_path: Path) -> None:
    frames = _gif_frames_declaring(2, 2, 40_000)
    (origin_dir / "frames.gif").write_bytes(frames)
    tenant = open_tenant(start, tmp_path / "data")
    resized = tenant.http.get("/cdn-cgi/image/width=1/frames.gif")
    assert (resized.status_code, resized.headers["cf-resized"]) == (403, "err=9413")
    assert "40,000 frames" in resized.text
    first = tenant.http.get("/cdn-cgi/image/width=1,anim=false/frames.gif")
    assert first.status_code == 200
    uploaded = tenant.http.post(f"{tenant.api}/v1", headers=tenant.auth(), files={"file": ("f.gif", frames)})
    assert uploaded.status_code == 403 and uploaded.json()["errors"][0]["code"] == 9413
    assert [p for p in (tenant.data_dir / "originals").rglob("*") if p.is_file() and p.name != MARKER_KEY] == []


@pytest.mark.parametrize("name", [n for n in _BOMBS if n != "gif-3000-frames"])
def test_binding_info_refuses_the_bombs_every_other_door_refuses(binding_url: str, name: str) -> None:
    """Issue 24: /info answered sizes for decompression bombs that transform refuses."""
    data = _BOMBS[name]()
    response = _post(binding_url, "/info", [("image", data)])
    assert response.status_code in (403, 415), response.text
    transformed = _post(binding_url, "/transform", [("image", data), _transforms(), ("output_format", "image/png")])
    assert (response.status_code, _failure(response)[0]) == (transformed.status_code, _failure(transformed)[0])


def test_binding_info_still_describes_a_large_animation(binding_url: str) -> None:
    data = _BOMBS["gif-3000-frames"]()  # over the animation limit: delivered untransformed, not refused
    response = _post(binding_url, "/info", [("image", data)])
    assert response.status_code == 200, response.text
    assert (response.json()["width"], response.json()["height"]) == (200, 200)
