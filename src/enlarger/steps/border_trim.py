"""``trim=border``: find a uniform border from pixels before planning the geometry.

Detection runs on a small analysis copy (longest side ≤ ``ANALYSIS_SIDE``, shrunk on load) so
it costs a fraction of the real decode; the rectangle found is mapped back to source pixels,
rounded outwards so that content is never cut, at the price of keeping up to one analysis
pixel of border on large sources.
"""

from __future__ import annotations

import math

import pyvips

from enlarger.codecs import Header, load
from enlarger.geometry import Rect
from enlarger.options import Options

ANALYSIS_SIDE = 1024


def _border_colour(image: pyvips.Image, options: Options) -> list[float]:
    if options.trim_border_color is not None:
        colour = options.trim_border_color
        if image.bands == 1:
            return [0.2126 * colour.r + 0.7152 * colour.g + 0.0722 * colour.b]
        return [float(colour.r), float(colour.g), float(colour.b)]
    return [float(v) for v in image.getpoint(0, 0)]


def detect_border(data: bytes, header: Header, options: Options) -> Rect | None:
    """The source-pixel rectangle inside the uniform border, or ``None`` when there is none."""
    scale = min(1.0, ANALYSIS_SIDE / max(header.width, header.height))
    size = (max(1, round(header.width * scale)), max(1, round(header.height * scale)))
    image = load(data, header, size, all_frames=False)
    if image.hasalpha() and options.trim_border_color is None and image.getpoint(0, 0)[-1] == 0:
        # a see-through border: what matters is where the content becomes visible
        image, colour = image.extract_band(image.bands - 1), [0.0]
    else:
        if image.hasalpha():
            image = image.flatten(background=[255] * (image.bands - 1))
        colour = _border_colour(image, options)
    left, top, width, height = image.find_trim(threshold=options.trim_border_tolerance, background=colour)
    if width <= 0 or height <= 0 or (width, height) == (image.width, image.height):
        return None
    sx, sy = header.width / image.width, header.height / image.height
    keep = options.trim_border_keep
    x0 = max(0, math.floor(left * sx) - keep)
    y0 = max(0, math.floor(top * sy) - keep)
    x1 = min(header.width, math.ceil((left + width) * sx) + keep)
    y1 = min(header.height, math.ceil((top + height) * sy) + keep)
    if (x0, y0, x1, y1) == (0, 0, header.width, header.height):
        return None
    return Rect(x0, y0, x1 - x0, y1 - y0)
