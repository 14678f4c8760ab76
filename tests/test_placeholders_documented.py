"""Placeholders as docs/outputs.md documents them, with expected values from the BlurHash format
itself (https://blurha.sh, the size flag and DC value decoded here) rather than from our encoder:
4×3 components (3×4 portrait), transparency flattened on white, ``format=placeholder`` blurred."""

from __future__ import annotations

import json

import numpy as np
import pytest
import pyvips

from enlarger.pipeline import transform
from tests.imaging import decode, save, solid

#: the BlurHash base-83 alphabet (from the format's specification)
BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"


def _base83(text: str) -> int:
    value = 0
    for char in text:
        value = value * 83 + BASE83.index(char)
    return value


def _components(hash_: str) -> tuple[int, int]:
    """(x, y) components from the size flag: (x - 1) + (y - 1) * 9, the hash's first character."""
    flag = _base83(hash_[0])
    return flag % 9 + 1, flag // 9 + 1


def _dc(hash_: str) -> tuple[int, int, int]:
    """The average colour (sRGB), characters 2–5."""
    value = _base83(hash_[2:6])
    return value >> 16, (value >> 8) & 255, value & 255


def _json(data: bytes, options: str = "") -> dict[str, object]:
    answer: dict[str, object] = json.loads(transform(data, ",".join(filter(None, ["format=json", options]))).data)
    return answer


def _checkerboard(side: int, cell: int) -> pyvips.Image:
    cells = (np.indices((side, side)) // cell).sum(axis=0) % 2
    return pyvips.Image.new_from_array((cells * 255).astype(np.uint8).tolist()).cast("uchar")


@pytest.mark.parametrize(
    ("width", "height", "components"), [(300, 200, (4, 3)), (200, 200, (4, 3)), (200, 300, (3, 4))]
)
def test_blurhash_has_4x3_components_and_3x4_for_portrait(width: int, height: int, components: tuple[int, int]) -> None:
    blurhash = str(_json(save(_checkerboard(max(width, height), 25).crop(0, 0, width, height), "png"))["blurhash"])
    assert _components(blurhash) == components
    assert len(blurhash) == 4 + 2 * components[0] * components[1]  # the format's length for that many terms


def test_blurhash_of_a_crop_follows_the_crop_orientation() -> None:
    landscape = save(solid(300, 200, (10, 200, 30)), "png")
    cropped = str(_json(landscape, "width=100,height=200,fit=crop")["blurhash"])
    assert _components(cropped) == (3, 4)  # the placeholder matches the crop asked for, not the original


def test_transparency_is_flattened_on_white() -> None:
    clear = save(solid(64, 48, (0, 0, 0, 0)), "png")  # transparent black
    assert _dc(str(_json(clear)["blurhash"])) == (255, 255, 255)
    half = save(solid(64, 48, (0, 0, 0, 128)), "png")  # half-covered black: grey on white
    red, green, blue = _dc(str(_json(half)["blurhash"]))
    assert red == green == blue and 100 < red < 160


def _max_step(image: pyvips.Image) -> int:
    pixels = np.asarray(image.colourspace("b-w")[0].numpy(), dtype=int)
    return int(max(np.abs(np.diff(pixels, axis=0)).max(), np.abs(np.diff(pixels, axis=1)).max()))


def test_format_placeholder_is_blurred() -> None:
    board = save(_checkerboard(256, 32), "png")  # 4-pixel squares at the placeholder's 32 px
    placeholder = decode(transform(board, "format=placeholder").data)
    sharp = decode(transform(board, "width=32,format=webp,quality=40").data)  # the same size and quality, unblurred
    assert (placeholder.width, placeholder.height) == (sharp.width, sharp.height) == (32, 32)
    assert _max_step(sharp) > 200  # black next to white
    assert _max_step(placeholder) < 160  # softened: no hard edge survives a sigma-1 blur


@pytest.mark.parametrize("colour", [(2, 5, 9), (0, 0, 0), (255, 255, 255), (200, 40, 3)])
def test_the_blurhash_average_of_a_solid_colour_is_that_colour(colour: tuple[int, int, int]) -> None:
    # the DC term is the sRGB of the mean linear colour: exact for one colour, dark ones included
    assert _dc(str(_json(save(solid(40, 30, colour), "png"))["blurhash"])) == colour
