"""Background under transparency (flattening where the format has no alpha) and borders."""

from __future__ import annotations

import pyvips

from enlarger.colors import BLACK, WHITE
from enlarger.formats import ALPHA
from enlarger.options import Options
from enlarger.steps.context import Context
from enlarger.steps.crop import ensure_fillable, fill_colour
from enlarger.steps.frames import per_frame


def background(image: pyvips.Image, options: Options, ctx: Context) -> pyvips.Image:
    if not image.hasalpha():
        return image
    keeps_alpha = ctx.output_format in ALPHA
    colour = options.background
    if colour is None:
        if keeps_alpha:
            return image
        colour = WHITE
    if colour.opaque or not keeps_alpha:
        return image.flatten(background=fill_colour(image.extract_band(0, n=image.bands - 1), colour))
    # a see-through background: composite over it and keep the combined alpha
    underlay = image.new_from_image(fill_colour(image, colour)).copy(interpretation=image.interpretation)
    return underlay.composite2(image, "over").cast("uchar")


def border(image: pyvips.Image, options: Options, ctx: Context) -> pyvips.Image:
    top, right, bottom, left = ctx.plan.border
    if not any((top, right, bottom, left)):
        return image
    colour = options.border_color or BLACK
    image = ensure_fillable(image, colour)
    fill = fill_colour(image, colour)
    return per_frame(
        image,
        lambda f: f.embed(
            left, top, f.width + left + right, f.height + top + bottom, extend="background", background=fill
        ),
    )
