"""CSS colour parsing: names, hex, rgb()/hsl() in comma and space syntax, alpha forms, canonical css()."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from enlarger.colors import BLACK, TRANSPARENT, WHITE, Color, parse_color


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("red", Color(255, 0, 0)),
        ("Red", Color(255, 0, 0)),
        ("  navy  ", Color(0, 0, 128)),
        ("grey", Color(128, 128, 128)),
        ("gray", Color(128, 128, 128)),
        ("white", Color(255, 255, 255)),
        ("cornflowerblue", Color(100, 149, 237)),
        ("transparent", Color(0, 0, 0, 0)),
        ("TRANSPARENT", Color(0, 0, 0, 0)),
    ],
)
def test_named_colours(text: str, expected: Color) -> None:
    assert parse_color(text) == expected


def test_css4_name_rebeccapurple() -> None:
    # CSS Color 4 (which Cloudflare says it accepts) names rebeccapurple = #663399.
    assert parse_color("rebeccapurple") == Color(0x66, 0x33, 0x99)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#f00", Color(255, 0, 0, 255)),
        ("#F00", Color(255, 0, 0, 255)),
        ("#abc", Color(0xAA, 0xBB, 0xCC, 255)),
        ("#f008", Color(255, 0, 0, 0x88)),
        ("#ff8000", Color(255, 128, 0, 255)),
        ("#FF8000", Color(255, 128, 0, 255)),
        ("#ff800080", Color(255, 128, 0, 128)),
        ("#00000000", Color(0, 0, 0, 0)),
        (" #123456 ", Color(0x12, 0x34, 0x56, 255)),
    ],
)
def test_hex(text: str, expected: Color) -> None:
    assert parse_color(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rgb(255,0,0)", Color(255, 0, 0)),
        ("rgb(255, 128, 0)", Color(255, 128, 0)),
        ("rgb(255 128 0)", Color(255, 128, 0)),
        ("RGB(1,2,3)", Color(1, 2, 3)),
        ("rgb( 1 , 2 , 3 )", Color(1, 2, 3)),
        ("rgb(100%, 0%, 0%)", Color(255, 0, 0)),
        ("rgb(300, -5, 0)", Color(255, 0, 0)),  # clamped like CSS
        ("rgb(1.4, 1.6, 0)", Color(1, 2, 0)),
        ("rgb(10, 20, 30, 0.5)", Color(10, 20, 30, 128)),  # 4 components: last is alpha
        ("rgba(255,0,0,0.5)", Color(255, 0, 0, 128)),
        ("rgba(255, 0, 0, 0)", Color(255, 0, 0, 0)),
        ("rgba(255, 0, 0, 1)", Color(255, 0, 0, 255)),
        ("rgba(255 0 0 / 0.5)", Color(255, 0, 0, 128)),
        ("rgb(255 0 0 / 0.25)", Color(255, 0, 0, 64)),
        ("rgba(255 255 0 100)", Color(255, 255, 0, 255)),  # Cloudflare's 0–100 alpha form
        ("rgba(0, 0, 0, 20)", Color(0, 0, 0, 51)),
        ("rgb(0 0 0 / 20%)", Color(0, 0, 0, 51)),
        ("rgba(1, 2, 3)", Color(1, 2, 3, 255)),
        ("rgba(0,0,0,-1)", Color(0, 0, 0, 0)),
    ],
)
def test_rgb_functions(text: str, expected: Color) -> None:
    assert parse_color(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hsl(0, 100%, 50%)", Color(255, 0, 0)),
        ("hsl(0,100%,50%)", Color(255, 0, 0)),
        ("hsl(120, 100%, 25%)", Color(0, 128, 0)),
        ("hsl(240deg 100% 50%)", Color(0, 0, 255)),
        ("hsl(360, 100%, 50%)", Color(255, 0, 0)),
        ("hsl(-120, 100%, 50%)", Color(0, 0, 255)),
        ("hsl(30, 100%, 50%)", Color(255, 128, 0)),
        ("hsl(120 50% 50%)", Color(64, 191, 64)),
        ("hsl(0 0% 100%)", Color(255, 255, 255)),
        ("hsl(0, 0%, 0%)", Color(0, 0, 0)),
        ("hsla(0, 100%, 50%, 0.5)", Color(255, 0, 0, 128)),
        ("hsla(0 0% 100% / 25%)", Color(255, 255, 255, 64)),
        ("HSL(0, 100%, 50%)", Color(255, 0, 0)),
    ],
)
def test_hsl_functions(text: str, expected: Color) -> None:
    assert parse_color(text) == expected


@pytest.mark.parametrize(
    "spellings",
    [
        ("rgb(50%, 50%, 50%)", "rgb(127.5, 127.5, 127.5)", "rgb(128 128 128)", "#808080"),
        ("rgba(0 0 0 / 50%)", "rgba(0, 0, 0, 0.5)", "rgba(0 0 0 50)", "#00000080"),
    ],
)
def test_equal_colours_parse_equal_however_spelled(spellings: tuple[str, ...]) -> None:
    # The module promises one RGBA tuple however the colour is spelled (it is part of the cache key).
    parsed = {text: parse_color(text) for text in spellings}
    assert len(set(parsed.values())) == 1, parsed


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "notacolour",
        "f00",
        "#12",
        "#12345",
        "#1234567",
        "#123456789",
        "#ggg",
        "rgb()",
        "rgb(1,2)",
        "rgb(1,2,3,4,5)",
        "rgb(a,b,c)",
        "rgb(1,2,3",
        "rgb 1,2,3",
        "rgba(1 2 3 / )",
        "rgba(1 2 3 / x)",
        "hsl(1turn, 2%, 3%)",
        "hsl(0, 100%)",
        "hsl(xdeg, 1%, 1%)",
        "cmyk(0, 0, 0, 0)",
        "rgb(%, 0, 0)",
    ],
)
def test_invalid_colours_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(text)}$"):
        parse_color(text)


@pytest.mark.parametrize("text", ["rgb(inf, 0, 0)", "rgb(1e999 0 0)", "rgba(0, 0, 0, inf)", "hsl(0 0% 0% / 1e400)"])
def test_infinite_components_raise_value_error(text: str) -> None:
    # parse_color documents ValueError (carrying the text) as its only failure.
    with pytest.raises(ValueError, match=f"^{re.escape(text)}$"):
        parse_color(text)


@pytest.mark.parametrize(
    ("colour", "css"),
    [
        (Color(255, 0, 0), "#ff0000"),
        (Color(1, 2, 3, 255), "#010203"),
        (Color(1, 2, 3, 4), "#01020304"),
        (Color(255, 255, 255, 0), "#ffffff00"),
        (WHITE, "#ffffff"),
        (BLACK, "#000000"),
        (TRANSPARENT, "#00000000"),
    ],
)
def test_css(colour: Color, css: str) -> None:
    assert colour.css() == css


def test_opaque_and_lists() -> None:
    assert Color(1, 2, 3).opaque
    assert not Color(1, 2, 3, 254).opaque
    assert Color(1, 2, 3, 4).rgb() == [1.0, 2.0, 3.0]
    assert Color(1, 2, 3, 4).rgba() == [1.0, 2.0, 3.0, 4.0]


_channel = st.integers(0, 255)


@hyp_settings(max_examples=300, deadline=None)
@given(st.builds(Color, _channel, _channel, _channel, _channel))
def test_css_round_trips(colour: Color) -> None:
    css = colour.css()
    assert parse_color(css) == colour
    assert parse_color(css.upper()) == colour
    assert len(css) == (7 if colour.opaque else 9)


@hyp_settings(max_examples=300, deadline=None)
@given(_channel, _channel, _channel)
def test_rgb_syntaxes_agree(r: int, g: int, b: int) -> None:
    expected = Color(r, g, b)
    assert parse_color(f"rgb({r},{g},{b})") == expected
    assert parse_color(f"rgb({r} {g} {b})") == expected
    assert parse_color(f"rgba({r}, {g}, {b}, 1)") == expected
    assert parse_color(f"rgb({r} {g} {b} / 100%)") == expected
    assert parse_color(f"#{r:02x}{g:02x}{b:02x}") == expected


_TOKENS = st.sampled_from(
    [
        "rgb",
        "rgba",
        "hsl",
        "hsla",
        "(",
        ")",
        ",",
        " ",
        "/",
        "%",
        "#",
        "deg",
        ".",
        "-",
        "e",
        "inf",
        "nan",
        *"0129abcdefx",
    ]
)


@hyp_settings(max_examples=400, deadline=None)
@given(st.text(max_size=30) | st.lists(_TOKENS, max_size=14).map("".join))
@example("rgb(inf,0,0)")
def test_arbitrary_text_gives_a_colour_or_value_error(text: str) -> None:
    try:
        colour = parse_color(text)
    except ValueError:
        return
    assert isinstance(colour, Color)
    assert all(0 <= channel <= 255 for channel in colour)
