"""Colour adjustments: brightness, contrast, gamma, saturation (colour bands only, never alpha)."""

from __future__ import annotations

import pyvips

from enlarger.options import Options
from enlarger.steps.context import Context


def _split_alpha(image: pyvips.Image) -> tuple[pyvips.Image, pyvips.Image | None]:
    if image.hasalpha():
        return image.extract_band(0, n=image.bands - 1), image.extract_band(image.bands - 1)
    return image, None


def adjust(image: pyvips.Image, options: Options, ctx: Context) -> pyvips.Image:
    if (options.brightness, options.contrast, options.gamma, options.saturation) == (1.0, 1.0, 1.0, 1.0):
        return image
    colour, alpha = _split_alpha(image)
    if options.saturation != 1.0 and colour.bands == 3:
        lch = colour.colourspace("lch")
        colour = (lch * [1.0, options.saturation, 1.0]).colourspace("srgb")
    if options.brightness != 1.0:
        colour = colour * options.brightness
    if options.contrast != 1.0:
        colour = (colour - 128) * options.contrast + 128
    if options.gamma != 1.0:
        colour = ((colour.cast("float") / 255).maxpair(0) ** (1 / options.gamma)) * 255
    colour = colour.cast("uchar")
    colour = colour.copy(interpretation="srgb" if colour.bands >= 3 else "b-w")
    return colour.bandjoin(alpha) if alpha is not None else colour
