"""The option table: the single source for parsing, validation, canonical form, errors and docs.

Every front door (URL segment, JSON body, Python keyword arguments, hosted variants) goes
through :func:`parse_options` into one frozen :class:`Options`. Its :meth:`Options.canonical`
string (sorted, defaults dropped) is what the cache keys on, so two spellings of the same request
share one cached output.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from enlarger.colors import COLOR_HELP, Color, parse_color
from enlarger.errors import OptionError, UnknownOptionError
from enlarger.formats import REQUESTABLE

MAX_DIMENSION = 12_000
DEFAULT_QUALITY = 85
#: The largest device pixel ratio applied: Cloudflare documents ``dpr`` with a maximum of 2
#: (P/dpr.mdx); larger values (and DPR hints) are clamped to it, not refused, so a 3× srcset
#: entry still gets an image.
MAX_DPR = 2.0
#: ``width=auto`` breakpoints and device-class widths (Cloudflare, make-responsive-images.mdx).
DEFAULT_BREAKPOINTS = (320, 768, 960, 1200)
DEFAULT_MOBILE_WIDTH = 768
DEFAULT_DESKTOP_WIDTH = 1200

Gravity: TypeAlias = str | tuple[float, float]
#: A trim length: whole pixels (an int), or a fraction of the side (a float strictly between 0 and 1).
TrimLength: TypeAlias = int | float
TrimEdges: TypeAlias = tuple[TrimLength, TrimLength, TrimLength, TrimLength]
BorderEdges: TypeAlias = tuple[int, int, int, int]
Quality: TypeAlias = int | str

NAMED_QUALITY: dict[str, int] = {"high": 90, "medium-high": 80, "medium-low": 65, "low": 50}
FITS = ("scale-down", "contain", "cover", "crop", "aspect-crop", "pad", "squeeze", "scale-up")
FORMATS = REQUESTABLE  # the format registry (enlarger.formats) decides which formats exist
GRAVITY_NAMES = ("auto", "face", "left", "right", "top", "bottom", "center")


# --- value parsers: each takes a raw value (str from a URL, or a JSON scalar) and returns the
# --- typed value or raises ValueError; the table row supplies the message for people. A typed
# --- value parses to itself, so Options.replace validates changes without a trip through text.


def _text(raw: object) -> str:
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise ValueError(raw)
    return str(raw).strip().lower()


def _number(raw: object) -> float:
    if isinstance(raw, bool):
        raise ValueError(raw)
    try:
        value = float(raw) if isinstance(raw, (int, float)) else float(_text(raw))
    except OverflowError as exc:  # a 400-digit JSON integer
        raise ValueError(raw) from exc
    if not math.isfinite(value):
        raise ValueError(raw)
    return value


def integer(lo: int, hi: int) -> Callable[[object], int]:
    def parse(raw: object) -> int:
        value = _number(raw)
        if not value.is_integer() or not lo <= value <= hi:
            raise ValueError(raw)
        return int(value)

    return parse


def number(lo: float, hi: float) -> Callable[[object], float]:
    def parse(raw: object) -> float:
        value = _number(raw)
        if value > hi or value < lo:
            raise ValueError(raw)
        return value

    return parse


def choice(*values: str, synonyms: Mapping[str, str] | None = None) -> Callable[[object], str]:
    extra = dict(synonyms or {})

    def parse(raw: object) -> str:
        value = _text(raw)
        value = extra.get(value, value)
        if value not in values:
            raise ValueError(raw)
        return value

    return parse


def width_value(raw: object) -> int | Literal["auto"]:
    if isinstance(raw, str) and raw.strip().lower() == "auto":
        return "auto"
    return integer(1, MAX_DIMENSION)(raw)


def boolean(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    value = _text(raw)
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise ValueError(raw)


def color(raw: object) -> Color:
    if isinstance(raw, Color):
        return raw
    if not isinstance(raw, str):
        raise ValueError(raw)
    return parse_color(raw)


def quality_or_level(raw: object) -> Quality:
    if isinstance(raw, str) and _text(raw) in NAMED_QUALITY:
        return _text(raw)
    return integer(1, 100)(raw)


def gravity_value(raw: object) -> Gravity:
    if isinstance(raw, Mapping):
        point = (_number(raw["x"]), _number(raw["y"]))
    elif isinstance(raw, tuple) and len(raw) == 2:  # a parsed point
        point = (_number(raw[0]), _number(raw[1]))
    else:
        value = _text(raw)
        if value == "center":
            return (0.5, 0.5)
        if value in GRAVITY_NAMES:
            return value
        x_text, sep, y_text = value.partition("x")
        if not sep:
            raise ValueError(raw)
        point = (_number(x_text), _number(y_text))
    if not all(0.0 <= v <= 1.0 for v in point):
        raise ValueError(raw)
    return point


def trim_length(lo: int) -> Callable[[object], TrimLength]:
    """Whole pixels (``lo`` or more), or a fraction of the side strictly between 0 and 1 (``0.25``)."""
    pixels = integer(lo, 1_000_000)

    def parse(raw: object) -> TrimLength:
        value = _number(raw)
        if 0 < value < 1:
            return value
        return pixels(raw)

    return parse


def factor_or_ignored(raw: object) -> float:
    """A factor above 0 and at most 10; 0 is documented as "ignored", i.e. unchanged (1.0)."""
    value = number(0, 10)(raw)
    return 1.0 if value == 0 else value


def device_pixel_ratio(raw: object) -> float:
    """1–4 accepted; anything above :data:`MAX_DPR` is applied as :data:`MAX_DPR` (documented maximum)."""
    return min(MAX_DPR, number(1, 4)(raw))


def breakpoints(raw: object) -> tuple[int, ...]:
    """``320;768;960;1200``: one or more widths, kept in ascending order without repeats."""
    parts: tuple[object, ...] = raw if isinstance(raw, tuple) else tuple(_text(raw).split(";"))
    if not parts or len(parts) > 20:
        raise ValueError(raw)
    return tuple(sorted({integer(1, MAX_DIMENSION)(p) for p in parts}))


def trim_edges(raw: object) -> TrimEdges | Literal["border"]:
    parts: tuple[object, ...]
    if isinstance(raw, tuple):  # parsed edges
        parts = raw
    else:
        value = _text(raw)
        if value == "border":
            return "border"
        parts = tuple(value.split(";"))
    if len(parts) != 4:
        raise ValueError(raw)
    edges = tuple(trim_length(0)(p) for p in parts)
    return (edges[0], edges[1], edges[2], edges[3])


def rotation(raw: object) -> int:
    value = integer(-360, 360)(raw) % 360
    if value not in (0, 90, 180, 270):
        raise ValueError(raw)
    return value


def overlay_source(raw: object) -> str:
    """A draw source as written in URLs: bare when it has no / , ( ), else ``url(...)``."""
    if not isinstance(raw, str):
        raise ValueError(raw)
    text = raw.strip()
    inner = text[4:-1].strip() if text.lower().startswith("url(") and text.endswith(")") else text
    bad = any(ch in inner for ch in "()") or not inner.isprintable() or any(ch.isspace() for ch in inner)
    if not inner or len(inner) > 2048 or bad:
        raise ValueError(raw)
    return f"url({inner})" if any(ch in inner for ch in "/,") else inner


def overlay_extent(raw: object) -> float:
    """A fraction (0 < v < 1) or a whole number of pixels."""
    value = _number(raw)
    if 0 < value < 1:
        return value
    return float(integer(1, MAX_DIMENSION)(value))


# --- canonical renderers


def render_value(value: object) -> str:
    """The canonical text of an option value (as in URLs and cache keys)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, Color):
        return value.css()
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, float) for v in value):  # a point
        return f"{render_value(value[0])}x{render_value(value[1])}"
    if isinstance(value, tuple):
        return ";".join(str(v) for v in value)
    return str(value)


