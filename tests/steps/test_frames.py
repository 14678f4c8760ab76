"""Per-frame geometry on animation strips."""

from __future__ import annotations

import pyvips

from enlarger.steps.frames import first_frame, frame_height, per_frame
from tests.imaging import BLUE, RED, near, pixel, solid


def strip() -> pyvips.Image:
    image = solid(40, 30, RED).join(solid(40, 30, BLUE), "vertical").copy()
    image.set_type(pyvips.GValue.gint_type, "page-height", 30)
    return image


def test_frame_height_reads_page_height_and_ignores_nonsense() -> None:
    assert frame_height(strip()) == 30
    odd = solid(10, 25, RED).copy()
    odd.set_type(pyvips.GValue.gint_type, "page-height", 7)
    assert frame_height(odd) == 25


def test_per_frame_applies_to_every_frame_and_keeps_page_height() -> None:
    result = per_frame(strip(), lambda f: f.crop(0, 0, 20, 10))
    assert (result.width, result.height, result.get("page-height")) == (20, 20, 10)
    assert near(pixel(result, 5, 5), RED, 0) and near(pixel(result, 5, 15), BLUE, 0)


def test_first_frame_is_a_still() -> None:
    first = first_frame(strip())
    assert (first.width, first.height) == (40, 30)
    assert "page-height" not in first.get_fields()
    assert near(pixel(first, 20, 29), RED, 0)
