"""``draw``: composite overlays, already decoded and transformed, onto the base.

The overlays are images loaded before the engine runs (a step never fetches): the engine runs each
overlay's bytes through the normal steps with its own options, and this step only places the
results. The draw options (:class:`~enlarger.options.DrawOptions`, with the other options) follow
Cloudflare's Images binding (``.draw(image, options)``):

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

import pyvips

from enlarger.options import COMPOSITES, Composite, DrawOptions, Options
from enlarger.steps.context import Context, Layer
from enlarger.steps.frames import per_frame

#: Cloudflare's composite names → libvips blend modes (canvas' ``lighter`` is libvips' ``add``)
BLEND_MODES: dict[Composite, str] = {
    "over": "over",
    "in": "in",
    "atop": "atop",
    "out": "out",
    "xor": "xor",
    "lighter": "add",
}
assert tuple(BLEND_MODES) == COMPOSITES, "every composite name has a blend mode"
#: modes whose result is opaque wherever the base is: an opaque base stays without alpha
_KEEPS_OPAQUE = frozenset({"over", "atop", "lighter"})


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