@dataclass(frozen=True)
class Option:
    """One row of the option table, read from an :class:`Options` field's metadata."""

    name: str
    kind: str
    allowed: str
    doc: str
    parse: Callable[[Any], Any]
    default: Any = None
    aliases: tuple[str, ...] = ()
    example: str = ""  #: a URL-form fragment that uses the option (shown in docs, run by a test)
    attr: str = ""  #: the ``Options`` field that holds the value


def option(
    kind: str,
    allowed: str,
    doc: str,
    parse: Callable[[Any], Any],
    *,
    example: str,
    aliases: tuple[str, ...] = (),
    name: str | None = None,
) -> dict[str, object]:
    """The metadata of an :class:`Options` field: its row of the table (``name`` defaults to the field's).

    Each option is written once, as a field with this metadata; :data:`TABLE`, the parser, the
    canonical form and the docs are derived from the fields, as ``Settings`` does for settings.
    """
    row = {"kind": kind, "allowed": allowed, "doc": doc, "parse": parse, "example": example}
    return {**row, "aliases": aliases, "name": name}


_PX = "pixels, or a fraction of the side (0–1)"
_FACTOR = "a factor up to 10 (1.0 and 0 = unchanged)"
_QUALITY = "1–100 or high | medium-high | medium-low | low"
_BORDER_PX = "0–1000 pixels"
_DRAW_PX = "an integer number of pixels (-100000–100000)"

Repeat: TypeAlias = bool | Literal["x", "y"]
Composite: TypeAlias = Literal["over", "in", "atop", "out", "xor", "lighter"]
#: Cloudflare's composite names (Porter-Duff, and canvas' ``lighter``)
COMPOSITES: tuple[Composite, ...] = ("over", "in", "atop", "out", "xor", "lighter")


