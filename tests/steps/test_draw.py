"""The draw step through the engine: positions, opacity, tiling, alpha, composite modes, animation, errors."""

from __future__ import annotations

from typing import Any

import pytest
import pyvips

from enlarger.errors import OptionError, UnknownOptionError
from enlarger.job import Job, Overlay
from enlarger.options import DrawOptions, parse_draw, parse_options
from enlarger.pipeline import transform, transform_job
from enlarger.steps.frames import frame_height
from tests.imaging import animation, coloured_frames, decode, near, pixel, save, solid

WHITE_PNG = save(solid(100, 80, (255, 255, 255)), "png")
RED_20x10 = save(solid(20, 10, (255, 0, 0)), "png")


def _half_red(width: int = 10, height: int = 10) -> bytes:
    """Red on the left half, fully transparent on the right half."""
    image = solid(width, height, (255, 0, 0, 0)).draw_rect([255, 0, 0, 255], 0, 0, width // 2, height, fill=True)
    return save(image, "png")


def _draw(
    base: bytes, overlay: bytes, base_options: str = "", overlay_options: str = "", **draw: object
) -> pyvips.Image:
    job = Job(base, parse_options(base_options), (Overlay(overlay, parse_options(overlay_options), parse_draw(draw)),))
    return decode(transform_job(job).data)


def _is_red(image: pyvips.Image, x: int, y: int) -> bool:
    return near(pixel(image, x, y), (255, 0, 0))


def _is_white(image: pyvips.Image, x: int, y: int) -> bool:
    return near(pixel(image, x, y), (255, 255, 255))


@pytest.mark.parametrize(
    ("draw", "box"),
    [
        ({}, (40, 35)),  # no position: centred
        ({"left": 5, "top": 7}, (5, 7)),
        ({"right": 5, "bottom": 7}, (75, 63)),
        ({"left": 5}, (5, 35)),  # the other axis stays centred
        ({"top": 7}, (40, 7)),
        ({"right": 0, "top": 0}, (80, 0)),
    ],
)
def test_overlay_lands_where_its_position_says(draw: dict[str, Any], box: tuple[int, int]) -> None:
    out = _draw(WHITE_PNG, RED_20x10, **draw)
    x, y = box
    assert (out.width, out.height) == (100, 80)
    assert _is_red(out, x, y) and _is_red(out, x + 19, y + 9)
    for outside in [(x - 1, y), (x + 20, y), (x, y - 1), (x, y + 10)]:
        if 0 <= outside[0] < 100 and 0 <= outside[1] < 80:
            assert _is_white(out, *outside), outside


def test_opacity_blends_the_overlay_with_the_base() -> None:
    out = _draw(WHITE_PNG, RED_20x10, opacity=0.5)
    assert near(pixel(out, 50, 40), (255, 128, 128), tolerance=2)
    blue = save(solid(100, 80, (0, 0, 255)), "png")
    out = _draw(blue, RED_20x10, opacity=0.25)
    assert near(pixel(out, 50, 40), (64, 0, 191), tolerance=2)
    assert _is_white(_draw(WHITE_PNG, RED_20x10, opacity=0), 50, 40)


def test_transparent_overlay_areas_leave_the_base_exactly() -> None:
    base = save(solid(100, 80, (10, 200, 30)), "png")
    out = _draw(base, _half_red(20, 10), left=0, top=0)
    assert _is_red(out, 0, 0) and _is_red(out, 9, 9)
    assert pixel(out, 10, 0) == [10.0, 200.0, 30.0] and pixel(out, 19, 9) == [10.0, 200.0, 30.0]


def test_half_transparent_overlay_pixels_blend_with_straight_alpha() -> None:
    # premultiplied compositing: a half-transparent red over blue is the mean, not a dark fringe
    overlay = save(solid(20, 10, (255, 0, 0, 128)), "png")
    out = _draw(save(solid(100, 80, (0, 0, 255)), "png"), overlay)
    assert near(pixel(out, 50, 40), (128, 0, 127), tolerance=2)


def test_repeat_true_tiles_the_whole_base_from_the_position() -> None:
    out = _draw(WHITE_PNG, _half_red(), repeat=True, left=3, top=0)
    for x in range(100):
        assert _is_red(out, x, 75) == ((x - 3) % 10 < 5), x
    assert _is_red(out, 93, 3) and _is_red(out, 5, 40) and not _is_red(out, 0, 40)


def test_repeat_x_tiles_one_row_and_repeat_y_one_column() -> None:
    row = _draw(WHITE_PNG, _half_red(), repeat="x", top=20)  # the grid runs through the centred tile at x=45
    assert _is_red(row, 5, 20) and _is_red(row, 99, 29) and _is_white(row, 0, 25) and _is_white(row, 4, 25)
    assert all(_is_white(row, x, 50) for x in range(100))
    column = _draw(WHITE_PNG, _half_red(), repeat="y", left=30)
    assert _is_red(column, 30, 0) and _is_red(column, 34, 79)
    assert all(_is_white(column, 60, y) for y in range(80))


def test_the_overlay_is_transformed_by_its_own_options_first() -> None:
    big = save(solid(40, 20, (255, 0, 0)), "png")
    out = _draw(WHITE_PNG, big, overlay_options="width=20", left=0, top=0)
    assert _is_red(out, 19, 9) and _is_white(out, 20, 0) and _is_white(out, 0, 10)
    turned = _draw(WHITE_PNG, big, overlay_options="width=20,rotate=90", left=0, top=0)  # 20×40 once turned
    assert _is_red(turned, 19, 39) and _is_white(turned, 20, 0) and _is_white(turned, 0, 40)
    # the overlay's background fills its own transparency
    filled = _draw(WHITE_PNG, _half_red(), overlay_options="background=blue", left=0, top=0)
    assert near(pixel(filled, 8, 5), (0, 0, 255))


def test_output_keeps_the_base_size_and_geometry() -> None:
    huge = save(solid(300, 300, (255, 0, 0)), "png")
    assert (_draw(WHITE_PNG, huge).width, _draw(WHITE_PNG, huge).height) == (100, 80)
    off = _draw(WHITE_PNG, RED_20x10, left=-15, top=-5)  # partly outside: the rest is cut away
    assert _is_red(off, 4, 4) and _is_white(off, 5, 0) and _is_white(off, 0, 5)
    # positions are inside the base's own canvas: the border goes around the composite
    framed = _draw(WHITE_PNG, RED_20x10, "width=50,border.width=5,border.color=blue", left=0, top=0)
    assert (framed.width, framed.height) == (60, 50)
    assert near(pixel(framed, 2, 2), (0, 0, 255)) and _is_red(framed, 5, 5) and _is_white(framed, 25, 15)


@pytest.mark.parametrize(
    ("mode", "inside", "inside_alpha"),
    [
        ("over", (255, 0, 0), 255),
        ("atop", (255, 0, 0), 255),
        ("in", (255, 0, 0), 255),  # source in an opaque base: the source
        ("out", None, 0),  # source out of an opaque base: nothing
        ("xor", None, 0),
        ("lighter", (255, 255, 255), 255),  # added and clipped
    ],
)
def test_composite_modes_act_inside_the_overlay_box_only(
    mode: str, inside: tuple[int, int, int] | None, inside_alpha: int
) -> None:
    out = _draw(WHITE_PNG, RED_20x10, "format=png", composite=mode, left=10, top=10)
    alpha = out.getpoint(15, 15)[3] if out.bands == 4 else 255
    assert alpha == inside_alpha
    if inside is not None:
        assert near(pixel(out, 15, 15), inside)
    assert near(pixel(out, 50, 50), (255, 255, 255)) and (out.bands == 3 or out.getpoint(50, 50)[3] == 255)


def test_lighter_adds_the_colours() -> None:
    base = save(solid(100, 80, (0, 0, 100)), "png")
    out = _draw(base, save(solid(20, 10, (100, 0, 0)), "png"), composite="lighter")
    assert near(pixel(out, 50, 40), (100, 0, 100), tolerance=1)


def test_opaque_base_stays_without_alpha_for_over_and_becomes_colour() -> None:
    grey = save(solid(100, 80, (128,)).copy(interpretation="b-w"), "png")
    out = _draw(grey, RED_20x10)
    assert out.bands == 3 and _is_red(out, 50, 40) and near(pixel(out, 0, 0), (128, 128, 128))
    jpeg = decode(transform_job(Job(save(solid(100, 80, (0, 0, 255)), "jpeg"), overlays=(Overlay(RED_20x10),))).data)
    assert jpeg.bands == 3 and _is_red(jpeg, 50, 40) and near(pixel(jpeg, 5, 5), (0, 0, 255))


def test_every_frame_of_an_animated_base_gets_the_overlay() -> None:
    colours = [(0, 0, 255), (0, 255, 0), (255, 255, 0)]
    base = animation(coloured_frames(100, 80, colours))
    result = transform_job(Job(base, overlays=(Overlay(RED_20x10),)))
    out = decode(result.data)
    page = frame_height(out)
    assert (result.format, result.frames, out.width, page) == ("gif", 3, 100, 80)
    for i, colour in enumerate(colours):
        assert _is_red(out, 50, i * page + 40), i
        assert near(pixel(out, 2, i * page + 2), colour), i


def test_overlays_are_drawn_in_order() -> None:
    blue = save(solid(20, 10, (0, 0, 255)), "png")
    job = Job(WHITE_PNG, overlays=(Overlay(RED_20x10), Overlay(blue, draw=DrawOptions(left=50))))
    out = decode(transform_job(job).data)
    assert _is_red(out, 45, 40) and near(pixel(out, 55, 40), (0, 0, 255))


def test_relative_sizes_are_fractions_of_the_output_inside_the_border() -> None:
    # 200×160 inside a 10 px border (220×180 in all): width 0.5 → 100 px (50 high, aspect kept)
    sized = Overlay(RED_20x10, parse_options("fit=contain"), DrawOptions(top=0, left=0), width=0.5)
    framed = parse_options("width=200,fit=contain,border.color=black,border.width=10")
    out = decode(transform_job(Job(WHITE_PNG, framed, (sized,))).data)
    assert (out.width, out.height) == (220, 180)
    assert near(pixel(out, 5, 5), (0, 0, 0), 2)  # the border stays: overlays sit inside it
    assert _is_red(out, 11, 11) and _is_red(out, 108, 58)  # 10 + 100 across, 10 + 50 down
    assert _is_white(out, 112, 30) and _is_white(out, 30, 62)
    tall = Overlay(RED_20x10, parse_options("fit=contain"), DrawOptions(top=0, left=0), height=0.25)
    out = decode(transform_job(Job(WHITE_PNG, parse_options("width=200,fit=contain"), (tall,))).data)
    assert _is_red(out, 78, 38) and _is_white(out, 82, 10) and _is_white(out, 10, 42)  # 0.25 of 160: 40 high, 80 wide


@pytest.mark.parametrize(("width", "height"), [(0.0, None), (1.5, None), (None, -0.1)])
def test_relative_sizes_are_fractions(width: float | None, height: float | None) -> None:
    with pytest.raises(ValueError, match="fraction"):
        Overlay(RED_20x10, width=width, height=height)


def test_an_svg_base_with_overlays_is_drawn_on_pixels() -> None:
    svg = (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="80">'
        b'<rect width="100" height="80" fill="#fff"/></svg>'
    )
    result = transform_job(Job(svg, overlays=(Overlay(RED_20x10),)))
    out = decode(result.data)
    assert result.format == "png" and (out.width, out.height) == (100, 80) and _is_red(out, 50, 40)


def test_one_image_shortcut_is_a_job_without_overlays() -> None:
    alone = transform(WHITE_PNG, "width=50,format=webp")
    assert transform_job(Job(WHITE_PNG, parse_options("width=50,format=webp"))).data == alone.data


@pytest.mark.parametrize(
    ("draw", "option"),
    [({"left": 1, "right": 2}, "right"), ({"top": 0, "bottom": 0}, "bottom"), ({"opacity": 1.5}, "opacity")],
)
def test_bad_draw_options_are_a_400(draw: dict[str, object], option: str) -> None:
    with pytest.raises(OptionError) as info:
        parse_draw(draw)
    assert (info.value.status, info.value.option) == (400, option)


def test_draw_option_values_and_names() -> None:
    assert parse_draw({"repeat": "X", "composite": "xor", "opacity": "0.5"}) == DrawOptions(0.5, "x", "xor")
    assert parse_draw({"repeat": True, "top": None}).repeat is True
    assert parse_draw(None) == DrawOptions()
    with pytest.raises(OptionError, match="repeat"):
        parse_draw({"repeat": "z"})
    with pytest.raises(UnknownOptionError, match=r"draw options: opacity"):
        parse_draw({"opacty": 0.5})
    with pytest.raises(OptionError):
        DrawOptions(left=0, right=0)
