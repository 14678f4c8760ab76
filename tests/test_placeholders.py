"""Placeholders: our ThumbHash encoder against an independent port, and every placeholder decoded
back (by the BlurHash and ThumbHash libraries' own decoders) to the colours of the image."""

from __future__ import annotations

import base64

import blurhash
import numpy as np
import pytest
import pyvips
import thumbhash as reference
from PIL import Image as PILImage

from enlarger import placeholders
from enlarger.placeholders import compute, dominant_color
from tests.imaging import BLUE, RED, quadrants, solid


def _rgba(image: pyvips.Image) -> np.ndarray:
    if image.bands == 3:
        image = image.bandjoin(255)
    return np.ndarray(buffer=image.write_to_memory(), dtype=np.uint8, shape=(image.height, image.width, 4))


def _thumbhash_average(encoded: str) -> tuple[float, float, float, float]:
    """The average colour (0–255) and alpha (0–1) the ``thumbhash`` package reads from a hash."""
    r, g, b, a = reference.thumb_hash_to_average_rgba(list(base64.b64decode(encoded)))
    return r * 255, g * 255, b * 255, a


def _blurhash_pixels(encoded: str, width: int = 40, height: int = 30) -> np.ndarray:
    """The image a BlurHash decodes to (Wolt's decoder), H×W×3."""
    return np.asarray(blurhash.decode(encoded, width, height), dtype=np.float64)


@pytest.mark.parametrize(("width", "height"), [(100, 75), (60, 100), (33, 17), (100, 100)])
def test_thumbhash_matches_the_reference_port_byte_for_byte(width: int, height: int) -> None:
    rng = np.random.default_rng(width * height)
    rgba = rng.integers(0, 256, size=(height, width, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    expected = bytes(reference.rgba_to_thumb_hash(width, height, list(rgba.reshape(-1))))
    assert placeholders.thumbhash(rgba) == expected


@pytest.mark.filterwarnings("ignore:Image.Image.getdata is deprecated")  # inside blurhash-python's encoder
@pytest.mark.parametrize(("width", "height", "components"), [(32, 24, (4, 3)), (17, 32, (3, 4)), (9, 5, (9, 9))])
def test_blurhash_matches_the_reference_encoder(width: int, height: int, components: tuple[int, int]) -> None:
    rng = np.random.default_rng(width + height)
    rgb = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    expected = blurhash.encode(PILImage.fromarray(rgb), *components)
    assert placeholders.blurhash(rgb, *components) == expected


def test_thumbhash_refuses_more_than_100_pixels_a_side() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        placeholders.thumbhash(np.zeros((10, 101, 4), dtype=np.uint8))


@pytest.mark.parametrize("colour", [(200, 40, 30), (20, 120, 220), (128, 128, 128)])
def test_solid_colours_decode_back_to_themselves(colour: tuple[int, int, int]) -> None:
    marks = compute(solid(64, 48, colour))
    assert marks.dominant_color == "#{:02x}{:02x}{:02x}".format(*colour)
    r, g, b, a = _thumbhash_average(marks.thumbhash)
    assert np.allclose((r, g, b), colour, atol=8) and a == 1.0
    decoded = _blurhash_pixels(marks.blurhash)
    assert np.allclose(decoded.mean(axis=(0, 1)), colour, atol=4)


def test_blurhash_keeps_where_colours_are() -> None:
    # red left half, blue right half: the decoded placeholder is red on the left, blue on the right
    image = solid(60, 40, RED).insert(solid(30, 40, BLUE), 30, 0)
    decoded = _blurhash_pixels(compute(image).blurhash)
    left, right = decoded[:, :8].mean(axis=(0, 1)), decoded[:, -8:].mean(axis=(0, 1))
    assert left[0] > 200 and left[2] < 100 and right[2] > 200
    assert left[0] - right[0] > 100 and right[2] - left[2] > 100


def test_thumbhash_average_is_the_image_average() -> None:
    image = quadrants(80, 60)  # red, green, blue, white: average (127, 127, 127)
    r, g, b, _ = _thumbhash_average(compute(image).thumbhash)
    assert np.allclose((r, g, b), (127.5, 127.5, 127.5), atol=10)


def test_thumbhash_carries_alpha() -> None:
    # a red square on a transparent canvas: a quarter of the pixels are opaque
    canvas = solid(64, 64, (0, 0, 0, 0)).insert(solid(32, 32, (255, 0, 0, 255)), 16, 16)
    marks = compute(canvas)
    r, g, b, a = _thumbhash_average(marks.thumbhash)
    assert base64.b64decode(marks.thumbhash)[2] & 0x80  # the has-alpha bit
    assert a == pytest.approx(0.25, abs=0.08)
    assert r > 200 and g < 40 and b < 40  # the average of what is visible, not of the black behind it
    assert marks.dominant_color == "#ff0000"  # transparent pixels do not vote


def test_dominant_colour_is_the_biggest_area_not_the_average() -> None:
    # 70 % grey, 30 % red: the plain average would be a brownish grey no pixel has
    image = solid(100, 100, (128, 128, 128)).insert(solid(30, 100, RED), 0, 0)
    assert dominant_color(_rgba(image)) == "#808080"


def test_grey_and_large_images_are_accepted() -> None:
    grey = solid(300, 200, (90,)).copy(interpretation="b-w")
    marks = compute(grey)  # larger than SIDE: shrunk first
    assert marks.dominant_color == "#5a5a5a"
    assert np.allclose(_thumbhash_average(marks.thumbhash)[:3], (90, 90, 90), atol=6)