def repeat(raw: object) -> Repeat:
    """``x``, ``y``, or a boolean (tile everywhere, or not at all)."""
    if isinstance(raw, str) and raw.strip().lower() in ("x", "y"):
        return "x" if raw.strip().lower() == "x" else "y"
    return boolean(raw)


@dataclass(frozen=True)
class DrawOptions:
    """Where and how one overlay is drawn: the binding's ``.draw()`` options.

    Each field is written once, with :func:`option` metadata like every option; the URL form's
    ``draw.<name>`` options (:class:`Options`) are derived from these fields (:func:`_drawn`), and
    the binding's form is parsed by :func:`parse_draw` from the same rows.
    """

    opacity: float = field(
        default=1.0,
        metadata=option(
            "number",
            "0–1",
            "Opacity of the draw overlay (multiplies its alpha).",
            number(0, 1),
            example="draw=logo.png,draw.opacity=0.5",
        ),
    )
    repeat: Repeat = field(
        default=False,
        metadata=option(
            "enum",
            "true | false | x | y",
            "Tile the draw overlay from its position: over the whole image (true), along its row (x) or column (y).",
            repeat,
            example="draw=logo.png,draw.repeat=true",
        ),
    )
    composite: Composite = field(
        default="over",
        metadata=option(
            "enum",
            " | ".join(COMPOSITES),
            "Porter-Duff mode of the overlay, acting inside its bounding box only (the binding's .draw()).",
            choice(*COMPOSITES),
            example="",
        ),
    )
    top: int | None = field(
        default=None,
        metadata=option(
            "integer",
            _DRAW_PX,
            "Distance of the draw overlay from the top edge, in output pixels (none of top/bottom: centred).",
            integer(-100_000, 100_000),
            example="draw=logo.png,draw.top=10",
        ),
    )
    left: int | None = field(
        default=None,
        metadata=option(
            "integer",
            _DRAW_PX,
            "Distance of the draw overlay from the left edge (none of left/right: centred).",
            integer(-100_000, 100_000),
            example="draw=logo.png,draw.left=10",
        ),
    )
    bottom: int | None = field(
        default=None,
        metadata=option(
            "integer",
            _DRAW_PX,
            "Distance of the draw overlay from the bottom edge (not with draw.top).",
            integer(-100_000, 100_000),
            example="draw=logo.png,draw.bottom=10",
        ),
    )
    right: int | None = field(
        default=None,
        metadata=option(
            "integer",
            _DRAW_PX,
            "Distance of the draw overlay from the right edge (not with draw.left).",
            integer(-100_000, 100_000),
            example="draw=logo.png,draw.right=10",
        ),
    )

    def __post_init__(self) -> None:
        if self.left is not None and self.right is not None:
            raise OptionError("right", self.right, "give left or right, not both")
        if self.top is not None and self.bottom is not None:
            raise OptionError("bottom", self.bottom, "give top or bottom, not both")

    def origin(self, base: tuple[int, int], overlay: tuple[int, int]) -> tuple[int, int]:
        """Top-left of the overlay on a base frame of size ``base`` (centred on an axis without a position)."""
        (bw, bh), (ow, oh) = base, overlay
        x = self.left if self.left is not None else bw - ow - self.right if self.right is not None else (bw - ow) // 2
        y = self.top if self.top is not None else bh - oh - self.bottom if self.bottom is not None else (bh - oh) // 2
        return x, y


_DRAW_ROWS: dict[str, dataclasses.Field[Any]] = {f.name: f for f in dataclasses.fields(DrawOptions)}


def parse_draw(raw: Mapping[str, object] | None) -> DrawOptions:
    """Draw options from the binding's JSON form (``{"opacity": 0.5, "repeat": "x", "top": 10}``).

    Raises :class:`~enlarger.errors.OptionError` for an unknown name, a bad value, or both ends of
    an axis.
    """
    values: dict[str, Any] = {}
    for raw_name, value in (raw or {}).items():
        name = raw_name.strip().lower()
        if name not in _DRAW_ROWS:
            raise UnknownOptionError(raw_name, f" (draw options: {', '.join(_DRAW_ROWS)})")
        if name in values:
            raise OptionError(name, value, "the option is given more than once")
        if value is None:
            continue
        meta = _DRAW_ROWS[name].metadata
        try:
            values[name] = meta["parse"](value)
        except (ValueError, TypeError) as exc:
            raise OptionError(name, value, meta["allowed"]) from exc
    return DrawOptions(**values)


def _drawn(name: str) -> Any:
    """The URL form's ``draw.<name>`` option: the :class:`DrawOptions` field ``name``, its row and default."""
    row = _DRAW_ROWS[name]
    return field(default=row.default, metadata={**row.metadata, "name": f"draw.{name}"})


