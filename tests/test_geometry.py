"""The fit-mode size table, dpr, clamping, trim and rotation, as pure arithmetic."""

from __future__ import annotations

import pytest

from enlarger.geometry import Rect, Size, crops, plan, trim_rect
from enlarger.options import parse_options

MAX = 12_000


def output(width: int, height: int, options: str, max_side: int = MAX) -> tuple[int, int]:
    return plan(width, height, parse_options(options), max_side).output


# (source, options, expected output) — Cloudflare's documented behaviour per fit mode
FIT_TABLE = [
    # scale-down: fits inside, never enlarges
    ((1000, 666), "width=500,height=500", (500, 333)),
    ((1000, 666), "width=2000,height=2000", (1000, 666)),
    ((1000, 666), "width=500", (500, 333)),
    ((1000, 666), "height=333", (500, 333)),
    ((1000, 666), "width=4000", (1000, 666)),
    # contain: fits inside, may enlarge
    ((1000, 666), "width=2000,height=2000,fit=contain", (2000, 1332)),
    ((1000, 666), "width=500,height=500,fit=contain", (500, 333)),
    ((100, 50), "width=400,fit=contain", (400, 200)),
    # cover: exactly the box, enlarging when needed
    ((1000, 666), "width=500,height=500,fit=cover", (500, 500)),
    ((100, 50), "width=400,height=400,fit=cover", (400, 400)),
    ((1000, 666), "width=500,fit=cover", (500, 333)),
    # crop: like cover when the image is larger, like scale-down when smaller
    ((1920, 1080), "width=1080,height=720,fit=crop", (1080, 720)),
    ((612, 613), "width=1920,height=1120,fit=crop", (612, 613)),
    ((1000, 500), "width=800,height=800,fit=crop", (800, 500)),
    # aspect-crop: the target aspect ratio, never enlarged (the docs' own example: 612×613 → 612×357)
    ((612, 613), "width=1920,height=1120,fit=aspect-crop", (612, 357)),
    ((1920, 1080), "width=1080,height=720,fit=aspect-crop", (1080, 720)),
    # pad: the exact box, image contained inside
    ((1000, 666), "width=1080,height=1080,fit=pad", (1080, 1080)),
    ((100, 50), "width=300,height=300,fit=pad", (300, 300)),
    # scale-up: fits inside like contain, but never downscales
    ((100, 50), "width=400,height=400,fit=scale-up", (400, 200)),
    ((100, 50), "width=300,fit=scale-up", (300, 150)),
    ((1000, 666), "width=500,height=500,fit=scale-up", (1000, 666)),
    ((1000, 666), "width=500,fit=scale-up", (1000, 666)),
    # squeeze: exactly the box, aspect ignored
    ((1000, 666), "width=300,height=700,fit=squeeze", (300, 700)),
    # no size: the source size
    ((1000, 666), "", (1000, 666)),
    ((1000, 666), "fit=cover", (1000, 666)),
]


@pytest.mark.parametrize(("source", "options", "expected"), FIT_TABLE)
def test_fit_table(source: tuple[int, int], options: str, expected: tuple[int, int]) -> None:
    """Cloudflare, P/fit.mdx and optimization/features.mdx: what each fit mode does with width × height
    (aspect-crop's 612×613 at 1920×1120 → 612×357 and scale-up's "never downscale" included)."""
    assert output(*source, options) == expected


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ("trim=0.1;0.2;0.1;0.2", Rect(200, 100, 600, 800)),
        ("trim=100;0.2;0.1;200", Rect(200, 100, 600, 800)),
        ("trim.top=0.25,trim.left=0.5", Rect(500, 250, 500, 750)),
        ("trim.left=0.1,trim.width=0.5,trim.top=10,trim.height=0.3", Rect(100, 10, 500, 300)),
    ],
)
def test_trim_values_may_be_fractions_of_the_side(options: str, expected: Rect) -> None:
    """Cloudflare, P/trim.mdx and optimization/features.mdx: trim values are pixels or fractions of
    the side (0–1): trim=0.1;0.2;0.1;0.2 on 1000×1000 keeps 600×800."""
    assert trim_rect(1000, 1000, parse_options(options)) == expected
    assert output(1000, 1000, options) == (expected.width, expected.height)


def test_dpr_multiplies_requested_sizes() -> None:
    assert output(4000, 3000, "width=400,dpr=2") == (800, 600)
    assert output(4000, 3000, "width=400,height=400,fit=cover,dpr=1.5") == (600, 600)


