"""``text()``: a line (or paragraph) of text as an image source, drawn like any overlay.

Rendered by libvips' ``text`` (Pango) as a coverage mask, then coloured: the result is sRGB with
the colour's alpha times the coverage, so anti-aliased edges composite correctly over any base.
Sizes are pixels (rendered at 72 dpi, where a point is a pixel).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar

import pyvips

from enlarger.binding.fonts import Font
from enlarger.colors import BLACK, Color
from enlarger.errors import OptionError
from enlarger.options import MAX_DIMENSION, choice, color, integer, number

Align = Literal["left", "centre", "right"]
T = TypeVar("T")
MAX_TEXT_CHARACTERS = 4096
_size = number(1, 1000)
_width = integer(1, MAX_DIMENSION)
_align = choice("left", "centre", "right", synonyms={"center": "centre"})


@dataclass(frozen=True)
class TextSource:
    """What to write and how: ``font`` is a TrueType/OpenType URL, or None for the bundled font."""

    content: str
    size: float = 24.0
    color: Color = BLACK
    width: int | None = None  #: wrap at this many pixels (word by word); None: one line per line break
    align: Align = "left"
    font: str | None = None


def text_source(content: object, options: Mapping[str, object] | None = None) -> TextSource:
    """A :class:`TextSource` from the binding's form (``{"font": {"url": ...}, "size": 24, "color": "red"}``).

    ``font`` may also be the URL itself. Raises :class:`~enlarger.errors.OptionError` for bad values.
    """
    if not isinstance(content, str) or not content.strip():
        raise OptionError("text", content, "text to write: a non-empty string")
    if len(content) > MAX_TEXT_CHARACTERS:
        raise OptionError("text", f"{content[:20]}…", f"at most {MAX_TEXT_CHARACTERS} characters")
    values = dict(options or {})
    unknown = set(values) - {"font", "size", "color", "width", "align"}
    if unknown:
        raise OptionError(
            sorted(unknown)[0], values[sorted(unknown)[0]], "text options: font, size, color, width, align"
        )
    font = values.get("font")
    if isinstance(font, Mapping):
        font = font.get("url")
    if font is not None and not isinstance(font, str):
        raise OptionError("font", font, "a font URL (http or https), or {url: ...}")
    return TextSource(
        content,
        size=parsed("size", values.get("size"), _size, "1–1000 pixels", 24.0),
        color=parsed("color", values.get("color"), color, "a CSS colour", BLACK),
        width=parsed("width", values.get("width"), _width, f"1–{MAX_DIMENSION} pixels", None),
        align=parsed("align", values.get("align"), _align, "left | centre | right", "left"),  # type: ignore[arg-type]
        font=font or None,
    )


def parsed(name: str, raw: object, parse: Callable[[object], T], allowed: str, default: T) -> T:
    """``raw`` parsed, ``default`` when it is absent, or an :class:`OptionError` naming ``name``."""
    if raw is None:
        return default
    try:
        return parse(raw)
    except (ValueError, TypeError) as exc:
        raise OptionError(name, raw, allowed) from exc


def render_text(source: TextSource, font: Font) -> bytes:
    """``source`` as a PNG with alpha, sized to the text."""
    mask = pyvips.Image.text(
        html.escape(source.content, quote=False),  # Pango reads markup: the content is text, not markup
        font=f"{font.family} {source.size:g}",
        fontfile=str(font.path),
        dpi=72,
        width=source.width or 0,
        wrap="word",
        align={"left": "low", "centre": "centre", "right": "high"}[source.align],
    )
    paint = source.color
    alpha = (mask * (paint.a / 255.0) + 0.5).cast("uchar") if paint.a < 255 else mask
    image = (mask.new_from_image(paint.rgb()).cast("uchar")).bandjoin(alpha).copy(interpretation="srgb")
    return bytes(image.pngsave_buffer(compression=1))
