"""Output geometry as pure arithmetic on header sizes.

Planning every size before touching pixels is what lets the engine shrink on load (it knows
the target before decoding), answer ``format=json`` without decoding, and test the documented
fit-mode size table exhaustively without images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, TypeAlias

from enlarger.options import Options, TrimLength


class Size(NamedTuple):
    """A width and height in pixels; which frame they are in is said by the alias or field using it."""

    width: int
    height: int


#: Sizes by coordinate frame (see :class:`Plan` for the diagram). Aliases, not distinct types:
#: they name the frame for the reader, the arithmetic stays plain.
OrientedSize: TypeAlias = Size
LoadedSize: TypeAlias = Size
OutputSize: TypeAlias = Size


@dataclass(frozen=True)
class Rect:
    """A rectangle of pixels (its frame is said where it is used)."""

    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class Plan:
    """How an image of ``oriented`` size becomes the output, through named coordinate frames::

        source    the pixels as stored in the file; only codecs see this frame (EXIF orientation
           │      is applied by the decoder, and header sizes are already oriented)
           ▼ orient
        oriented  full resolution, upright: plan()'s input size, the trim rectangles of the
           │      options, trim=border detection and face areas
           ▼ decode with shrink-on-load (codecs.load → load_size): the only resize of the pipeline…
        loaded    the whole oriented frame, scaled: ``load_size``; ``trim`` is cut from it
           ▼ trim step (…except this one: a trimmed area that is then enlarged is resized here)
        trimmed   the kept area at output scale, not yet rotated: ``trimmed``
           ▼ rotate_flip (``rotated`` swaps the axes)
        resized   upright at output scale: ``resized``; ``crop`` and ``canvas`` are sizes here
           ▼ crop (around the focal point) or pad (to ``canvas``); draw; border
        output    the encoded size: :attr:`output` (crop or canvas or resized, plus the border)

    The scale factor between oriented and loaded is the output scale when no trim is enlarged
    (the decoder never enlarges a whole frame only for most of it to be cut away).
    """

    oriented: OrientedSize  # oriented frame: the upright source, full resolution
    load_size: LoadedSize  # loaded frame: what the decoder produces
    trim: Rect | None  # loaded frame: the area the trim step cuts (None: nothing to cut)
    trimmed: Size  # trimmed frame: size after the trim step (output scale, before rotation)
    rotated: bool  # whether rotate_flip swaps the axes (rotate=90/270): trimmed → resized
    resized: Size  # resized frame: size after rotation, before crop and pad
    crop: Size | None  # resized frame: the window the crop step keeps
    canvas: Size | None  # resized frame: the canvas the pad step centres the image on
    border: tuple[int, int, int, int]  # output pixels added (top, right, bottom, left) around it all

    @property
    def output(self) -> OutputSize:
        width, height = self.canvas or self.crop or self.resized
        top, right, bottom, left = self.border
        return Size(width + left + right, height + top + bottom)


def _pixels(length: TrimLength | None, side: int) -> int | None:
    """A trim length in pixels of ``side``: fractions (floats in 0–1) are of the side, as documented."""
    if isinstance(length, float):
        return round(length * side)
    return length


def trim_rect(width: int, height: int, options: Options) -> Rect | None:
    """The area kept by the pixel forms of ``trim`` (edges, trim.*), clamped to the image (oriented frame).

    Each length is pixels or a fraction of its side (Cloudflare's trim partial: ``trim=0.1;0.2;0.1;0.2``
    on 1000×1000 keeps 600×800); fractions resolve against the oriented size.
    """
    if options.trim == "border":
        return None
    edges = options.trim if options.trim else (0, 0, 0, 0)
    top = _pixels(options.trim_top if options.trim_top is not None else edges[0], height) or 0
    right = _pixels(options.trim_right if options.trim_right is not None else edges[1], width) or 0
    bottom = _pixels(options.trim_bottom if options.trim_bottom is not None else edges[2], height) or 0
    left = _pixels(options.trim_left if options.trim_left is not None else edges[3], width) or 0
    left, top = min(left, width - 1), min(top, height - 1)
    kept_w, kept_h = _pixels(options.trim_width, width), _pixels(options.trim_height, height)
    keep_w = kept_w if kept_w is not None else width - left - right
    keep_h = kept_h if kept_h is not None else height - top - bottom
    keep_w = max(1, min(keep_w, width - left))
    keep_h = max(1, min(keep_h, height - top))
    if (left, top, keep_w, keep_h) == (0, 0, width, height):
        return None
    return Rect(left, top, keep_w, keep_h)


def crops(options: Options) -> bool:
    """Whether :func:`plan` gives ``options`` a crop window: known before planning, so that the
    face detection a crop needs (and that may change the trim area) runs before the one plan."""
    return options.fit in _CROPPING and options.pixel_width is not None and options.height is not None


_CROPPING = ("cover", "crop", "aspect-crop")


def _fit(a: int, b: int, w: int | None, h: int | None, fit: str) -> tuple[float, float, Size | None, Size | None]:
    """Scale factors, crop size and canvas size for an ``a``×``b`` image into ``w``×``h``."""
    if w is None and h is None:
        return 1.0, 1.0, None, None
    ratios = [r for r in (w / a if w else None, h / b if h else None) if r is not None]
    if w is None or h is None:
        s = min(ratios)
        if fit in ("scale-down", "crop", "aspect-crop"):
            s = min(s, 1.0)
        elif fit == "scale-up":
            s = max(s, 1.0)
        return s, s, None, None
    wr, hr = w / a, h / b
    if fit == "scale-down":
        s = min(wr, hr, 1.0)
        return s, s, None, None
    if fit == "contain":
        s = min(wr, hr)
        return s, s, None, None
    if fit == "scale-up":  # contain, but never smaller than the source (Cloudflare: never downscale)
        s = max(min(wr, hr), 1.0)
        return s, s, None, None
    if fit == "pad":
        s = min(wr, hr)
        return s, s, None, Size(w, h)
    if fit == "squeeze":
        return wr, hr, None, None
    if fit == "cover":
        s = max(wr, hr)
        return s, s, Size(w, h), None
    s = min(max(wr, hr), 1.0)
    ra, rb = _scaled(a, s), _scaled(b, s)
    if fit == "crop":
        return s, s, Size(min(w, ra), min(h, rb)), None
    # aspect-crop: the largest area of the target aspect ratio inside the scaled image
    if ra * h > rb * w:
        return s, s, Size(max(1, min(ra, round(rb * w / h))), rb), None
    return s, s, Size(ra, max(1, min(rb, round(ra * h / w)))), None


def _scaled(length: int, factor: float) -> int:
    return max(1, round(length * factor))


def plan(width: int, height: int, options: Options, max_side: int, trim: Rect | None = None) -> Plan:
    """Plan the geometry for an oriented source of ``width``×``height`` (one frame).

    ``trim`` (oriented frame) overrides the pixel trim: the area found by ``trim=border`` or a face zoom.
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
    resized = Size(_scaled(a, sx), _scaled(b, sy))
    # the decoder scales the whole un-rotated frame; the trim area is cut from that
    px, py = (sy, sx) if rotated else (sx, sy)
    pre_w, pre_h = (resized[1], resized[0]) if rotated else resized
    load_size, scaled_trim = Size(pre_w, pre_h), trim
    if trim is not None and px <= 1 and py <= 1:  # the trim area, scaled like the whole frame
        load_size = Size(max(pre_w, _scaled(width, px)), max(pre_h, _scaled(height, py)))
        x = min(round(trim.x * px), load_size[0] - pre_w)
        y = min(round(trim.y * py), load_size[1] - pre_h)
        scaled_trim = Rect(x, y, pre_w, pre_h)
    elif trim is not None:  # enlarging: decode at full size, the trim step resizes the cut area
        load_size = Size(width, height)
    return Plan(
        oriented=Size(width, height),
        load_size=load_size,
        trim=scaled_trim,
        trimmed=Size(pre_w, pre_h),
        rotated=rotated,
        resized=resized,
        crop=crop,
        canvas=canvas,
        border=options.border_edges(),
    )