def test_dpr_does_not_enlarge_with_scale_down() -> None:
    assert output(500, 400, "width=400,dpr=2") == (500, 400)


def test_border_is_added_after_resize_and_scaled_by_dpr() -> None:
    assert output(1000, 500, "width=100,border.width=5") == (110, 60)
    assert output(1000, 500, "width=100,border.width=5,border.top=0,dpr=2") == (220, 110)


def test_outputs_are_clamped_to_the_maximum_side_keeping_aspect() -> None:
    assert output(1000, 500, "width=6000,fit=contain", max_side=4000) == (4000, 2000)
    assert output(1000, 500, "width=12000,height=12000,fit=cover", max_side=3000) == (3000, 3000)
    assert output(5000, 2500, "", max_side=1000) == (1000, 500)
    wide = output(1000, 10, "width=12000,fit=contain", max_side=4000)
    assert wide == (4000, 40)


def test_pad_output_and_canvas() -> None:
    p = plan(1000, 500, parse_options("width=400,height=400,fit=pad"), MAX)
    assert p.resized == (400, 200)
    assert p.canvas == (400, 400)


def test_rotation_swaps_the_box_the_image_fits() -> None:
    p = plan(1000, 500, parse_options("width=100,rotate=90"), MAX)
    assert p.rotated
    assert p.output == (100, 200)
    # the decoder produces the un-rotated frame
    assert p.load_size == (200, 100)


def test_trim_edges_before_resize() -> None:
    options = parse_options("trim=10;20;30;40,width=94")
    p = plan(1000, 500, options, MAX)
    # 1000-40-20 = 940 wide, 500-10-30 = 460 tall → scaled by 0.1
    assert p.output == (94, 46)
    assert p.load_size == (100, 50)
    assert p.trim == Rect(4, 1, 94, 46)


def test_trim_then_enlarge_loads_the_source_and_resizes_after_cutting() -> None:
    p = plan(1000, 500, parse_options("trim.left=900,trim.width=100,trim.height=50,width=400,fit=contain"), MAX)
    assert p.load_size == (1000, 500)
    assert p.trim == Rect(900, 0, 100, 50)
    assert p.trimmed == (400, 200)
    assert p.output == (400, 200)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ("trim=10;20;30;40", Rect(40, 10, 940, 460)),
        ("trim.left=100,trim.top=50,trim.width=200,trim.height=100", Rect(100, 50, 200, 100)),
        ("trim.right=100", Rect(0, 0, 900, 500)),
        ("trim=0;0;0;0", None),
        ("trim=400;600;400;600", Rect(600, 400, 1, 1)),
        ("trim.left=5000,trim.width=10", Rect(999, 0, 1, 500)),
    ],
)
def test_trim_rect_is_clamped_to_the_image(options: str, expected: Rect | None) -> None:
    assert trim_rect(1000, 500, parse_options(options)) == expected


def test_cover_crop_window_and_resize() -> None:
    p = plan(1000, 500, parse_options("width=200,height=200,fit=cover"), MAX)
    assert p.resized == (400, 200)
    assert p.crop == (200, 200)


_CROP_CASES = [options for _, options, _ in FIT_TABLE] + [
    "width=auto,height=300,fit=cover",  # auto without hints is no width: no crop
    "width=12000,height=12000,fit=crop,dpr=4",  # clamped to the maximum side, still a crop
    "height=300,fit=aspect-crop",
]


@pytest.mark.parametrize("options", _CROP_CASES)
def test_crops_tells_before_planning_whether_the_plan_crops(options: str) -> None:
    parsed = parse_options(options)
    for source in [(1000, 666), (100, 50), (612, 613)]:
        assert crops(parsed) == (plan(*source, parsed, 4000).crop is not None), source


def test_plan_sizes_are_named_sizes_in_their_frames() -> None:
    p = plan(1000, 500, parse_options("trim.left=100,width=300,height=100,fit=cover,rotate=90,border.width=2"), MAX)
    assert p.oriented == Size(1000, 500)
    # 900×500 kept; turned it is 500×900, which covers 300×100 at scale 0.6
    assert p.trimmed == Size(width=540, height=300)
    assert p.resized == Size(300, 540) and p.resized.height == 540
    assert p.crop == Size(300, 100)
    assert p.output == Size(304, 104) and p.output.height == 104
