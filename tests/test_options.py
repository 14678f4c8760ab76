"""The option table: URL and JSON forms, validation messages, combinations, canonical form, properties."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest
import pyvips
from hypothesis import assume, example, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from enlarger import url_overlay
from enlarger.colors import Color
from enlarger.errors import EnlargerError, OptionError, UnknownOptionError
from enlarger.geometry import Rect, trim_rect
from enlarger.models import upscale as upscale_model
from enlarger.options import (
    BY_NAME,
    DEFAULT_QUALITY,
    FITS,
    FORMATS,
    GRAVITY_NAMES,
    MAX_DIMENSION,
    NAMED_QUALITY,
    TABLE,
    DrawOptions,
    Option,
    Options,
    parse_options,
    quality_number,
    render_value,
)
from enlarger.pipeline import transform, transform_job
from enlarger.settings import Settings
from enlarger.steps import segment as segment_step
from enlarger.steps.frames import frame_height
from tests.imaging import animation, coloured_frames, decode, near, pixel, quadrants, save, solid

RED = Color(255, 0, 0)

# --- every option in the URL form: (segment, attribute, typed value)

URL_CASES: list[tuple[str, str, object]] = [
    ("width=400", "width", 400),
    ("w=400", "width", 400),
    ("width=400.0", "width", 400),
    ("width=1", "width", 1),
    (f"width={MAX_DIMENSION}", "width", MAX_DIMENSION),
    ("width=auto", "width", "auto"),
    ("wbreakpoints=400;800", "wbreakpoints", (400, 800)),
    ("wbreakpoints=800;400;800", "wbreakpoints", (400, 800)),
    ("wmobile=640", "wmobile", 640),
    ("wdesktop=1600", "wdesktop", 1600),
    ("height=300", "height", 300),
    ("h=300", "height", 300),
    ("fit=cover", "fit", "cover"),
    ("fit=aspect-crop", "fit", "aspect-crop"),
    ("fit=scale-up", "fit", "scale-up"),
    ("gravity=left", "gravity", "left"),
    ("g=face", "gravity", "face"),
    ("gravity=auto", "gravity", "auto"),
    ("gravity=center", "gravity", (0.5, 0.5)),
    ("gravity=0.25x0.75", "gravity", (0.25, 0.75)),
    ("g=0x1", "gravity", (0.0, 1.0)),
    ("zoom=0.5", "zoom", 0.5),
    ("zoom=0", "zoom", 0.0),
    ("face-zoom=0.4", "zoom", 0.4),
    ("dpr=2", "dpr", 2.0),
    ("dpr=1.5", "dpr", 1.5),
    ("dpr=3", "dpr", 2.0),
    ("trim=10;20;30;40", "trim", (10, 20, 30, 40)),
    ("trim=0.1;0.2;0.1;0.2", "trim", (0.1, 0.2, 0.1, 0.2)),
    ("trim=0.5;20;1.0;0", "trim", (0.5, 20, 1, 0)),
    ("trim.top=0.25", "trim_top", 0.25),
    ("trim.width=0.5", "trim_width", 0.5),
    ("trim=border", "trim", "border"),
    ("trim.top=5", "trim_top", 5),
    ("trim.right=6", "trim_right", 6),
    ("trim.bottom=7", "trim_bottom", 7),
    ("trim.left=8", "trim_left", 8),
    ("trim.width=100", "trim_width", 100),
    ("trim.height=50", "trim_height", 50),
    ("trim.border.color=red", "trim_border_color", RED),
    ("trim.border.tolerance=20", "trim_border_tolerance", 20.0),
    ("trim.border.keep=3", "trim_border_keep", 3),
    ("quality=75", "quality", 75),
    ("q=high", "quality", "high"),
    ("q=medium-low", "quality", "medium-low"),
    ("slow-connection-quality=40", "slow_connection_quality", 40),
    ("scq=low", "slow_connection_quality", "low"),
    ("slow_connection_quality=30", "slow_connection_quality", 30),
    ("format=webp", "format", "webp"),
    ("f=avif", "format", "avif"),
    ("format=jpg", "format", "jpeg"),
    ("format=baseline-jpeg", "format", "baseline-jpeg"),
    ("format=json", "format", "json"),
    ("anim=false", "anim", False),
    ("anim=true", "anim", True),
    ("anim=0", "anim", False),
    ("background=red", "background", RED),
    ("blur=5", "blur", 5.0),
    ("sharpen=1.5", "sharpen", 1.5),
    ("brightness=0.5", "brightness", 0.5),
    ("brightness=0", "brightness", 1.0),
    ("contrast=2", "contrast", 2.0),
    ("contrast=0", "contrast", 1.0),
    ("gamma=0.8", "gamma", 0.8),
    ("gamma=0", "gamma", 1.0),
    ("saturation=0", "saturation", 0.0),
    ("rotate=90", "rotate", 90),
    ("rotate=-90", "rotate", 270),
    ("rotate=360", "rotate", 0),
    ("flip=h", "flip", "h"),
    ("flip=vh", "flip", "hv"),
    ("border.color=#00ff00", "border_color", Color(0, 255, 0)),
    ("border.width=4", "border_width", 4),
    ("border.top=1", "border_top", 1),
    ("border.right=2", "border_right", 2),
    ("border.bottom=3", "border_bottom", 3),
    ("border.left=4", "border_left", 4),
    ("metadata=keep", "metadata", "keep"),
    ("metadata=none", "metadata", "none"),
    ("compression=fast", "compression", "fast"),
    ("onerror=redirect", "onerror", "redirect"),
    ("segment=foreground", "segment", "foreground"),
    ("upscale=generate", "upscale", "generate"),
    ("draw=url(https://cdn.example/logo.png)", "draw", "url(https://cdn.example/logo.png)"),
    ("draw.opacity=0.5", "draw_opacity", 0.5),
    ("draw.repeat=x", "draw_repeat", "x"),
    ("draw.top=-5", "draw_top", -5),
    ("draw.left=5", "draw_left", 5),
    ("draw.bottom=6", "draw_bottom", 6),
    ("draw.right=7", "draw_right", 7),
    ("draw.width=0.2", "draw_width", 0.2),
    ("draw.height=40", "draw_height", 40.0),
]


@pytest.mark.parametrize(("text", "attr", "expected"), URL_CASES)
def test_url_form_parses_every_option(text: str, attr: str, expected: object) -> None:
    options = parse_options(text)
    assert getattr(options, attr) == expected
    assert type(getattr(options, attr)) is type(expected)


def test_url_cases_cover_the_whole_table() -> None:
    attrs = {attr for _, attr, _ in URL_CASES}
    assert attrs == {opt.attr for opt in TABLE}


@pytest.mark.parametrize("fit", FITS)
def test_every_fit(fit: str) -> None:
    assert parse_options(f"fit={fit}").fit == fit


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format(fmt: str) -> None:
    assert parse_options(f"format={fmt}").format == fmt


@pytest.mark.parametrize("name", [g for g in GRAVITY_NAMES if g != "center"])
def test_gravity_names(name: str) -> None:
    assert parse_options(f"gravity={name}").gravity == name


def test_defaults() -> None:
    options = parse_options("")
    assert options == Options()
    assert (options.width, options.height, options.fit, options.dpr) == (None, None, "scale-down", None)
    assert options.scale == 1.0
    assert (options.anim, options.metadata, options.rotate, options.quality) == (True, "copyright", 0, None)
    assert (options.trim_border_tolerance, options.trim_border_keep) == (10.0, 0)
    assert parse_options(None) == Options()
    assert parse_options({}) == Options()
    assert parse_options(" , ,, ") == Options()


def test_options_pass_through_unchanged() -> None:
    options = parse_options("width=10")
    assert parse_options(options) is options


def test_several_options_and_whitespace() -> None:
    options = parse_options(" width = 400 , fit = cover ,q=50")
    assert (options.width, options.fit, options.quality) == (400, "cover", 50)


@pytest.mark.parametrize(
    "text",
    ["WIDTH=400", "Width=400", "W=400", "wIdTh=400"],
)
def test_names_are_case_insensitive(text: str) -> None:
    assert parse_options(text).width == 400


def test_names_and_enum_values_are_case_insensitive() -> None:
    options = parse_options("Fit=COVER,Q=High,TRIM.TOP=3,Border.Color=RED,FORMAT=JPG,Flip=VH,Metadata=Keep")
    assert options.fit == "cover"
    assert options.quality == "high"
    assert options.trim_top == 3
    assert options.border_color == RED
    assert options.format == "jpeg"
    assert options.flip == "hv"
    assert options.metadata == "keep"


def test_underscore_stands_for_dash() -> None:
    assert parse_options("slow_connection_quality=30").slow_connection_quality == 30
    assert parse_options({"slow_connection_quality": 30}).slow_connection_quality == 30
    assert parse_options("SLOW_CONNECTION_QUALITY=low").slow_connection_quality == "low"


def test_rgb_colours_keep_their_commas_in_the_url_form() -> None:
    options = parse_options("background=rgb(1,2,3),width=10,border.color=rgba(255, 0, 0, 0.5),border.width=2")
    assert options.background == Color(1, 2, 3)
    assert options.width == 10
    assert options.border_color == Color(255, 0, 0, 128)
    assert options.border_width == 2
    assert parse_options("background=hsl(0, 100%, 50%)").background == RED


# --- the JSON / dict form


@pytest.mark.parametrize("raw", [400, 400.0, "400", " 400 ", "4e2"])
def test_numbers_as_int_float_or_str(raw: object) -> None:
    assert parse_options({"width": raw}).width == 400


@pytest.mark.parametrize("raw", [True, False, 400.5, "400.5", [400], {"value": 400}, "", "four hundred"])
def test_non_numbers_are_rejected_in_dict_form(raw: object) -> None:
    with pytest.raises(OptionError) as info:
        parse_options({"width": raw})
    assert info.value.option.startswith("width")


def test_float_values_in_dict_form() -> None:
    options = parse_options({"dpr": 2, "blur": "2.5", "zoom": 0.3})
    assert (options.dpr, options.blur, options.zoom) == (2.0, 2.5, 0.3)
    assert isinstance(options.dpr, float)


def test_nested_border() -> None:
    options = parse_options({"border": {"color": "red", "width": 4}})
    assert options.border_color == RED
    assert options.border_width == 4
    assert options == parse_options("border.color=red,border.width=4")


def test_nested_trim_edges() -> None:
    options = parse_options({"trim": {"top": 1, "right": 2, "bottom": 3, "left": 4}})
    assert (options.trim_top, options.trim_right, options.trim_bottom, options.trim_left) == (1, 2, 3, 4)
    assert options.trim is None


def test_nested_trim_border_implies_trim_border() -> None:
    options = parse_options({"trim": {"border": {"color": "white", "tolerance": 5, "keep": 2}}})
    assert options.trim == "border"
    assert options.trim_border_color == Color(255, 255, 255)
    assert options.trim_border_tolerance == 5.0
    assert options.trim_border_keep == 2


def test_dotted_keys_in_dict_form() -> None:
    assert parse_options({"border.width": 3, "trim.border.keep": 1}) == parse_options(
        "border.width=3,trim.border.keep=1"
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"x": 0.2, "y": 0.8}, (0.2, 0.8)),
        ({"x": 0, "y": 1}, (0.0, 1.0)),
        ({"x": "0.5", "y": "0.25"}, (0.5, 0.25)),
        ("0.2x0.8", (0.2, 0.8)),
        ("center", (0.5, 0.5)),
        ("top", "top"),
    ],
)
def test_gravity_in_dict_form(raw: object, expected: object) -> None:
    assert parse_options({"gravity": raw}).gravity == expected


def test_gravity_point_dict_under_the_alias() -> None:
    # "g" is the documented alias of gravity; the JSON point form should work under it too.
    assert parse_options({"g": {"x": 0.2, "y": 0.8}}).gravity == (0.2, 0.8)


@pytest.mark.parametrize(
    "raw",
    [{"x": 0.5}, {"y": 0.5}, {}, {"x": 1.5, "y": 0}, {"x": -0.1, "y": 0.5}, {"x": "a", "y": 0}, {"x": True, "y": 0}],
)
def test_bad_gravity_points_in_dict_form(raw: object) -> None:
    with pytest.raises(OptionError) as info:
        parse_options({"gravity": raw})
    assert info.value.option == "gravity"


def test_none_values_are_ignored_in_dict_form() -> None:
    assert parse_options({"width": None, "border": {"color": None}}) == Options()


def test_json_document() -> None:
    body = json.loads('{"width": 400, "fit": "cover", "border": {"color": "red", "width": 4}, "anim": false}')
    options = parse_options(body)
    assert options == parse_options("width=400,fit=cover,border.color=red,border.width=4,anim=false")
    assert options.anim is False


@pytest.mark.parametrize(("raw", "expected"), [(True, True), (False, False), ("yes", True), ("no", False), (1, True)])
def test_booleans_in_dict_form(raw: object, expected: bool) -> None:
    assert parse_options({"anim": raw}).anim is expected


@pytest.mark.parametrize("raw", [{"quality": 10**400}, {"width": 10**400}, {"gravity": {"x": 10**400, "y": 0}}])
def test_huge_json_integers_raise_option_error(raw: Mapping[str, object]) -> None:
    # json.loads('{"width": 1' + '0' * 400 + '}') gives such an int; parse_options promises OptionError only.
    with pytest.raises(OptionError):
        parse_options(raw)


# --- combinations and duplicates


@pytest.mark.parametrize(
    ("text", "option"),
    [
        ("trim=1;2;3;4,trim.border.color=red", "trim"),
        ("trim=1;2;3;4,trim.border.keep=1", "trim"),
        ("trim=border,trim.top=5", "trim"),
        ("trim.border.tolerance=3,trim.left=1", "trim"),
        ("trim.border.keep=2,trim.width=10", "trim"),
        ("trim.right=1,trim.width=10", "trim.width"),
        ("trim.bottom=1,trim.height=10", "trim.height"),
    ],
)
def test_invalid_combinations(text: str, option: str) -> None:
    with pytest.raises(OptionError) as info:
        parse_options(text)
    assert info.value.option == option
    assert info.value.status == 400


def test_combination_message_names_the_other_options() -> None:
    with pytest.raises(OptionError, match=r"trim\.top") as info:
        parse_options("trim=border,trim.top=5")
    assert "trim=border cannot be combined" in info.value.message


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("trim.left=1,trim.width=10,trim.top=2,trim.height=5", Rect(1, 2, 10, 5)),
        ("trim.right=1,trim.bottom=2", Rect(0, 0, 99, 98)),
        ("trim=1;2;3;4,trim.top=9", Rect(4, 9, 94, 88)),  # trim.top overrides the tuple's top edge only
    ],
)
def test_valid_trim_combinations_keep_the_documented_area(text: str, kept: Rect) -> None:
    assert trim_rect(100, 100, parse_options(text)) == kept


def test_trim_border_with_all_its_subkeys() -> None:
    options = parse_options("trim=border,trim.border.color=red,trim.border.tolerance=1,trim.border.keep=2")
    assert options.trim == "border"
    assert (options.trim_border_color, options.trim_border_tolerance, options.trim_border_keep) == (
        Color(255, 0, 0, 255),
        1.0,
        2,
    )


@pytest.mark.parametrize("key", ["trim.border.color=red", "trim.border.tolerance=3", "trim.border.keep=0"])
def test_trim_border_subkeys_imply_trim_border(key: str) -> None:
    options = parse_options(key)
    assert options.trim == "border"
    assert options == parse_options(f"trim=border,{key}")


@pytest.mark.parametrize(
    ("source", "option"),
    [
        ("width=1,w=2", "width"),
        ("width=1,width=1", "width"),
        ("WIDTH=1,width=2", "width"),
        ("q=1,quality=2", "quality"),
        ("slow_connection_quality=1,scq=2", "slow-connection-quality"),
        ("g=left,gravity=right", "gravity"),
        ({"border": {"color": "red"}, "border.color": "blue"}, "border.color"),
        ({"f": "png", "format": "png"}, "format"),
    ],
)
def test_duplicates_are_errors(source: str | dict[str, object], option: str) -> None:
    with pytest.raises(OptionError, match="more than once") as info:
        parse_options(source)
    assert info.value.option == option
    assert not isinstance(info.value, UnknownOptionError)


# --- unknown names


@pytest.mark.parametrize(
    ("text", "suggestion"), [("widht=400", "width"), ("heigth=3", "height"), ("qualty=3", "quality")]
)
def test_unknown_option_suggests(text: str, suggestion: str) -> None:
    with pytest.raises(UnknownOptionError) as info:
        parse_options(text)
    error = info.value
    assert error.option == text.partition("=")[0]
    assert f"did you mean {suggestion}" in error.message
    assert error.message.startswith(f"unknown option '{error.option}'")
    assert isinstance(error, OptionError)
    assert isinstance(error, EnlargerError)
    assert error.status == 400
    assert error.code == 9401


def test_unknown_option_without_close_match() -> None:
    with pytest.raises(UnknownOptionError) as info:
        parse_options("zzzzzz=1")
    assert info.value.message == "unknown option 'zzzzzz'"


def test_unknown_option_in_dict_form() -> None:
    with pytest.raises(UnknownOptionError, match="did you mean width"):
        parse_options({"widht": 400})
    with pytest.raises(UnknownOptionError, match=r"border\.colour"):
        parse_options({"border": {"colour": "red"}})


def test_segment_without_equals() -> None:
    with pytest.raises(OptionError, match="name=value") as info:
        parse_options("width=10,cover")
    assert info.value.option == "cover"


# --- invalid values: the message names the option, the value and what is allowed


INVALID: list[tuple[str, str]] = [
    ("width", "0"),
    ("width", str(MAX_DIMENSION + 1)),
    ("width", "abc"),
    ("width", "1.5"),
    ("width", "nan"),
    ("width", "inf"),
    ("width", ""),
    ("height", "-1"),
    ("fit", "stretch"),
    ("gravity", "middle"),
    ("gravity", "1.5x0.5"),
    ("gravity", "0.5x-0.1"),
    ("gravity", "0.5"),
    ("gravity", "axb"),
    ("zoom", "2"),
    ("zoom", "-0.5"),
    ("dpr", "0.5"),
    ("dpr", "5"),
    ("trim", "1;2;3"),
    ("trim", "1;2;3;4;5"),
    ("trim", "a;b;c;d"),
    ("trim", "1;2;3;-4"),
    ("trim", "1.5;2;3;4"),
    ("trim.top", "-1"),
    ("trim.width", "0"),
    ("trim.height", "0"),
    ("trim.border.color", "notacolour"),
    ("trim.border.tolerance", "256"),
    ("trim.border.keep", "-1"),
    ("quality", "0"),
    ("quality", "101"),
    ("quality", "ultra"),
    ("slow-connection-quality", "0"),
    ("format", "bmp"),
    ("anim", "maybe"),
    ("background", "#12"),
    ("background", "rgb(1,2)"),
    ("blur", "251"),
    ("blur", "-1"),
    ("sharpen", "11"),
    ("brightness", "-0.5"),
    ("brightness", "10.5"),
    ("contrast", "-1"),
    ("gamma", "-1"),
    ("wbreakpoints", "0;100"),
    ("wbreakpoints", "a;b"),
    ("wmobile", "0"),
    ("wdesktop", str(MAX_DIMENSION + 1)),
    ("trim.top", "1.5"),
    ("saturation", "-1"),
    ("rotate", "45"),
    ("rotate", "720"),
    ("flip", "x"),
    ("border.color", "nope"),
    ("border.width", "1001"),
    ("border.top", "-2"),
    ("metadata", "all"),
    ("compression", "slow"),
    ("onerror", "ignore"),
    ("segment", "background"),
    ("upscale", "magic"),
    ("draw", "url()"),
    ("draw", "url(a b)"),
    ("draw", "a(b"),
    ("draw.opacity", "1.5"),
    ("draw.repeat", "z"),
    ("draw.top", "0.5"),
    ("draw.width", "1.5"),
    ("draw.height", "0"),
]


@pytest.mark.parametrize(("name", "value"), INVALID)
def test_invalid_values(name: str, value: str) -> None:
    with pytest.raises(OptionError) as info:
        parse_options(f"{name}={value}")
    error = info.value
    allowed = BY_NAME[name].allowed
    assert (error.option, error.value, error.allowed) == (name, value, allowed)
    assert error.message == f"invalid value '{value}' for option '{name}': {allowed}"
    assert error.status == 400
    assert error.code == 9401
    assert error.to_dict() == {"code": 9401, "message": error.message}
    assert isinstance(error, EnlargerError)
    assert not isinstance(error, UnknownOptionError)


def test_invalid_value_under_an_alias_names_the_option() -> None:
    with pytest.raises(OptionError) as info:
        parse_options("w=0")
    assert info.value.option == "width"
    assert "1–12000" in info.value.message


def test_invalid_value_in_dict_form_shows_the_value() -> None:
    with pytest.raises(OptionError) as info:
        parse_options({"quality": 101})
    assert info.value.message == f"invalid value 101 for option 'quality': {BY_NAME['quality'].allowed}"


def test_colours_must_be_strings() -> None:
    with pytest.raises(OptionError) as info:
        parse_options({"background": [255, 0, 0]})
    assert info.value.option == "background"


# --- quality, border edges, replace


@pytest.mark.parametrize(
    ("text", "value"),
    [("", DEFAULT_QUALITY), ("q=high", 90), ("q=medium-high", 80), ("q=medium-low", 65), ("q=low", 50), ("q=42", 42)],
)
def test_quality_value(text: str, value: int) -> None:
    assert parse_options(text).quality_value == value


def test_default_quality_is_85_and_scq_does_not_change_it() -> None:
    assert DEFAULT_QUALITY == 85
    assert parse_options("scq=low").quality_value == 85


def test_named_quality_levels() -> None:
    assert NAMED_QUALITY == {"high": 90, "medium-high": 80, "medium-low": 65, "low": 50}
    assert quality_number("medium-high") == 80
    assert quality_number(7) == 7


@pytest.mark.parametrize(
    ("text", "edges"),
    [
        ("", (0, 0, 0, 0)),
        ("border.width=2", (2, 2, 2, 2)),
        ("border.width=2,dpr=2", (4, 4, 4, 4)),
        ("border.width=2,border.top=5,dpr=2", (10, 4, 4, 4)),
        ("border.left=4,dpr=1.5", (0, 0, 0, 6)),
        ("border.top=1,border.right=2,border.bottom=3,border.left=4", (1, 2, 3, 4)),
        ("border.width=3,border.right=0", (3, 0, 3, 3)),
        ("border.width=10,dpr=1.25", (12, 12, 12, 12)),  # 12.5 rounds to even
    ],
)
def test_border_edges(text: str, edges: tuple[int, int, int, int]) -> None:
    assert parse_options(text).border_edges() == edges


def test_replace_changes_and_keeps() -> None:
    options = parse_options("width=100,fit=cover,q=high")
    changed = options.replace(width=200, format="webp")
    assert (changed.width, changed.fit, changed.quality, changed.format) == (200, "cover", "high", "webp")
    assert options.width == 100  # frozen original untouched


def test_replace_validates_and_can_clear() -> None:
    options = parse_options("width=100,height=50")
    assert options.replace(width=None) == parse_options("height=50")
    assert options.replace(trim_top=3).trim_top == 3
    assert options.replace(slow_connection_quality="low").slow_connection_quality == "low"
    with pytest.raises(OptionError) as info:
        options.replace(rotate=45)
    assert info.value.option == "rotate"
    with pytest.raises(OptionError):
        options.replace(trim_right=1, trim_width=5)


def test_replace_keeps_trim_border() -> None:
    options = parse_options("trim.border.tolerance=5")
    assert options.replace(width=10) == parse_options("trim.border.tolerance=5,width=10")


@pytest.mark.parametrize(
    "text",
    [
        "background=red",
        "border.color=rgb(1,2,3),border.width=2",
        "trim.border.color=white",
        "gravity=0.25x0.75",
        "gravity=center",
        "trim=1;2;3;4",
    ],
)
def test_replace_keeps_typed_values(text: str) -> None:
    # The CLI calls options.replace(format=...) on whatever the user gave; typed values must survive it.
    options = parse_options(text)
    assert options.replace(width=10) == parse_options(f"{text},width=10")
    assert options.replace() == options


# --- canonical form


@pytest.mark.parametrize(
    "spellings",
    [
        ("w=400,fit=cover", "fit=cover,width=400.0", " FIT=Cover , W=4e2 ", {"fit": "COVER", "width": 400}),
        ("flip=vh", "flip=hv", {"flip": "VH"}),
        ("format=jpg", "f=jpeg", {"format": "JPG"}),
        ("gravity=center", "g=0.5x0.5", {"gravity": {"x": 0.5, "y": 0.5}}, "gravity=0.50x.5"),
        ("rotate=-90", "rotate=270", {"rotate": 270.0}),
        ("background=red", "background=#f00", "background=rgb(255,0,0)", "background=hsl(0 100% 50%)"),
        ("trim.border.keep=2", "trim=border,trim.border.keep=2", {"trim": {"border": {"keep": "2"}}}),
        ("anim=false", "anim=0", "anim=no", {"anim": False}),
        ("dpr=2", "dpr=2.0", {"dpr": 2}),
    ],
)
def test_canonical_is_equal_for_different_spellings(spellings: tuple[str | dict[str, object], ...]) -> None:
    parsed = [parse_options(s) for s in spellings]
    assert all(p == parsed[0] for p in parsed)
    assert {p.canonical() for p in parsed} == {parsed[0].canonical()}
    assert parsed[0].canonical() != ""


def test_canonical_exact_text() -> None:
    assert parse_options("w=400,fit=cover").canonical() == "fit=cover,width=400"
    options = parse_options("width=10,anim=false,blur=2,background=red,gravity=0.25x0.75,trim=1;2;3;4,dpr=1.5")
    assert options.canonical() == (
        "anim=false,background=#ff0000,blur=2,dpr=1.5,gravity=0.25x0.75,trim=1;2;3;4,width=10"
    )
    assert parse_options("q=high,border.color=rgba(0,0,0,0.5)").canonical() == "border.color=#00000080,quality=high"
    assert parse_options("trim.border.tolerance=2.5").canonical() == "trim=border,trim.border.tolerance=2.5"


def test_canonical_is_sorted() -> None:
    text = "width=10,segment=foreground,anim=false,zoom=0.5,blur=1,quality=3,height=7,format=png,border.width=1"
    names = [part.partition("=")[0] for part in parse_options(text).canonical().split(",")]
    assert names == sorted(names)
    assert len(names) == 9


_ALL_DEFAULTS = "fit=scale-down,anim=true,metadata=copyright,rotate=0,blur=0,sharpen=0,brightness=1,contrast=1.0"
_ALL_DEFAULTS += ",gamma=1,saturation=1"


def test_explicit_dpr_1_is_kept_because_it_overrides_the_dpr_client_hint() -> None:
    assert parse_options("dpr=1").canonical() == "dpr=1"
    assert parse_options("dpr=1").scale == parse_options("").scale == 1.0


def test_width_auto() -> None:
    options = parse_options("width=auto")
    assert options.width == "auto"
    assert options.pixel_width is None
    assert options.canonical() == "width=auto"
    assert parse_options("w=400").pixel_width == 400


def test_canonical_drops_defaults() -> None:
    options = parse_options(_ALL_DEFAULTS)
    assert options == Options()
    assert options.canonical() == ""
    assert Options().canonical() == ""
    assert parse_options("").canonical() == ""
    assert parse_options(f"{_ALL_DEFAULTS},width=5").canonical() == "width=5"


def test_default_trim_border_values_still_ask_for_trim_border() -> None:
    assert parse_options("trim.border.keep=0,trim.border.tolerance=10").canonical() == "trim=border"


@pytest.mark.parametrize(
    ("value", "text"),
    [(True, "true"), (False, "false"), (2.0, "2"), (0.25, "0.25"), (RED, "#ff0000"), ((0.5, 1.0), "0.5x1")],
)
def test_render_value(value: object, text: str) -> None:
    assert render_value(value) == text


def test_render_value_tuples_and_ints() -> None:
    assert render_value((1, 2, 3, 4)) == "1;2;3;4"
    assert render_value(7) == "7"
    assert render_value("hv") == "hv"


# --- property-based tests

_INTEGER_LIMITS = {
    "width": (1, MAX_DIMENSION),
    "height": (1, MAX_DIMENSION),
    "trim.top": (0, 1_000_000),
    "trim.right": (0, 1_000_000),
    "trim.bottom": (0, 1_000_000),
    "trim.left": (0, 1_000_000),
    "trim.width": (1, 1_000_000),
    "trim.height": (1, 1_000_000),
    "trim.border.keep": (0, 10_000),
    "border.width": (0, 1000),
    "border.top": (0, 1000),
    "border.right": (0, 1000),
    "border.bottom": (0, 1000),
    "border.left": (0, 1000),
}
_NUMBER_LIMITS = {
    "zoom": (0.0, 1.0, False),
    "dpr": (1.0, 2.0, False),  # 2–4 are accepted and applied as 2 (see the URL cases)
    "trim.border.tolerance": (0.0, 255.0, False),
    "blur": (0.0, 250.0, False),
    "sharpen": (0.0, 10.0, False),
    "brightness": (0.0, 10.0, True),  # 0 is accepted and means 1 (see the URL cases)
    "contrast": (0.0, 10.0, True),
    "gamma": (0.0, 10.0, True),
    "saturation": (0.0, 10.0, False),
}


def _integers(lo: int, hi: int) -> st.SearchStrategy[object]:
    ints = st.integers(lo, hi)
    return st.one_of(ints, ints.map(str), ints.map(float), ints.map(lambda v: f" {v} "))


def _numbers(lo: float, hi: float, lo_open: bool) -> st.SearchStrategy[object]:
    floats = st.floats(lo, hi, allow_nan=False, allow_infinity=False, exclude_min=lo_open)
    ints = st.integers(int(lo) + (1 if lo_open else 0), int(hi))
    return st.one_of(floats, floats.map(repr), ints, ints.map(str))


def _choices(*values: str) -> st.SearchStrategy[object]:
    picked = st.sampled_from(values)
    return st.one_of(picked, picked.map(str.upper))


_unit = st.floats(0, 1, allow_nan=False)
_byte = st.integers(0, 255)
_colours: st.SearchStrategy[object] = st.one_of(
    st.sampled_from(["red", "White", "navy", "transparent", "teal", "#abc", "#abcd"]),
    st.tuples(_byte, _byte, _byte).map(lambda c: "#{:02x}{:02x}{:02x}".format(*c)),
    st.tuples(_byte, _byte, _byte, _byte).map(lambda c: "#{:02X}{:02X}{:02X}{:02X}".format(*c)),
    st.tuples(_byte, _byte, _byte).map(lambda c: "rgb({}, {}, {})".format(*c)),
    st.tuples(_byte, _byte, _byte, _unit).map(lambda c: f"rgba({c[0]} {c[1]} {c[2]} / {c[3]!r})"),
    st.tuples(st.integers(0, 359), st.integers(0, 100), st.integers(0, 100)).map(
        lambda c: "hsl({}, {}%, {}%)".format(*c)
    ),
)
_qualities: st.SearchStrategy[object] = st.one_of(_integers(1, 100), _choices(*NAMED_QUALITY))
_gravities: st.SearchStrategy[object] = st.one_of(
    _choices(*GRAVITY_NAMES),
    st.tuples(_unit, _unit).map(lambda p: f"{p[0]!r}x{p[1]!r}"),
    st.tuples(_unit, _unit).map(lambda p: {"x": p[0], "y": p[1]}),
)
_edge = st.one_of(st.integers(0, 1_000_000), st.floats(0, 1, exclude_min=True, exclude_max=True))

VALID_RAW: dict[str, st.SearchStrategy[object]] = {
    **{name: _integers(lo, hi) for name, (lo, hi) in _INTEGER_LIMITS.items()},
    **{name: _numbers(lo, hi, lo_open) for name, (lo, hi, lo_open) in _NUMBER_LIMITS.items()},
    "fit": _choices(*FITS),
    "gravity": _gravities,
    "trim": st.one_of(st.just("border"), st.tuples(_edge, _edge, _edge, _edge).map(lambda e: ";".join(map(str, e)))),
    "trim.border.color": _colours,
    "quality": _qualities,
    "slow-connection-quality": _qualities,
    "format": _choices(*FORMATS, "jpg"),
    "anim": st.one_of(st.booleans(), st.sampled_from(["true", "false", "1", "0", "yes", "no", "TRUE"])),
    "background": _colours,
    "rotate": st.sampled_from([0, 90, 180, 270, -90, -180, -270, 360, "90", "-270", 180.0]),
    "flip": _choices("h", "v", "hv", "vh"),
    "border.color": _colours,
    "metadata": _choices("keep", "copyright", "none"),
    "compression": _choices("fast"),
    "onerror": _choices("redirect"),
    "segment": _choices("foreground"),
    "upscale": _choices("interpolate", "generate"),
    "wbreakpoints": st.lists(st.integers(1, MAX_DIMENSION), min_size=1, max_size=6).map(
        lambda ws: ";".join(map(str, ws))
    ),
    "wmobile": _integers(1, MAX_DIMENSION),
    "wdesktop": _integers(1, MAX_DIMENSION),
    "draw": st.sampled_from(["logo.png", "url(/marks/logo.png)", "url(https://cdn.example/a.png)", "marks/x"]),
    "draw.opacity": _numbers(0, 1, False),
    "draw.repeat": _choices("true", "false", "x", "y"),
    **{f"draw.{side}": _integers(-100_000, 100_000) for side in ("top", "left", "bottom", "right")},
    **{f"draw.{axis}": st.one_of(st.floats(0.01, 0.99), st.integers(1, 12_000)) for axis in ("width", "height")},
}


def test_valid_strategies_cover_the_table() -> None:
    assert set(VALID_RAW) == set(BY_NAME)


@st.composite
def raw_options(draw: st.DrawFn) -> dict[str, object]:
    names = draw(st.lists(st.sampled_from(sorted(VALID_RAW)), unique=True, max_size=8))
    return {name: draw(VALID_RAW[name]) for name in names}


def _url_value(raw: object) -> str:
    if isinstance(raw, Mapping):
        return f"{raw['x']!r}x{raw['y']!r}"
    return str(raw)


@hyp_settings(max_examples=400, deadline=None)
@given(raw_options())
def test_canonical_round_trips(raw: dict[str, object]) -> None:
    try:
        options = parse_options(raw)
    except OptionError as exc:
        # only the documented combination rules may reject a set of individually valid values
        assume("combined" not in exc.message and "not both" not in exc.message)
        raise
    canonical = options.canonical()
    again = parse_options(canonical)
    assert again == options
    assert again.canonical() == canonical
    # the URL spelling of the same raw values means the same thing
    url = ",".join(f"{name}={_url_value(value)}" for name, value in raw.items())
    assert parse_options(url) == options
    # every name in the canonical text is a full option name, sorted, without defaults
    names = [part.partition("=")[0] for part in canonical.split(",")] if canonical else []
    assert names == sorted(names)
    assert all(name in BY_NAME for name in names)


@hyp_settings(max_examples=300, deadline=None)
@given(raw_options())
def test_replace_round_trips(raw: dict[str, object]) -> None:
    try:
        options = parse_options(raw)
    except OptionError:
        assume(False)
        raise
    assert options.replace() == options


def assert_options_or_option_error(source: str | dict[str, object]) -> None:
    """parse_options returns Options or raises OptionError (status 400, with a message); nothing else."""
    result: Options | OptionError
    try:
        result = parse_options(source)
    except OptionError as exc:
        result = exc
    if isinstance(result, OptionError):
        assert result.status == 400
        assert result.message
    else:
        assert isinstance(result, Options)
        assert parse_options(result.canonical()) == result


_NAMES = sorted({*BY_NAME, *(a for opt in TABLE for a in opt.aliases)})
_PUNCTUATION = ["=", ",", ";", "(", ")", ".", "-", "_", " ", "x", "#", "%", "/"]
_TOKENS = st.sampled_from([*_NAMES, *_PUNCTUATION, "rgb", "hsl", "inf", "nan", "1e999", *"0123456789abcdefz"])
_texts = st.one_of(st.text(max_size=40), st.lists(_TOKENS, max_size=20).map("".join))


@hyp_settings(max_examples=500, deadline=None)
@given(_texts)
@example("background=rgb(inf,0,0)")
def test_any_text_gives_options_or_option_error(text: str) -> None:
    assert_options_or_option_error(text)


_KEYS = st.one_of(
    st.sampled_from([*_NAMES, "color", "width", "top", "left", "border", "x", "y", "tolerance", "keep"]),
    st.text(max_size=6),
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(10**400), 10**400),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(["400", "cover", "red", "border", "0.5x0.5", "1;2;3;4", "high", "rgb(1,2,3)"]),
)
_JSON = st.recursive(
    _SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(_KEYS, children, max_size=3)),
    max_leaves=12,
)


@hyp_settings(max_examples=500, deadline=None)
@given(st.dictionaries(_KEYS, _JSON, max_size=5))
@example({"width": 10**400})
def test_any_json_gives_options_or_option_error(document: dict[str, object]) -> None:
    assert_options_or_option_error(document)


# --- every option's documented example runs through the engine and does what it says


def _example_source() -> bytes:
    """800×600 PNG: half-bright quadrants (so colour steps have room both ways) inside a 20 px white
    border, with a see-through 40 px square at the centre."""
    content = (quadrants(760, 560) * 0.5).cast("uchar").bandjoin(255).copy(interpretation="srgb")
    framed = content.embed(20, 20, 800, 600, extend="background", background=[255, 255, 255, 255])
    return save(framed.draw_rect([0, 0, 0, 0], 380, 280, 40, 40, fill=True), "png")


EXAMPLE_SOURCE = _example_source()
WHITE_RGB = (255, 255, 255)
_PLAIN = decode(transform(EXAMPLE_SOURCE, "").data)


def _size(image: pyvips.Image) -> tuple[int, int]:
    return image.width, image.height


def _mean(image: pyvips.Image) -> float:
    return float(image.extract_band(0, n=3).avg())


#: what each option's example must visibly do to EXAMPLE_SOURCE (output decoded; result's format)
EXAMPLE_CHECKS: dict[str, Callable[[pyvips.Image, str], bool]] = {
    "width": lambda out, fmt: _size(out) == (400, 300),
    # width=auto and its sub-options are resolved by the server from the request; the library has none
    "wbreakpoints": lambda out, fmt: _size(out) == (800, 600),
    "wmobile": lambda out, fmt: _size(out) == (800, 600),
    "wdesktop": lambda out, fmt: _size(out) == (800, 600),
    "height": lambda out, fmt: _size(out) == (400, 300),
    "fit": lambda out, fmt: _size(out) == (300, 300),
    # cover keeps the left end: the (scaled, 10 px) white border is at the left edge
    "gravity": lambda out, fmt: _size(out) == (300, 300) and near(pixel(out, 3, 100), WHITE_RGB),
    "zoom": lambda out, fmt: _size(out) == (300, 300),
    "dpr": lambda out, fmt: _size(out) == (400, 300),
    "trim": lambda out, fmt: _size(out) == (740, 560),
    "trim.top": lambda out, fmt: _size(out) == (800, 590),
    "trim.right": lambda out, fmt: _size(out) == (790, 600),
    "trim.bottom": lambda out, fmt: _size(out) == (800, 590),
    "trim.left": lambda out, fmt: _size(out) == (790, 600),
    "trim.width": lambda out, fmt: _size(out) == (300, 600),
    "trim.height": lambda out, fmt: _size(out) == (800, 200),
    "trim.border.color": lambda out, fmt: _size(out) == (760, 560),
    "trim.border.tolerance": lambda out, fmt: _size(out) == (760, 560),
    "trim.border.keep": lambda out, fmt: _size(out) == (770, 570),
    "quality": lambda out, fmt: fmt == "jpeg" and _size(out) == (800, 600),
    "slow-connection-quality": lambda out, fmt: fmt == "png" and _size(out) == (800, 600),  # server only
    "format": lambda out, fmt: fmt == "webp" and _size(out) == (800, 600),
    "anim": lambda out, fmt: frame_height(out) == out.height,  # of an animated source
    "background": lambda out, fmt: near(pixel(out, 400, 300), (255, 0, 0)),
    # the red|green edge at x=400 is smeared
    "blur": lambda out, fmt: 20 < pixel(out, 399, 100)[0] < 110 and 20 < pixel(out, 399, 100)[1] < 110,
    "sharpen": lambda out, fmt: _size(out) == (200, 150),
    "brightness": lambda out, fmt: _mean(out) > _mean(_PLAIN) + 10,
    "contrast": lambda out, fmt: out.extract_band(0, n=3).deviate() < _PLAIN.extract_band(0, n=3).deviate() - 10,
    "gamma": lambda out, fmt: _mean(out) < _mean(_PLAIN) - 10,
    "saturation": lambda out, fmt: len(set(pixel(out, 100, 100)[:3])) == 1,
    "rotate": lambda out, fmt: _size(out) == (600, 800),
    "flip": lambda out, fmt: near(pixel(out, 100, 100), (0, 128, 0)),  # red top-left is now green
    "border.color": lambda out, fmt: _size(out) == (820, 620) and near(pixel(out, 2, 2), (255, 0, 0)),
    "border.width": lambda out, fmt: _size(out) == (820, 620) and near(pixel(out, 2, 2), (0, 0, 0)),
    "border.top": lambda out, fmt: _size(out) == (800, 610),
    "border.right": lambda out, fmt: _size(out) == (810, 600),
    "border.bottom": lambda out, fmt: _size(out) == (800, 610),
    "border.left": lambda out, fmt: _size(out) == (810, 600),
    "metadata": lambda out, fmt: _size(out) == (800, 600),
    "compression": lambda out, fmt: fmt not in ("avif", "webp"),  # format=auto alone gives AVIF here
    "onerror": lambda out, fmt: _size(out) == (400, 300),  # server only
    "segment": lambda out, fmt: out.bands == 4 and pixel(out, 700, 100)[3] == 0,  # stand-in: left half kept
    "upscale": lambda out, fmt: _size(out) == (1600, 1200) and bool(_UPSCALED),  # the stand-in model ran
    # draw=: a red 40×20 overlay (DRAWN), fetched by the front door, through enlarger.url_overlay
    "draw": lambda out, fmt: near(pixel(out, 770, 580), (255, 0, 0)) and near(pixel(out, 740, 580), (255, 255, 255)),
    "draw.opacity": lambda out, fmt: near(pixel(out, 400, 290), (255, 0, 0, 128), 2),  # over the see-through centre
    "draw.repeat": lambda out, fmt: all(near(pixel(out, x, 5), (255, 0, 0)) for x in (1, 100, 420, 799)),
    "draw.top": lambda out, fmt: near(pixel(out, 400, 12), (255, 0, 0)) and near(pixel(out, 400, 8), (255, 255, 255)),
    "draw.left": lambda out, fmt: near(pixel(out, 12, 300), (255, 0, 0)) and near(pixel(out, 8, 300), (255, 255, 255)),
    "draw.bottom": lambda out, fmt: near(pixel(out, 400, 585), (255, 0, 0)) and near(pixel(out, 400, 592), WHITE_RGB),
    "draw.right": lambda out, fmt: near(pixel(out, 785, 300), (255, 0, 0)) and near(pixel(out, 792, 300), WHITE_RGB),
    # 0.25 of 800 = 200 px wide (and 100 high), centred
    "draw.width": lambda out, fmt: (
        near(pixel(out, 302, 252), (255, 0, 0)) and not near(pixel(out, 298, 300), (255, 0, 0))
    ),
    "draw.height": lambda out, fmt: (
        near(pixel(out, 362, 282), (255, 0, 0)) and not near(pixel(out, 355, 300), (255, 0, 0))
    ),
}
DRAWN = save(solid(40, 20, (255, 0, 0)), "png")


_UPSCALED: list[int] = []


def _repeat_twice(rgb: np.ndarray[Any, Any], model: upscale_model.Model, settings: Settings) -> Any:
    _UPSCALED.append(model.scale)
    return np.repeat(np.repeat(rgb, model.scale, axis=0), model.scale, axis=1)


def _left_half(frame: pyvips.Image, settings: Settings) -> pyvips.Image:
    mask = pyvips.Image.black(frame.width, frame.height)
    return mask.draw_rect(255, 0, 0, frame.width // 2, frame.height, fill=True).cast("uchar")


def test_every_option_has_an_example_check() -> None:
    assert set(EXAMPLE_CHECKS) == set(BY_NAME)


@pytest.mark.parametrize("opt", TABLE, ids=lambda opt: opt.name)
def test_example_parses_and_runs_through_the_engine(opt: Option, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = parse_options(opt.example)
    assert getattr(parsed, opt.attr) != opt.default, f"the example of {opt.name} does not set it"
    settings = Settings()
    source = EXAMPLE_SOURCE
    if opt.name == "anim":
        source = animation(coloured_frames(40, 30, [(255, 0, 0), (0, 0, 255)]))
    if opt.name == "upscale":  # a stand-in 2× model that repeats pixels
        monkeypatch.setattr(upscale_model, "models", lambda settings: [upscale_model.Model(None, 2)])  # type: ignore[arg-type]
        monkeypatch.setattr(upscale_model, "enlarge", _repeat_twice)
    if opt.name == "segment":  # a stand-in model: the engine's wiring is what is under test here
        monkeypatch.setattr(segment_step, "foreground_mask", _left_half)
        monkeypatch.setattr("enlarger.pipeline.check_available", lambda settings: None)
        settings = Settings(segment_model="stand-in.onnx")
    if parsed.draw is not None:  # what the front door does once it has fetched the overlay
        result = transform_job(url_overlay.job(source, parsed.replace(format="png"), DRAWN))
    else:
        result = transform(source, parsed, accept="image/avif,image/webp,*/*", settings=settings)
    out = decode(result.data)
    assert EXAMPLE_CHECKS[opt.name](out, result.format), f"{opt.example}: {result.format} {_size(out)}"


def test_the_url_forms_draw_options_are_the_draw_options_rows() -> None:
    # one source: each draw.<name> URL option is DrawOptions' field <name>, its range, parser and doc
    rows = {f.name: f for f in dataclasses.fields(DrawOptions)}
    placed = {opt.name.removeprefix("draw."): opt for opt in TABLE if opt.name.removeprefix("draw.") in rows}
    assert set(placed) == set(rows) - {"composite"}  # composite is the binding's only (as Cloudflare's)
    for name, opt in placed.items():
        meta = rows[name].metadata
        assert (opt.parse, opt.allowed, opt.doc, opt.default) == (
            meta["parse"],
            meta["allowed"],
            meta["doc"],
            rows[name].default,
        )
    assert url_overlay.placement(parse_options("draw=a.png,draw.repeat=x,draw.right=4")) == DrawOptions(
        repeat="x", right=4
    )
