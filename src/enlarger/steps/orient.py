"""``flip`` then ``rotate``, after EXIF orientation (which the loader already applied).

Cloudflare documents the order (flip partial): ``flip=h,rotate=90`` mirrors, then turns.
"""

from __future__ import annotations

import pyvips

from enlarger.options import Options
from enlarger.steps.context import Context
from enlarger.steps.frames import per_frame

_ROT = {90: "d90", 180: "d180", 270: "d270"}


def rotate_flip(image: pyvips.Image, options: Options, ctx: Context) -> pyvips.Image:
    if not options.rotate and not options.flip:
        return image
    # rotation reads out of order; the image is already at (about) output size, so hold it
    image = image.copy_memory()

    def apply(frame: pyvips.Image) -> pyvips.Image:
        if options.flip in ("h", "hv"):
            frame = frame.fliphor()
        if options.flip in ("v", "hv"):
            frame = frame.flipver()
        if options.rotate:
            frame = frame.rot(_ROT[options.rotate])
        return frame

    return per_frame(image, apply)
