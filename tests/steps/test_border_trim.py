"""Border detection maps the analysis rectangle back to source pixels, outwards."""

from __future__ import annotations

from enlarger.codecs import probe
from enlarger.geometry import Rect
from enlarger.options import parse_options
from enlarger.steps.border_trim import detect_border
from tests.imaging import quadrants, save, solid


def test_detects_content_inside_a_large_border() -> None:
    # 3000 px wide: analysis runs at 1024, so the rectangle is rounded outwards
    source = save(solid(3000, 1500, (255, 255, 255)).insert(quadrants(1000, 500), 1000, 500), "png")
    rect = detect_border(source, probe(source), parse_options("trim=border"))
    assert rect is not None
    assert 990 <= rect.x <= 1000 and 490 <= rect.y <= 500
    assert 1000 <= rect.x + rect.width <= 2010 and 1000 <= rect.y + rect.height <= 1010


def test_keep_widens_and_clamps() -> None:
    source = save(solid(200, 100, (0, 0, 0)).insert(quadrants(100, 50), 5, 25), "png")
    rect = detect_border(source, probe(source), parse_options("trim.border.keep=20,trim.border.color=black"))
    assert rect == Rect(0, 5, 125, 90)


def test_no_border_and_uniform_images_trim_nothing() -> None:
    plain = save(quadrants(100, 50), "png")
    assert detect_border(plain, probe(plain), parse_options("trim=border")) is None
    blank = save(solid(100, 50, (9, 9, 9)), "png")
    assert detect_border(blank, probe(blank), parse_options("trim=border")) is None


def test_transparent_borders_are_trimmed() -> None:
    # white content on a transparent border: the alpha, not the colour, tells them apart
    clear = solid(100, 100, (0, 0, 0, 0)).insert(solid(40, 20, (255, 255, 255, 255)), 30, 40)
    source = save(clear, "png")
    rect = detect_border(source, probe(source), parse_options("trim=border"))
    assert rect == Rect(30, 40, 40, 20)
