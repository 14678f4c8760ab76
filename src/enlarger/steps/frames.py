"""Animated images are one tall strip of frames in libvips; geometric steps must work per frame."""

from __future__ import annotations

from collections.abc import Callable

import pyvips

PAGE_HEIGHT = "page-height"


def frame_height(image: pyvips.Image) -> int:
    if PAGE_HEIGHT in image.get_fields():
        page = int(image.get(PAGE_HEIGHT))
        if 0 < page < image.height and image.height % page == 0:
            return page
    return int(image.height)


def per_frame(image: pyvips.Image, fn: Callable[[pyvips.Image], pyvips.Image]) -> pyvips.Image:
    """Apply ``fn`` to every frame and reassemble the strip (a no-op wrapper for still images)."""
    page = frame_height(image)
    if page == image.height:
        return fn(image)
    frames = [fn(image.crop(0, y, image.width, page)) for y in range(0, image.height, page)]
    joined = pyvips.Image.arrayjoin(frames, across=1)
    joined = joined.copy()
    joined.set_type(pyvips.GValue.gint_type, PAGE_HEIGHT, frames[0].height)
    return joined


def first_frame(image: pyvips.Image) -> pyvips.Image:
    page = frame_height(image)
    if page == image.height:
        return image
    single = image.crop(0, 0, image.width, page).copy()
    single.remove(PAGE_HEIGHT)
    return single
