"""``draw``: composite overlays, already decoded and transformed, onto the base.

The overlays are images loaded before the engine runs (a step never fetches): the engine runs each
overlay's bytes through the normal steps with its own options, and this step only places the
results. The draw options follow Cloudflare's Images binding (``.draw(image, options)``):

- ``top``/``left``/``bottom``/``right`` in pixels of the base; no horizontal (vertical) position
  centres the overlay on that axis; ``left`` with ``right`` (``top`` with ``bottom``) is an error;
- ``opacity`` 0–1 multiplies the overlay's alpha;
- ``repeat`` tiles the overlay from its position: ``true`` over the whole base, ``x`` along its row,
  ``y`` along its column;
- ``composite`` is a Porter-Duff mode (``over``, ``in``, ``atop``, ``out``, ``xor``, ``lighter``) that,
  as Cloudflare documents, acts only inside the overlay's bounding box: elsewhere the base is untouched.

libvips composites in sRGB with premultiplied alpha (it premultiplies the straight-alpha inputs
itself). The output keeps the base's size; each frame of an animated base gets the overlay.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import pyvips

from enlarger.errors import OptionError, UnknownOptionError
from enlarger.options import Options, boolean, choice, integer, number
from enlarger.steps.context import Context
from enlarger.steps.frames import per_frame

Repeat: TypeAlias = bool | Literal["x", "y"]
Composite: TypeAlias = Literal["over", "in", "atop", "out", "xor", "lighter"]

#: Cloudflare's composite names → libvips blend modes (canvas' ``lighter`` is libvips' ``add``)
BLEND_MODES: dict[str, str] = {"over": "over", "in": "in", "atop": "atop", "out": "out", "xor": "xor", "lighter": "add"}
#: modes whose result is opaque wherever the base is: an opaque base stays without alpha
_KEEPS_OPAQUE = frozenset({"over", "atop", "lighter"})

_OFFSET_RANGE = "an integer number of pixels (-100000–100000)"
_offset = integer(-100_000, 100_000)
_opacity = number(0, 1)
_composite = choice(*BLEND_MODES)


@dataclass(frozen=True)
class DrawOptions:
    """Where and how one overlay is drawn (the binding's ``.draw()`` options)."""

    opacity: float = 1.0
    repeat: Repeat = False
    composite: Composite = "over"
    top: int | None = None
    left: int | None = None
    bottom: int | None = None
    right: int | None = None

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


def parse_draw(raw: Mapping[str, object] | None) -> DrawOptions:
    """Draw options from the binding's JSON form (``{"opacity": 0.5, "repeat": "x", "top": 10}``).

    Raises :class:`~enlarger.errors.OptionError` for an unknown name, a bad value, or both ends of
    an axis.
    """
    values: dict[str, Any] = {}
    for raw_name, value in (raw or {}).items():
        name = raw_name.strip().lower()
        if name not in _DRAW_FIELDS:
            raise UnknownOptionError(raw_name, f" (draw options: {', '.join(_DRAW_FIELDS)})")
        if name in values:
            raise OptionError(name, value, "the option is given more than once")
        if value is None:
            continue
        parse, allowed = _DRAW_FIELDS[name]
        try:
            values[name] = parse(value)
        except (ValueError, TypeError) as exc:
            raise OptionError(name, value, allowed) from exc
    return DrawOptions(**values)


def _repeat(raw: object) -> Repeat:
    if isinstance(raw, str) and raw.strip().lower() in ("x", "y"):
        return "x" if raw.strip().lower() == "x" else "y"
    return boolean(raw)


_DRAW_FIELDS = {
    "opacity": (_opacity, "a number from 0 to 1"),
    "repeat": (_repeat, "true | false | x | y"),
    "composite": (_composite, " | ".join(BLEND_MODES)),
    "top": (_offset, _OFFSET_RANGE),
    "left": (_offset, _OFFSET_RANGE),
    "bottom": (_offset, _OFFSET_RANGE),
    "right": (_offset, _OFFSET_RANGE),
}


@dataclass(frozen=True)
class Layer:
    """An overlay ready to draw: one sRGB + alpha frame, and where and how to draw it."""

    image: pyvips.Image
    draw: DrawOptions


def as_layer(image: pyvips.Image, draw: DrawOptions) -> Layer:
    """``image`` (any band layout) as 8-bit sRGB with alpha, ``draw.opacity`` applied to the alpha."""
    if image.interpretation != "srgb" or image.bands < 3:
        image = image.colourspace("srgb")
    if not image.hasalpha():
        image = image.bandjoin(255)
    if draw.opacity < 1.0:
        alpha = (image.extract_band(3) * draw.opacity + 0.5).cast("uchar")
        image = image.extract_band(0, n=3).bandjoin(alpha)
    return Layer(image.cast("uchar").copy(interpretation="srgb"), draw)


def draw(image: pyvips.Image, options: Options, ctx: Context) -> pyvips.Image:
    """Composite ``ctx.overlays`` in order onto every frame of ``image``."""
    if not ctx.overlays:
        return image
    opaque = not image.hasalpha()
    keep_opaque = opaque and all(layer.draw.composite in _KEEPS_OPAQUE for layer in ctx.overlays)
    if image.interpretation != "srgb" or image.bands < 3:
        image = image.colourspace("srgb")
    if not image.hasalpha():
        image = image.bandjoin(255)

    def apply(frame: pyvips.Image) -> pyvips.Image:
        for layer in ctx.overlays:
            frame = _draw_one(frame, layer)
        return frame

    image = per_frame(image, apply)
    return image.extract_band(0, n=3) if keep_opaque else image


def _draw_one(frame: pyvips.Image, layer: Layer) -> pyvips.Image:
    tile, settings = layer.image, layer.draw
    x, y = settings.origin((frame.width, frame.height), (tile.width, tile.height))
    if settings.repeat is not False:
        across = settings.repeat in (True, "x")
        down = settings.repeat in (True, "y")
        # tiles start on the grid through (x, y) and cover the frame on the repeated axes
        x0 = x - math.ceil(x / tile.width) * tile.width if across else x
        y0 = y - math.ceil(y / tile.height) * tile.height if down else y
        nx = math.ceil((frame.width - x0) / tile.width) if across else 1
        ny = math.ceil((frame.height - y0) / tile.height) if down else 1
        tile, x, y = tile.replicate(nx, ny), x0, y0
    # the composite acts inside the overlay's box only (Cloudflare's rule; libvips would clear
    # the rest of the base for in/out): cut the box out, composite it, put it back
    left, top = max(0, x), max(0, y)
    right, bottom = min(frame.width, x + tile.width), min(frame.height, y + tile.height)
    if right <= left or bottom <= top:
        return frame
    box = frame.crop(left, top, right - left, bottom - top)
    piece = tile.crop(left - x, top - y, right - left, bottom - top)
    mixed = box.composite2(piece, BLEND_MODES[settings.composite]).cast("uchar")
    return frame.insert(mixed, left, top).copy(interpretation="srgb")