@dataclass(frozen=True)
class Options:
    """A validated, immutable set of transformation options (defaults filled in).

    Each field is one option: its metadata (from :func:`option`) is the option's row in the table.
    """

    width: int | Literal["auto"] | None = field(
        default=None,
        metadata=option(
            "integer or auto",
            f"1–{MAX_DIMENSION} or auto",
            "Maximum output width in CSS pixels (× dpr). auto (server only): the smallest of wbreakpoints "
            "that covers the width the browser asks for in client hints (Sec-CH-Width/Width, else "
            "Viewport-Width × DPR); without hints, wmobile or wdesktop by the User-Agent's device class.",
            width_value,
            aliases=("w",),
            example="width=400",
        ),
    )
    wbreakpoints: tuple[int, ...] = field(
        default=DEFAULT_BREAKPOINTS,
        metadata=option(
            "widths",
            f"1–{MAX_DIMENSION} each, separated by ;",
            "The widths width=auto chooses from when the client sends width hints.",
            breakpoints,
            example="width=auto,wbreakpoints=400;800;1600",
        ),
    )
    wmobile: int = field(
        default=DEFAULT_MOBILE_WIDTH,
        metadata=option(
            "integer",
            f"1–{MAX_DIMENSION}",
            "The width width=auto uses for a mobile device that sends no width hints.",
            integer(1, MAX_DIMENSION),
            example="width=auto,wmobile=640",
        ),
    )
    wdesktop: int = field(
        default=DEFAULT_DESKTOP_WIDTH,
        metadata=option(
            "integer",
            f"1–{MAX_DIMENSION}",
            "The width width=auto uses for any other device that sends no width hints.",
            integer(1, MAX_DIMENSION),
            example="width=auto,wdesktop=1600",
        ),
    )
    height: int | None = field(
        default=None,
        metadata=option(
            "integer",
            f"1–{MAX_DIMENSION}",
            "Maximum output height in CSS pixels (× dpr).",
            integer(1, MAX_DIMENSION),
            aliases=("h",),
            example="height=300",
        ),
    )
    fit: str = field(
        default="scale-down",
        metadata=option(
            "enum",
            " | ".join(FITS),
            "How the image fits width × height: scale-down never enlarges; contain fits inside; "
            "cover fills and crops; crop fills and crops but never enlarges; aspect-crop crops to the "
            "target aspect ratio without enlarging; pad fits inside and fills the rest with background; "
            "squeeze stretches to exactly width × height; scale-up fits inside but never shrinks.",
            choice(*FITS),
            example="width=300,height=300,fit=cover",
        ),
    )
    gravity: Gravity | None = field(
        default=None,
        metadata=option(
            "enum or point",
            "auto | face | left | right | top | bottom | center | XxY with X and Y in 0–1",
            "Focal point kept by cover/crop/aspect-crop: saliency (auto), faces (face), a side, or a point "
            "given as fractions of the width and height.",
            gravity_value,
            aliases=("g",),
            example="width=300,height=300,fit=cover,gravity=left",
        ),
    )
    zoom: float | None = field(
        default=None,
        metadata=option(
            "number",
            "0–1",
            "With gravity=face: how tightly to crop around the faces (1 = tightest).",
            number(0, 1),
            aliases=("face-zoom",),
            example="width=300,height=300,fit=cover,gravity=face,zoom=0.5",
        ),
    )
    dpr: float | None = field(
        default=None,
        metadata=option(
            "number",
            "1–4 (applied at most 2)",
            "Device pixel ratio: multiplies width, height and border widths; values above the documented "
            "maximum of 2 are applied as 2. Without it, the server uses the DPR/Sec-CH-DPR client hint "
            "when the request has one.",
            device_pixel_ratio,
            example="width=200,dpr=2",
        ),
    )
    trim: TrimEdges | Literal["border"] | None = field(
        default=None,
        metadata=option(
            "edges or border",
            "top;right;bottom;left, each in pixels or a fraction of the side (0–1); or border",
            "Pixels (or a fraction of the side: 0.1 = a tenth) cut from each side before resizing, or "
            "border to cut a uniform border away.",
            trim_edges,
            example="trim=10;20;30;40",
        ),
    )
    trim_top: TrimLength | None = field(
        default=None,
        metadata=option(
            "integer",
            _PX,
            "Pixels (or a fraction of the height: 0.1) cut from the top before resizing.",
            trim_length(0),
            name="trim.top",
            example="trim.top=10",
        ),
    )
    trim_right: TrimLength | None = field(
        default=None,
        metadata=option(
            "integer",
            _PX,
            "Pixels (or a fraction of the height: 0.1) cut from the right before resizing.",
            trim_length(0),
            name="trim.right",
            example="trim.right=10",
        ),
    )
    trim_bottom: TrimLength | None = field(
        default=None,
        metadata=option(
            "integer",
            _PX,
            "Pixels (or a fraction of the height: 0.1) cut from the bottom before resizing.",
            trim_length(0),
            name="trim.bottom",
            example="trim.bottom=10",
        ),
    )
    trim_left: TrimLength | None = field(
        default=None,
        metadata=option(
            "integer",
            _PX,
            "Pixels (or a fraction of the height: 0.1) cut from the left before resizing.",
            trim_length(0),
            name="trim.left",
            example="trim.left=10",
        ),
    )
    trim_width: TrimLength | None = field(
        default=None,
        metadata=option(
            "integer",
            "1 or more pixels",
            "Width of the area kept by trim (from trim.left), in pixels or a fraction of the width.",
            trim_length(1),
            name="trim.width",
            example="trim.left=10,trim.width=300",
        ),
    )
    trim_height: TrimLength | None = field(
        default=None,
        metadata=option(
            "integer",
            "1 or more pixels",
            "Height of the area kept by trim (from trim.top), in pixels or a fraction of the height.",
            trim_length(1),
            name="trim.height",
            example="trim.top=10,trim.height=200",
        ),
    )
    trim_border_color: Color | None = field(
        default=None,
        metadata=option(
            "colour",
            COLOR_HELP,
            "Border colour to trim; default: the colour of the top-left pixel.",
            color,
            name="trim.border.color",
            example="trim.border.color=white",
        ),
    )
    trim_border_tolerance: float = field(
        default=10.0,
        metadata=option(
            "number",
            "0–255",
            "How far a pixel may differ from the border colour and still be trimmed.",
            number(0, 255),
            name="trim.border.tolerance",
            example="trim.border.tolerance=20",
        ),
    )
    trim_border_keep: int = field(
        default=0,
        metadata=option(
            "integer",
            "0 or more pixels",
            "Pixels of the detected border to keep.",
            integer(0, 10_000),
            name="trim.border.keep",
            example="trim=border,trim.border.keep=5",
        ),
    )
    quality: Quality | None = field(
        default=None,
        metadata=option(
            "integer or level",
            _QUALITY,
            "Encoder quality for JPEG, WebP, AVIF and JPEG XL (default 85); an explicit value lets PNG use a "
            "palette. Levels are perceived-quality targets (SSIMULACRA2 90, 80, 72, 65): the encoder quality "
            "reaching them is searched per image (see docs/outputs.md); PNG, GIF and animations use 90, 80, "
            "65, 50.",
            quality_or_level,
            aliases=("q",),
            example="format=jpeg,quality=60",
        ),
    )
    slow_connection_quality: Quality | None = field(
        default=None,
        metadata=option(
            "integer or level",
            _QUALITY,
            "Quality used instead of quality when the client signals a slow connection (server only).",
            quality_or_level,
            aliases=("scq",),
            name="slow-connection-quality",
            example="quality=high,slow-connection-quality=low",
        ),
    )
    format: str | None = field(
        default=None,
        metadata=option(
            "enum",
            " | ".join(FORMATS),
            "Output format. auto picks AVIF, then WebP, then the best legacy format from the Accept "
            "header; json returns the geometry (and the output's blurhash, thumbhash and dominant_color) "
            "instead of pixels; placeholder returns a blurred WebP of at most 32 pixels a side, for a "
            "data: URL. Default: the source's family.",
            choice(*FORMATS, synonyms={"jpg": "jpeg"}),
            aliases=("f",),
            example="format=webp",
        ),
    )
    anim: bool = field(
        default=True,
        metadata=option(
            "boolean",
            "true | false",
            "Keep all frames of animations (false: first frame only).",
            boolean,
            example="anim=false",
        ),
    )
    background: Color | None = field(
        default=None,
        metadata=option(
            "colour",
            COLOR_HELP,
            "Colour under transparent areas and padding; default white where a fill is needed.",
            color,
            example="background=red",
        ),
    )
    blur: float = field(
        default=0.0,
        metadata=option("number", "0–250", "Gaussian blur radius (0 = none).", number(0, 250), example="blur=10"),
    )
    sharpen: float = field(
        default=0.0,
        metadata=option(
            "number",
            "0–10",
            "Sharpening strength (1 suits downscaled photos).",
            number(0, 10),
            example="width=200,sharpen=1",
        ),
    )
    brightness: float = field(
        default=1.0,
        metadata=option(
            "number", _FACTOR, "Brightness factor (0 is ignored).", factor_or_ignored, example="brightness=1.5"
        ),
    )
    contrast: float = field(
        default=1.0,
        metadata=option(
            "number",
            _FACTOR,
            "Contrast factor around mid-grey (0 is ignored).",
            factor_or_ignored,
            example="contrast=0.5",
        ),
    )
    gamma: float = field(
        default=1.0,
        metadata=option(
            "number",
            _FACTOR,
            "Gamma: below 1 darkens, above 1 lightens (0 is ignored).",
            factor_or_ignored,
            example="gamma=0.5",
        ),
    )
    saturation: float = field(
        default=1.0,
        metadata=option(
            "number",
            "0–10 (0 = greyscale, 1.0 = unchanged)",
            "Colour saturation factor.",
            number(0, 10),
            example="saturation=0",
        ),
    )
    rotate: int = field(
        default=0,
        metadata=option(
            "enum",
            "0 | 90 | 180 | 270",
            "Clockwise rotation after EXIF orientation and after flip.",
            rotation,
            example="rotate=90",
        ),
    )
    flip: str | None = field(
        default=None,
        metadata=option(
            "enum",
            "h | v | hv",
            "Mirror horizontally, vertically or both; done before rotate (flip=h,rotate=90 mirrors, then turns).",
            choice("h", "v", "hv", synonyms={"vh": "hv"}),
            example="flip=h",
        ),
    )
    border_color: Color | None = field(
        default=None,
        metadata=option(
            "colour",
            COLOR_HELP,
            "Border colour (default black).",
            color,
            name="border.color",
            example="border.color=red,border.width=10",
        ),
    )
    border_width: int | None = field(
        default=None,
        metadata=option(
            "integer",
            _BORDER_PX,
            "Border width on every side (× dpr).",
            integer(0, 1000),
            name="border.width",
            example="border.width=10",
        ),
    )
    border_top: int | None = field(
        default=None,
        metadata=option(
            "integer",
            _BORDER_PX,
            "Top border width (× dpr).",
            integer(0, 1000),
            name="border.top",
            example="border.top=10",
        ),
    )
    border_right: int | None = field(
        default=None,
        metadata=option(
            "integer",
            _BORDER_PX,
            "Right border width (× dpr).",
            integer(0, 1000),
            name="border.right",
            example="border.right=10",
        ),
    )
    border_bottom: int | None = field(
        default=None,
        metadata=option(
            "integer",
            _BORDER_PX,
            "Bottom border width (× dpr).",
            integer(0, 1000),
            name="border.bottom",
            example="border.bottom=10",
        ),
    )
    border_left: int | None = field(
        default=None,
        metadata=option(
            "integer",
            _BORDER_PX,
            "Left border width (× dpr).",
            integer(0, 1000),
            name="border.left",
            example="border.left=10",
        ),
    )
    metadata: str = field(
        default="copyright",
        metadata=option(
            "enum",
            "keep | copyright | none",
            "Metadata kept in JPEG/AVIF output: all EXIF/XMP/IPTC, only the EXIF copyright, or nothing. "
            "WebP, PNG and GIF output never carry EXIF.",
            choice("keep", "copyright", "none"),
            example="metadata=none",
        ),
    )
    compression: str | None = field(
        default=None,
        metadata=option(
            "enum",
            "fast",
            "Favour encoding speed: picks JPEG over WebP/AVIF and the fastest encoder effort "
            "(baseline JPEG, no Huffman optimisation).",
            choice("fast"),
            example="format=auto,compression=fast",
        ),
    )
    onerror: str | None = field(
        default=None,
        metadata=option(
            "enum",
            "redirect",
            "On error, redirect to the source image (server only).",
            choice("redirect"),
            example="width=400,onerror=redirect",
        ),
    )
    segment: str | None = field(
        default=None,
        metadata=option(
            "enum",
            "foreground",
            "Remove the background (needs a segmentation model).",
            choice("foreground"),
            example="segment=foreground",
        ),
    )
    upscale: str = field(
        default="interpolate",
        metadata=option(
            "enum",
            "interpolate | generate",
            "How an enlargement is made: interpolate resamples (bicubic class); generate runs a "
            "super-resolution model (2×/4×, needs upscale_model) and resamples the rest of the way. "
            "No effect when the image is not enlarged (shrinking, fit=scale-down).",
            choice("interpolate", "generate"),
            example="width=1600,fit=contain,upscale=generate",
        ),
    )
    # --- an overlay in URL form (beyond Cloudflare, where draw is Workers-only): the server fetches
    # --- the overlay before the engine runs (enlarger.url_overlay makes the engine's Job); the base's
    # --- own steps ignore these
    draw: str | None = field(
        default=None,
        metadata=option(
            "source",
            "an image id or file name, or url(<path or absolute URL>)",
            "An image drawn over the output (a watermark): on /cdn-cgi/image a source at the origin or on an "
            "allowed host, on hosted delivery and variants a hosted image of the same account. Sources with "
            "/ , or parentheses are written url(...).",
            overlay_source,
            example="draw=url(/logo.png),draw.bottom=10,draw.right=10",
        ),
    )
    # the placement, derived from DrawOptions (one field each: the URL form offers all but composite)
    draw_opacity: float = _drawn("opacity")
    draw_repeat: Repeat = _drawn("repeat")
    draw_top: int | None = _drawn("top")
    draw_left: int | None = _drawn("left")
    draw_bottom: int | None = _drawn("bottom")
    draw_right: int | None = _drawn("right")
    # the overlay's own size, in the URL form only (the binding's .draw() takes width/height)
    draw_width: float | None = field(
        default=None,
        metadata=option(
            "number",
            f"above 0 and below 1 (a fraction of the output's width), or 1–{MAX_DIMENSION} pixels",
            "Width the draw overlay is fitted to (keeping its aspect ratio).",
            overlay_extent,
            name="draw.width",
            example="draw=logo.png,draw.width=0.25",
        ),
    )
    draw_height: float | None = field(
        default=None,
        metadata=option(
            "number",
            f"above 0 and below 1 (a fraction of the output's height), or 1–{MAX_DIMENSION} pixels",
            "Height the draw overlay is fitted to (keeping its aspect ratio).",
            overlay_extent,
            name="draw.height",
            example="draw=logo.png,draw.height=40",
        ),
    )

    def canonical(self) -> str:
        """Sorted ``name=value`` pairs without defaults: equal options give equal strings."""
        return self._canonical

    @functools.cached_property
    def _canonical(self) -> str:
        """Computed once per instance: parsed URL options are shared, so per request it is free."""
        parts = []
        for opt in _SORTED_TABLE:
            value = getattr(self, opt.attr)
            if value != opt.default:
                parts.append(f"{opt.name}={render_value(value)}")
        return ",".join(parts)

    def replace(self, **changes: Any) -> Options:
        """A copy with some options (by field name) changed, or reset to their default by ``None``.

        The changed values go through their parsers (which take typed values as well as text) and
        the combination rules, exactly as if they had been given in the first place.
        """
        values = {opt.name: getattr(self, opt.attr) for opt in TABLE if getattr(self, opt.attr) != opt.default}
        for attr, value in changes.items():
            opt = _BY_ATTR[attr]
            values.pop(opt.name, None)
            if value is not None:
                values[opt.name] = _parse_value(opt, value)
        return _build(values)

    @property
    def quality_value(self) -> int:
        return DEFAULT_QUALITY if self.quality is None else quality_number(self.quality)

    @property
    def scale(self) -> float:
        """The device pixel ratio in effect (1 when none was given)."""
        return self.dpr or 1.0

    @property
    def pixel_width(self) -> int | None:
        """The requested width in CSS pixels; ``auto`` not resolved by client hints means none."""
        return self.width if isinstance(self.width, int) else None

    def border_edges(self) -> BorderEdges:
        """Border widths (top, right, bottom, left) in output pixels, dpr applied."""
        base = self.border_width or 0
        edges = (self.border_top, self.border_right, self.border_bottom, self.border_left)
        return tuple(round((base if e is None else e) * self.scale) for e in edges)  # type: ignore[return-value]


