"""flip and rotate: the documented order, seen in pixels."""

from __future__ import annotations

import pytest

from enlarger.pipeline import transform
from tests.imaging import BLUE, GREEN, RED, WHITE, decode, near, pixel, quadrants, save

SOURCE = save(quadrants(200, 100), "png")  # red top-left, green top-right, blue bottom-left, white


def _corners(options: str) -> tuple[list[float], ...]:
    image = decode(transform(SOURCE, f"{options},format=png").data)
    w, h = image.width, image.height
    return tuple(pixel(image, x, y) for x, y in ((5, 5), (w - 5, 5), (5, h - 5), (w - 5, h - 5)))


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        # mirror (green|red over white|blue), then a quarter turn clockwise
        ("flip=h,rotate=90", (WHITE, GREEN, BLUE, RED)),
        ("rotate=90,flip=h", (WHITE, GREEN, BLUE, RED)),  # the order in the URL does not matter
        # upside down (blue|white over red|green), then a quarter turn clockwise
        ("flip=v,rotate=90", (RED, BLUE, GREEN, WHITE)),
        ("flip=h,rotate=270", (RED, BLUE, GREEN, WHITE)),
        ("flip=hv,rotate=180", (RED, GREEN, BLUE, WHITE)),
    ],
)
def test_flip_is_performed_before_rotate(options: str, expected: tuple[tuple[int, int, int], ...]) -> None:
    """Cloudflare, P/flip.mdx: flip is performed before rotate (flip=h,rotate=90 mirrors, then turns)."""
    corners = _corners(options)
    assert all(near(got, want) for got, want in zip(corners, expected, strict=True)), corners
