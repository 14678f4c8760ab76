"""``segment=foreground``: the model's soft foreground mask becomes the alpha channel.

Runs after the colour steps and before ``background`` (which then fills or flattens what the mask
made see-through) and the border, as the documented order says.
"""

from __future__ import annotations

import pyvips

from enlarger import deadline
from enlarger.models.segment import foreground_mask
from enlarger.options import Options
from enlarger.steps.context import Context
from enlarger.steps.frames import per_frame


def cut_out(frame: pyvips.Image, mask: pyvips.Image) -> pyvips.Image:
    """``frame`` with ``mask`` as its alpha (multiplied into an alpha it already has)."""
    if frame.hasalpha():
        alpha = (frame.extract_band(frame.bands - 1) * mask / 255.0 + 0.5).cast("uchar")
        frame = frame.extract_band(0, n=frame.bands - 1)
    else:
        alpha = mask
    return frame.bandjoin(alpha).copy(interpretation=frame.interpretation)


def segment(image: pyvips.Image, options: Options, ctx: Context) -> pyvips.Image:
    if options.segment != "foreground":
        return image
    # the model reads every pixel; the image is about output size here, so hold it once (the decode
    # and every earlier step run now, so the time limit must watch this evaluation too)
    image = deadline.watch(image).copy_memory()
    return per_frame(image, lambda frame: cut_out(frame, foreground_mask(frame, ctx.settings)))