def _row(f: dataclasses.Field[Any]) -> Option:
    meta = f.metadata
    name = meta["name"] or f.name
    return Option(
        name,
        meta["kind"],
        meta["allowed"],
        meta["doc"],
        meta["parse"],
        f.default,
        meta["aliases"],
        meta["example"],
        f.name,
    )


#: The option table, in documentation order, derived from the :class:`Options` fields.
TABLE: tuple[Option, ...] = tuple(_row(f) for f in dataclasses.fields(Options))
BY_NAME: dict[str, Option] = {opt.name: opt for opt in TABLE}
_BY_ATTR: dict[str, Option] = {opt.attr: opt for opt in TABLE}
_LOOKUP: dict[str, Option] = {**BY_NAME, **{a: opt for opt in TABLE for a in opt.aliases}}
#: Names that group options in the JSON form (``{"border": {"width": 2}}`` is ``border.width``).
_GROUPS = frozenset(name.rsplit(".", i)[0] for name in BY_NAME for i in range(1, name.count(".") + 1))
_SORTED_TABLE = sorted(TABLE, key=lambda o: o.name)
_MEMO_TEXT_LIMIT = 512  # longer option texts are parsed afresh, so the memo stays small (a few MB)


def quality_number(value: Quality) -> int:
    """The encoder quality for an integer or a named level."""
    return NAMED_QUALITY[value] if isinstance(value, str) else value


