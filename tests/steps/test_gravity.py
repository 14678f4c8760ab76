"""Crop-window placement for sides, focal points and saliency."""

from __future__ import annotations

import pytest

from enlarger.options import Gravity
from enlarger.steps.gravity import crop_origin, salient_origin
from tests.imaging import gradient, solid


@pytest.mark.parametrize(
    ("gravity", "expected"),
    [
        (None, (50, 25)),
        ((0.5, 0.5), (50, 25)),
        ("left", (0, 25)),
        ("right", (100, 25)),
        ("top", (50, 0)),
        ("bottom", (50, 50)),
        ((0.0, 0.0), (0, 0)),
        ((1.0, 1.0), (100, 50)),
        ((0.6, 0.5), (70, 25)),
    ],
)
def test_crop_origin(gravity: Gravity | None, expected: tuple[int, int]) -> None:
    assert crop_origin(gravity, (200, 100), (100, 50)) == expected


def test_salient_origin_finds_the_busy_corner() -> None:
    image = solid(300, 300, (120, 120, 120)).insert(gradient(60, 60), 230, 230)
    x, y = salient_origin(image, (100, 100))
    assert x >= 160 and y >= 160


def test_salient_origin_of_a_full_window_is_the_origin() -> None:
    assert salient_origin(solid(50, 40, (1, 2, 3)), (50, 40)) == (0, 0)
