"""Where a crop window goes: named sides, focal points, saliency for ``auto``, faces for ``face``.

``gravity=face`` follows the documented algorithm: detect every face on an inference copy no larger
than 1024 px, take the outer box around them, use its centre as the focal point and, with ``zoom``,
keep (1 ÷ zoom) × that box (at most the image) before fit/width/height apply. Without a face it
falls back to saliency (and saliency, on a featureless image, to the centre).
"""

from __future__ import annotations

import math

import pyvips

from enlarger.codecs import Header, load
from enlarger.geometry import Rect
from enlarger.models import faces, saliency
from enlarger.options import Gravity, Options
from enlarger.settings import Settings


def _clamp(value: float, high: int) -> int:
    return int(max(0, min(high, round(value))))


def crop_origin(gravity: Gravity | None, size: tuple[int, int], crop: tuple[int, int]) -> tuple[int, int]:
    """Top-left of a ``crop`` window in an image of ``size``, for a geometric gravity."""
    (width, height), (cw, ch) = size, crop
    fx, fy = 0.5, 0.5
    if isinstance(gravity, tuple):
        fx, fy = gravity
    elif gravity == "left":
        fx = 0.0
    elif gravity == "right":
        fx = 1.0
    elif gravity == "top":
        fy = 0.0
    elif gravity == "bottom":
        fy = 1.0
    return _clamp(fx * width - cw / 2, width - cw), _clamp(fy * height - ch / 2, height - ch)


def salient_origin(image: pyvips.Image, crop: tuple[int, int]) -> tuple[int, int]:
    """Top-left of the crop window that keeps the most salient area (see :mod:`enlarger.models.saliency`)."""
    if crop == (image.width, image.height):
        return 0, 0
    return saliency.salient_origin(image, crop)


def face_focus(
    data: bytes, header: Header, options: Options, settings: Settings, base: Rect | None
) -> tuple[Rect | None, tuple[float, float]] | None:
    """Faces in the source (inside ``base``, the trimmed area, when given).

    Returns ``None`` when there is no face; else the area to keep (the zoom crop in source pixels,
    or ``base`` without ``zoom``) and the focal point as fractions of that area.
    """
    scale = min(1.0, faces.INFERENCE_SIDE / max(header.width, header.height))
    size = (max(1, round(header.width * scale)), max(1, round(header.height * scale)))
    analysis = load(data, header, size, all_frames=False)
    boxes, inner = faces.detect(analysis, settings)
    sx, sy = header.width / analysis.width / inner, header.height / analysis.height / inner
    region = base or Rect(0, 0, header.width, header.height)
    found = []
    for b in boxes:
        box = faces.Box(b.x0 * sx - region.x, b.y0 * sy - region.y, b.x1 * sx - region.x, b.y1 * sy - region.y)
        if box.x1 > 0 and box.y1 > 0 and box.x0 < region.width and box.y0 < region.height:
            found.append(box)
    if not found:
        return None
    outer = faces.outer_box(found)
    cx, cy = (outer.x0 + outer.x1) / 2, (outer.y0 + outer.y1) / 2
    if not options.zoom:
        return base, (cx / region.width, cy / region.height)
    # the documented arithmetic runs on the inference copy, then scales back to the source
    factor = analysis.width * inner / header.width
    x, y, w, h = faces.zoom_area((region.width * factor, region.height * factor), outer.scaled(factor), options.zoom)
    x0, y0 = math.floor(x / factor + 1e-6), math.floor(y / factor + 1e-6)
    x1 = min(region.width, math.ceil((x + w) / factor - 1e-6))
    y1 = min(region.height, math.ceil((y + h) / factor - 1e-6))
    area = Rect(region.x + x0, region.y + y0, max(1, x1 - x0), max(1, y1 - y0))
    if (area.x, area.y, area.width, area.height) == (region.x, region.y, region.width, region.height):
        return base, (cx / region.width, cy / region.height)
    return area, ((cx - x0) / area.width, (cy - y0) / area.height)


def oriented_focal(focal: tuple[float, float], options: Options) -> tuple[float, float]:
    """A focal point of the un-rotated frame, as seen after ``flip`` and then ``rotate``."""
    fx, fy = focal
    if options.flip in ("h", "hv"):
        fx = 1 - fx
    if options.flip in ("v", "hv"):
        fy = 1 - fy
    if options.rotate == 90:
        fx, fy = 1 - fy, fx
    elif options.rotate == 180:
        fx, fy = 1 - fx, 1 - fy
    elif options.rotate == 270:
        fx, fy = fy, 1 - fx
    return min(1.0, max(0.0, fx)), min(1.0, max(0.0, fy))
