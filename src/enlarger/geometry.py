"""Output geometry as pure arithmetic on header sizes.

Planning every size before touching pixels is what lets the engine shrink on load (it knows
the target before decoding), answer ``format=json`` without decoding, and test the documented
fit-mode size table exhaustively without images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from enlarger.options import Options


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class Plan:
    """How a source of ``source`` size becomes the output.

    ``load_size`` is what the decoder produces (the whole oriented frame, scaled);
    ``trim`` is then cut from it and brought to ``trimmed`` (a resize only when trimming a
    source that is then enlarged: decoders never enlarge the whole frame just to cut most of it
    away); the result is rotated (``rotated`` swaps axes) to ``resized``;
    ``crop`` (if any) is cut around the focal point; ``canvas`` (if any) pads; the border is added.
    """

    source: tuple[int, int]
    load_size: tuple[int, int]
    trim: Rect | None
    trimmed: tuple[int, int]
    rotated: bool
    resized: tuple[int, int]
    crop: tuple[int, int] | None
    canvas: tuple[int, int] | None
    border: tuple[int, int, int, int]

    @property
    def output(self) -> tuple[int, int]:
        width, height = self.canvas or self.crop or self.resized
        top, right, bottom, left = self.border
        return width + left + right, height + top + bottom


def trim_rect(width: int, height: int, options: Options) -> Rect | None:
    """The area kept by the pixel forms of ``trim`` (edges, trim.*), clamped to the image."""
    if options.trim == "border":
        return None
    top, right, bottom, left = options.trim if options.trim else (0, 0, 0, 0)
    top = options.trim_top if options.trim_top is not None else top
    left = options.trim_left if options.trim_left is not None else left
    right = options.trim_right if options.trim_right is not None else right
    bottom = options.trim_bottom if options.trim_bottom is not None else bottom
    left, top = min(left, width - 1), min(top, height - 1)
    keep_w = options.trim_width if options.trim_width is not None else width - left - right
    keep_h = options.trim_height if options.trim_height is not None else height - top - bottom
    keep_w = max(1, min(keep_w, width - left))
    keep_h = max(1, min(keep_h, height - top))
    if (left, top, keep_w, keep_h) == (0, 0, width, height):
        return None
    return Rect(left, top, keep_w, keep_h)


def _fit(
    a: int, b: int, w: int | None, h: int | None, fit: str
) -> tuple[float, float, tuple[int, int] | None, tuple[int, int] | None]:
    """Scale factors, crop size and canvas size for an ``a``×``b`` image into ``w``×``h``."""
    if w is None and h is None:
        return 1.0, 1.0, None, None
    ratios = [r for r in (w / a if w else None, h / b if h else None) if r is not None]
    if w is None or h is None:
        s = min(ratios)
        if fit in ("scale-down", "crop", "aspect-crop"):
            s = min(s, 1.0)
        return s, s, None, None
    wr, hr = w / a, h / b
    if fit == "scale-down":
        s = min(wr, hr, 1.0)
        return s, s, None, None
    if fit == "contain":
        s = min(wr, hr)
        return s, s, None, None
    if fit == "pad":
        s = min(wr, hr)
        return s, s, None, (w, h)
    if fit == "squeeze":
        return wr, hr, None, None
    if fit == "cover":
        s = max(wr, hr)
        return s, s, (w, h), None
    s = min(max(wr, hr), 1.0)
    ra, rb = _scaled(a, s), _scaled(b, s)
    if fit == "crop":
        return s, s, (min(w, ra), min(h, rb)), None
    # aspect-crop: the largest area of the target aspect ratio inside the scaled image
    if ra * h > rb * w:
        return s, s, (max(1, min(ra, round(rb * w / h))), rb), None
    return s, s, (ra, max(1, min(rb, round(ra * h / w)))), None


def _scaled(length: int, factor: float) -> int:
    return max(1, round(length * factor))


def plan(width: int, height: int, options: Options, max_side: int, trim: Rect | None = None) -> Plan:
    """Plan the geometry for an oriented source of ``width``×``height`` (one frame).

    ``trim`` overrides the pixel trim (used for ``trim=border``, detected from pixels).
    """
    trim = trim if trim is not None else trim_rect(width, height, options)
    tw, th = (trim.width, trim.height) if trim else (width, height)
    rotated = options.rotate in (90, 270)
    a, b = (th, tw) if rotated else (tw, th)
    w = round(options.pixel_width * options.scale) if options.pixel_width else None
    h = round(options.height * options.scale) if options.height else None
    fit = options.fit
    sx, sy, crop, canvas = _fit(a, b, w, h, fit)
    final = canvas or crop or (_scaled(a, sx), _scaled(b, sy))
    if max(final) > max_side:
        f = max_side / max(final)
        if w is None and h is None:
            w, fit = max(1, math.floor(a * f)), "scale-down"
        else:
            w = max(1, math.floor(w * f)) if w else None
            h = max(1, math.floor(h * f)) if h else None
        sx, sy, crop, canvas = _fit(a, b, w, h, fit)
    resized = (_scaled(a, sx), _scaled(b, sy))
    # the decoder scales the whole un-rotated frame; the trim area is cut from that
    px, py = (sy, sx) if rotated else (sx, sy)
    pre_w, pre_h = (resized[1], resized[0]) if rotated else resized
    load_size, scaled_trim = (pre_w, pre_h), trim
    if trim is not None and px <= 1 and py <= 1:
        load_size = (max(pre_w, _scaled(width, px)), max(pre_h, _scaled(height, py)))
        x = min(round(trim.x * px), load_size[0] - pre_w)
        y = min(round(trim.y * py), load_size[1] - pre_h)
        scaled_trim = Rect(x, y, pre_w, pre_h)
    elif trim is not None:
        load_size = (width, height)
    return Plan(
        source=(width, height),
        load_size=load_size,
        trim=scaled_trim,
        trimmed=(pre_w, pre_h),
        rotated=rotated,
        resized=resized,
        crop=crop,
        canvas=canvas,
        border=options.border_edges(),
    )
