"""Cutting and padding to the planned geometry: trim, focal-point crop, pad."""

from __future__ import annotations

import pyvips

from enlarger import formats
from enlarger.colors import TRANSPARENT, WHITE, Color
from enlarger.options import Options
from enlarger.steps.context import Context
from enlarger.steps.frames import first_frame, per_frame
from enlarger.steps.gravity import crop_origin, salient_origin


def trim(image: pyvips.Image, options: Options, ctx: Context) -> pyvips.Image:
    """Cut ``plan.trim`` (loaded frame) and bring it to ``plan.trimmed``: a resize only when the
    trimmed area is enlarged, the one resize outside the decoder (see :class:`~enlarger.geometry.Plan`)."""
    rect = ctx.plan.trim
    if rect is None:
        return image
    target_w, target_h = ctx.plan.trimmed

    def cut(frame: pyvips.Image) -> pyvips.Image:
        frame = frame.crop(rect.x, rect.y, rect.width, rect.height)
        if (frame.width, frame.height) != (target_w, target_h):
            frame = frame.resize(target_w / frame.width, vscale=target_h / frame.height)
        return frame

    return per_frame(image, cut)


def crop(image: pyvips.Image, options: Options, ctx: Context) -> pyvips.Image:
    size = ctx.plan.crop
    if size is None:
        return image
    frame = first_frame(image)
    if (frame.width, frame.height) == size:
        return image
    if ctx.focal is not None:
        x, y = crop_origin(ctx.focal, (frame.width, frame.height), size)
    elif options.gravity in ("auto", "face"):
        # the scaled image is about output size; holding it lets attention read it twice
        image = image.copy_memory()
        x, y = salient_origin(first_frame(image), size)
    else:
        x, y = crop_origin(options.gravity, (frame.width, frame.height), size)
    return per_frame(image, lambda f: f.crop(x, y, size[0], size[1]))


def fill_colour(image: pyvips.Image, colour: Color) -> list[float]:
    """``colour`` as a pixel of ``image``'s band layout (grey or sRGB, with or without alpha)."""
    if image.bands <= 2:
        grey = round(0.2126 * colour.r + 0.7152 * colour.g + 0.0722 * colour.b)
        return [float(grey), float(colour.a)][: image.bands]
    return colour.rgba()[: image.bands]


def ensure_fillable(image: pyvips.Image, colour: Color) -> pyvips.Image:
    """Give ``image`` the bands needed to show ``colour`` exactly (sRGB for colours, alpha for see-through)."""
    if image.bands <= 2 and not (colour.r == colour.g == colour.b):
        image = image.colourspace("srgb")
    if not colour.opaque and not image.hasalpha():
        image = image.bandjoin(255)
    return image


def pad(image: pyvips.Image, options: Options, ctx: Context) -> pyvips.Image:
    canvas = ctx.plan.canvas
    if canvas is None:
        return image
    frame = first_frame(image)
    if (frame.width, frame.height) == canvas:
        return image
    colour = options.background
    if colour is None:
        colour = TRANSPARENT if frame.hasalpha() and ctx.output_format in formats.ALPHA else WHITE
    image = ensure_fillable(image, colour)
    x, y = (canvas[0] - frame.width) // 2, (canvas[1] - frame.height) // 2
    background = fill_colour(image, colour)
    return per_frame(image, lambda f: f.embed(x, y, canvas[0], canvas[1], extend="background", background=background))
