"""Running a binding tree through the engine: each ``.transform()`` applied to the result of the one before.

The engine applies one set of options in its fixed order (trim, rotate, crop, colour, draw,
background, border). The binding lets the caller choose the order, so a chain runs as several
engine jobs, each taking the previous job's output; the in-between images are lossless (PNG at fast
compression; lossless WebP for a kept animation). What can share one job does, and that is most
chains:

- a transform followed by draws is one :class:`~enlarger.job.Job` (the engine draws after the
  base's own steps), unless the transform adds a ``background`` or ``border`` (drawn over, not under);
- the output's format, quality, background and ``anim`` join the last job;
- an overlay with at most one transform and no own size is passed to the job as it is (the engine
  transforms it); a deeper overlay tree is rendered first, on its own.

So ``input().transform(a).draw(b).output()`` is one engine run; each further ``.transform()`` adds one.
``anim: false`` on the output keeps only the first frame from the first job on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pyvips

from enlarger.binding.fonts import Font
from enlarger.binding.graph import RAW_FORMATS, Draw, Node, Output, Transform, own_options
from enlarger.binding.text import TextSource, render_text
from enlarger.colors import WHITE
from enlarger.job import Job, Overlay, Result
from enlarger.options import Options
from enlarger.pipeline import readable_input, transform_job
from enlarger.settings import Settings


@dataclass(frozen=True)
class Rendered:
    """The output of ``.output()``: encoded bytes (or raw pixels) and their content type."""

    data: bytes
    content_type: str
    width: int
    height: int
    frames: int = 1
    flattened: bool = False  #: transparency was laid on the background (raw ``rgb`` of an image with alpha)


@dataclass(frozen=True)
class Env:
    """What rendering needs besides the tree: limits and the fonts text sources name. The time limit
    is the caller's one :mod:`enlarger.deadline` limit around the whole chain, which every engine
    job below runs inside."""

    settings: Settings
    fonts: Mapping[str | None, Font]


def render(node: Node, output: Output, env: Env) -> Rendered:
    """``node`` with its steps applied, encoded as ``output`` says."""
    data, options, draws = _fold(node, env, anim=output.anim)
    final = options.replace(
        format="png" if output.format in RAW_FORMATS else output.format,
        quality=None if output.format in RAW_FORMATS else output.quality,
        background=output.background if output.background is not None else options.background,
        anim=output.anim and options.anim,
    )
    result = _run(data, final, draws, env)
    if output.format in RAW_FORMATS:
        return _raw(result, output)
    return Rendered(result.data, result.media_type, result.width, result.height, result.frames)


def _fold(node: Node, env: Env, *, anim: bool) -> tuple[bytes, Options, list[Draw]]:
    """Run every job but the last; return the last job's input, options and draws (not yet run)."""
    data = _source_bytes(node.source, env)
    options: Options | None = None
    draws: list[Draw] = []
    for step in node.steps:
        if isinstance(step, Transform):
            if options is not None or draws:
                data = _run(data, _between(data, options or Options(), anim, env), draws, env).data
            options, draws = (step.options if anim else step.options.replace(anim=False)), []
        else:
            if options is not None and _fills(options):  # its fill and border go under and around the base only
                data = _run(data, _between(data, options, anim, env), draws, env).data
                options, draws = None, []
            draws.append(step)
    return data, options or Options(anim=anim), draws


def _fills(options: Options) -> bool:
    return options.background is not None or any(options.border_edges())


def _between(data: bytes, options: Options, anim: bool, env: Env) -> Options:
    """Options for an in-between image: lossless, alpha kept, frames kept when the output keeps them."""
    if anim and options.anim and readable_input(data, env.settings).header.animated:
        return options.replace(format="webp", quality=100, compression=None)  # q=100: lossless WebP
    return options.replace(format="png", quality=None, compression="fast")


def _run(data: bytes, options: Options, draws: list[Draw], env: Env) -> Result:
    overlays = tuple(_overlay(draw, env) for draw in draws)
    return transform_job(Job(data, options, overlays), settings=env.settings)


def _overlay(draw: Draw, env: Env) -> Overlay:
    """``draw``'s overlay for the engine: sizes relative to the base stay fractions, which the engine
    resolves from the job's own plan (so the base is decided once, inside its limit)."""
    child = draw.child
    own, width, height = own_options(draw.own) if draw.own else (None, None, None)
    steps = child.steps
    if not steps or (own is None and len(steps) == 1 and isinstance(steps[0], Transform)):
        options = steps[0].options if steps and isinstance(steps[0], Transform) else own or Options()
        return Overlay(_source_bytes(child.source, env), options, draw.place, width, height)
    data, options, draws = _fold(child, env, anim=False)
    rendered = _run(data, _between(data, options, False, env), draws, env).data
    return Overlay(rendered, own or Options(), draw.place, width, height)


def _source_bytes(source: bytes | TextSource, env: Env) -> bytes:
    if isinstance(source, TextSource):
        return render_text(source, env.fonts[source.font])
    return source


def _raw(result: Result, output: Output) -> Rendered:
    """Decoded pixels, row by row, 8 bits a channel: RGB (transparency on the background) or RGBA."""
    image = pyvips.Image.new_from_buffer(result.data, "")
    if image.bands < 3:
        image = image.colourspace("srgb")
    flattened = output.format == "rgb" and image.hasalpha()
    if flattened:
        image = image.flatten(background=(output.background or WHITE).rgb())
    elif output.format == "rgba" and not image.hasalpha():
        image = image.bandjoin(255)
    pixels = image.cast("uchar").write_to_memory()
    return Rendered(bytes(pixels), f"image/{output.format}", image.width, image.height, flattened=flattened)
