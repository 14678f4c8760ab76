"""Where a crop window goes: named sides, focal points, or saliency for ``auto`` (and ``face``
until a face model is configured)."""

from __future__ import annotations

import pyvips

from enlarger.options import Gravity


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
    """Top-left of the crop window that keeps the most salient area (libvips attention)."""
    cw, ch = crop
    if (cw, ch) == (image.width, image.height):
        return 0, 0
    _, opts = image.smartcrop(cw, ch, interesting="attention", attention_x=True, attention_y=True)
    cx, cy = int(opts["attention_x"]), int(opts["attention_y"])
    return _clamp(cx - cw / 2, image.width - cw), _clamp(cy - ch / 2, image.height - ch)
