"""``upscale=generate``: when the transformation enlarges, a super-resolution model does the enlarging.

Takes the decoder's place in the pipeline: the source is decoded at its own size (no
shrink-on-load is possible when enlarging anyway), the trim area cut, the model applied once
(the smallest factor that reaches the planned size, else the largest), and ordinary resampling
finishes to the planned size. The later steps then see what the decoder would have produced, so the returned context's
plan says the trim is done. Shrinking, ``fit=scale-down`` (which never enlarges) and vectors (which
enlarge without loss) keep the ordinary path, byte for byte.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyvips

from enlarger import codecs, deadline
from enlarger.models import upscale
from enlarger.options import Options
from enlarger.steps.context import Context
from enlarger.steps.frames import per_frame


def _region(ctx: Context) -> tuple[int, int]:
    """The part of the source that becomes the output, in source pixels."""
    rect = ctx.plan.trim
    return (rect.width, rect.height) if rect is not None else ctx.plan.oriented


def generates(options: Options, ctx: Context) -> bool:
    """Whether the model runs: ``upscale=generate`` and a raster source that the plan enlarges."""
    if options.upscale != "generate" or ctx.header.vector:
        return False
    return upscale.ratio_needed(_region(ctx), ctx.plan.trimmed) > 1.0


def enlarged_load(data: bytes, ctx: Context) -> tuple[pyvips.Image, Context]:
    """The decoded, trimmed and model-enlarged source at the planned size, and the context to go on with.

    The model and the pixel budget are checked before anything is decoded (501, 413).
    """
    plan = ctx.plan
    region, target = _region(ctx), plan.trimmed
    model = upscale.choose(upscale.models(ctx.settings), upscale.ratio_needed(region, target))
    frames = ctx.header.frames if ctx.animated else 1
    upscale.check_budget(model, region, frames, ctx.settings)
    image = codecs.load(data, ctx.header, plan.oriented, all_frames=ctx.animated)

    def enlarge(frame: pyvips.Image) -> pyvips.Image:
        if plan.trim is not None:
            frame = frame.crop(plan.trim.x, plan.trim.y, plan.trim.width, plan.trim.height)
        # the model reads every pixel and alpha is resampled beside it: hold the (source-sized) frame once
        frame = _run(deadline.watch(frame).copy_memory(), model, ctx)
        return frame.resize(target[0] / frame.width, vscale=target[1] / frame.height)

    done = dataclasses.replace(plan, load_size=target, trim=None)
    return per_frame(image, enlarge), dataclasses.replace(ctx, plan=done)


def _run(frame: pyvips.Image, model: upscale.Model, ctx: Context) -> pyvips.Image:
    """One model pass over a frame: colour through the model, alpha (if any) resampled alongside."""
    alpha = frame.extract_band(frame.bands - 1) if frame.hasalpha() else None
    colour = frame.extract_band(0, n=frame.bands - 1) if alpha is not None else frame
    grey = colour.bands == 1
    rgb = colour.colourspace("srgb") if grey else colour
    pixels = np.asarray(rgb.cast("uchar").numpy()).reshape(rgb.height, rgb.width, 3)
    out = pyvips.Image.new_from_array(upscale.enlarge(pixels, model, ctx.settings), interpretation="srgb")
    if grey:
        out = out.colourspace("b-w")
    if alpha is not None:
        out = out.bandjoin(alpha.resize(model.scale))
    return out