def outside_parentheses(text: str, separator: str) -> list[int]:
    """Where ``separator`` stands in ``text`` outside parentheses: ``rgb(1,2,3)`` and ``url(a/b)``
    stay whole when a URL is cut into options or into options and a source."""
    depth, found = 0, []
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
        elif char == separator and depth == 0:
            found.append(i)
    return found


def _split_url(text: str) -> Iterable[str]:
    """Split on commas that are not inside parentheses."""
    start = 0
    for i in outside_parentheses(text, ","):
        yield text[start:i]
        start = i + 1
    yield text[start:]


def _pairs_from_url(text: str) -> list[tuple[str, object]]:
    pairs: list[tuple[str, object]] = []
    for segment in _split_url(text):
        segment = segment.strip()
        if not segment:
            continue
        name, sep, value = segment.partition("=")
        if not sep:
            raise OptionError(name.strip(), segment, "options are written name=value, separated by commas")
        pairs.append((name, value))
    return pairs


def _flatten(mapping: Mapping[str, object], prefix: str = "") -> list[tuple[str, object]]:
    pairs: list[tuple[str, object]] = []
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and _key(name) in _GROUPS:
            pairs.extend(_flatten(value, f"{name}."))
        elif value is not None:
            pairs.append((name, value))
    return pairs


