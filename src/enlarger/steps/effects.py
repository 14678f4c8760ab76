"""``blur`` and ``sharpen``, after resizing so their cost follows the output size."""

from __future__ import annotations

import pyvips

from enlarger.options import Options
from enlarger.steps.context import Context
from enlarger.steps.frames import per_frame


def blur(image: pyvips.Image, options: Options, ctx: Context) -> pyvips.Image:
    if not options.blur:
        return image
    sigma = options.blur / 2
    return per_frame(image, lambda f: f.gaussblur(sigma).cast("uchar"))


def sharpen(image: pyvips.Image, options: Options, ctx: Context) -> pyvips.Image:
    if not options.sharpen:
        return image
    # m2 is the slope applied to detail; sharpen=10 gives a strong but not destructive result
    amount = options.sharpen

    def apply(frame: pyvips.Image) -> pyvips.Image:
        interpretation = frame.interpretation
        result = frame.sharpen(sigma=1.0, m1=0.0, m2=amount, x1=2.0)
        return result.colourspace(interpretation) if result.interpretation != interpretation else result

    return per_frame(image, apply)