def _key(name: str) -> str:
    """How names are compared: case-insensitive, ``_`` standing for ``-``."""
    return name.strip().lower().replace("_", "-")


def _resolve(name: str) -> Option:
    key = _key(name)
    if key in _LOOKUP:
        return _LOOKUP[key]
    close = difflib.get_close_matches(key, list(_LOOKUP), n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise UnknownOptionError(name.strip(), hint)


def _check_combinations(values: dict[str, object]) -> None:
    edge_keys = [
        k for k in ("trim.top", "trim.right", "trim.bottom", "trim.left", "trim.width", "trim.height") if k in values
    ]
    wants_border = values.get("trim") == "border" or any(k.startswith("trim.border.") for k in values)
    if isinstance(values.get("trim"), tuple) and wants_border:
        raise OptionError("trim", values["trim"], "trim edges cannot be combined with trim.border.*")
    if wants_border and edge_keys:
        raise OptionError("trim", "border", f"trim=border cannot be combined with {', '.join(edge_keys)}")
    if "trim.right" in values and "trim.width" in values:
        raise OptionError("trim.width", values["trim.width"], "give trim.right or trim.width, not both")
    if "trim.bottom" in values and "trim.height" in values:
        raise OptionError("trim.height", values["trim.height"], "give trim.bottom or trim.height, not both")


def parse_options(source: str | Mapping[str, object] | Options | None = None) -> Options:
    """Parse the URL form (``width=400,fit=cover``) or a dict/JSON form into :class:`Options`.

    Raises :class:`~enlarger.errors.OptionError` naming the option, the value and what is
    allowed; never any other exception for any input string or JSON value.
    """
    if isinstance(source, Options):
        return source
    if isinstance(source, str) and len(source) <= _MEMO_TEXT_LIMIT:
        return _parse_url_memo(source)
    return _parse(source)


def parse_url_options(text: str) -> Options:
    """The options segment of a URL (``/cdn-cgi/image/<options>/…``, a flexible variant).

    Cloudflare's URL format allows no spaces anywhere in it (transform-via-url: "no spaces"), so
    a space there, decoded from ``%20`` or not, is a 9401 error rather than being stripped as
    :func:`parse_options` does for the library and CLI forms.
    """
    if any(char.isspace() for char in text):
        raise OptionError("options", text, "the options of a URL are name=value pairs separated by commas, no spaces")
    return parse_options(text)


@functools.lru_cache(maxsize=4096)
def _parse_url_memo(text: str) -> Options:
    """URL option texts repeat across requests, and Options are immutable: parse each once."""
    return _parse(text)


def _parse(source: str | Mapping[str, object] | None) -> Options:
    if source is None:
        pairs: list[tuple[str, object]] = []
    elif isinstance(source, str):
        pairs = _pairs_from_url(source)
    else:
        pairs = _flatten(source)
    values: dict[str, object] = {}
    for raw_name, raw_value in pairs:
        opt = _resolve(raw_name)
        if opt.name in values:
            raise OptionError(opt.name, raw_value, "the option is given more than once")
        values[opt.name] = _parse_value(opt, raw_value)
    return _build(values)


def _parse_value(opt: Option, raw: object) -> object:
    try:
        return opt.parse(raw)
    except (ValueError, TypeError, KeyError) as exc:
        raise OptionError(opt.name, raw, opt.allowed) from exc


def _build(values: dict[str, object]) -> Options:
    """:class:`Options` from parsed values by option name, once the combination rules hold."""
    _check_combinations(values)
    if any(name.startswith("trim.border.") for name in values):
        values["trim"] = "border"
    kwargs: dict[str, Any] = {BY_NAME[name].attr: value for name, value in values.items()}
    return Options(**kwargs)
