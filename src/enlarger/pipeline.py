"""The engine: (source bytes, options) → output image, in one fixed order of steps.

Everything that can be known from the header (format, limits, geometry, output format) is
decided before a pixel is decoded; then the source is decoded once, straight to about the
output size, and the lazy libvips pipeline runs end to end inside the encoder.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pyvips

from enlarger import codecs, deadline
from enlarger.codecs import MEDIA_TYPES, Header
from enlarger.encode import encode
from enlarger.errors import InputTooLargeError, ProcessingError
from enlarger.geometry import Plan, plan, trim_rect
from enlarger.models.segment import check_available
from enlarger.negotiate import ALPHA_CAPABLE, ANIMATABLE, Accept, choose_format
from enlarger.options import Options, parse_options
from enlarger.security import trailers
from enlarger.settings import Settings
from enlarger.steps.adjust import adjust
from enlarger.steps.border_trim import detect_border
from enlarger.steps.context import Context
from enlarger.steps.crop import crop, pad, trim
from enlarger.steps.effects import blur, sharpen
from enlarger.steps.fill import background, border
from enlarger.steps.frames import first_frame, frame_height
from enlarger.steps.gravity import face_focus, oriented_focal
from enlarger.steps.orient import rotate_flip
from enlarger.steps.segment import segment

Step = Callable[[pyvips.Image, Options, Context], pyvips.Image]

#: The documented order: geometry first (cheap, shrinks the work), then colour, then the
#: foreground cut-out, then fills.
STEPS: tuple[Step, ...] = (trim, rotate_flip, crop, pad, adjust, blur, sharpen, segment, background, border)

# libvips reports decode failures (found only when the lazy pipeline runs) in loader words
_DECODE_WORDS = re.compile(r"load|read|premature|truncat|corrupt|damag|invalid|bad ", re.I)


@dataclass(frozen=True)
class Result:
    """An encoded output and what a server needs to describe it."""

    data: bytes
    format: str
    width: int
    height: int
    frames: int = 1

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]


@dataclass(frozen=True)
class Decision:
    """Everything decided from the header alone: enough to answer ``format=json`` or a cache lookup."""

    options: Options
    header: Header
    format: str
    all_frames: bool
    plan: Plan
    focal: tuple[float, float] | None = None  # where gravity=face found faces, in the crop step's frame


def decide(
    data: bytes,
    options: Options,
    *,
    accept: str | None = None,
    settings: Settings,
) -> Decision:
    """Probe, check limits, pick the output format and plan the geometry; decodes no pixels except
    small analysis copies (``trim=border``; faces when ``gravity=face`` crops or zooms)."""
    codecs.check_input_size(data, settings)
    header = codecs.probe(data)
    animated = options.anim and header.animated
    fmt = choose_format(
        options.format, header, Accept.parse(accept), animated=animated, fast=options.compression == "fast"
    )
    if options.segment and fmt not in ALPHA_CAPABLE and options.format in (None, "auto"):
        fmt = "png"  # a cut-out keeps its transparency unless a format without alpha is asked for
    all_frames = animated and fmt in ANIMATABLE
    if header.format != "svg":
        codecs.check_limits(header, settings, all_frames=all_frames)
    if options.segment and all_frames and header.frames > settings.segment_max_frames:
        raise InputTooLargeError(
            f"segment=foreground runs the model on every frame: the animation has {header.frames} frames, "
            f"the limit is {settings.segment_max_frames} (segment_max_frames; use anim=false for the first frame only)"
        )
    area = detect_border(data, header, options) if options.trim == "border" else None
    fitted = _vector_fit(options, header)
    geometry = plan(header.width, header.height, fitted, settings.max_output_side, trim=area)
    focal = None
    # faces matter only where something is cut away: a crop around them, or a zoom on them
    wants_faces = options.gravity == "face" and fmt != "json" and header.format != "svg"
    if wants_faces and (options.zoom or geometry.crop is not None):
        base = area or trim_rect(header.width, header.height, options)
        found = face_focus(data, header, options, settings, base)
        if found is not None:
            focal = oriented_focal(found[1], options)
            if (found[0] or area) != area:
                area = found[0]
                geometry = plan(header.width, header.height, fitted, settings.max_output_side, trim=area)
    if header.format == "svg" and fmt not in ("svg", "json"):
        codecs.check_render_size(geometry.load_size, settings)  # vectors cost what they are drawn at
    return Decision(options, header, fmt, all_frames, geometry, focal)


def _vector_fit(options: Options, header: Header) -> Options:
    """Vectors enlarge without loss: for SVG, scale-down draws like contain and crop like cover."""
    if header.format != "svg" or options.fit not in ("scale-down", "crop"):
        return options
    return options.replace(fit="contain" if options.fit == "scale-down" else "cover")


def describe(decision: Decision) -> bytes:
    """The ``format=json`` answer: output size and the original's facts."""
    width, height = decision.plan.output
    header = decision.header
    body = {
        "width": width,
        "height": height,
        "original": {
            "file_size": header.file_size,
            "width": header.width,
            "height": header.height,
            "format": header.media_type,
        },
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _render(data: bytes, decision: Decision, settings: Settings) -> Result:
    options, header = decision.options, decision.header
    if options.segment:
        check_available(settings)  # before decoding: a missing model is a 501, whatever the image
    ctx = Context(header, decision.plan, settings, decision.format, decision.all_frames, decision.focal)
    image = codecs.load(data, header, decision.plan.load_size, all_frames=decision.all_frames)
    for step in STEPS:
        deadline.check()  # a step that ran long (a model, numpy work) is not followed by another
        image = step(image, options, ctx)
    if not decision.all_frames:
        image = first_frame(image)
    page = frame_height(image)
    deadline.watch(image)
    output = encode(image, decision.format, options, settings)
    if len(data) <= len(output) and _original_suffices(data, decision):
        return Result(data, decision.format, image.width, page, image.height // page)
    return Result(output, decision.format, image.width, page, image.height // page)


# Options that leave pixels and metadata alone when the geometry is the identity.
_NEUTRAL = frozenset({"width", "height", "fit", "gravity", "zoom", "dpr", "format", "quality"})
_NEUTRAL |= {"slow_connection_quality", "compression", "onerror", "anim", "metadata"}
_CHANGING = tuple(f.name for f in dataclasses.fields(Options) if f.name not in _NEUTRAL)
_STRIPPED_FIELDS = ("exif-data", "xmp-data", "iptc-data", "icc-profile-data")


def _original_suffices(data: bytes, decision: Decision) -> bool:
    """Whether the original, served as it is, is what the request asks for (and it was smaller).

    Only when nothing would change: same format, size, frames and 8-bit sRGB pixels, no option
    that alters pixels, and no metadata the request would strip or convert (EXIF, XMP, IPTC, an
    ICC profile). Never with bytes after the image's end (aCropalypse): those are re-encoded.
    """
    header, plan_ = decision.header, decision.plan
    if decision.format != header.format or header.format not in ("jpeg", "png", "webp", "gif"):
        return False
    if plan_.output != (header.width, header.height) or header.orientation != 1:
        return False
    if any(plan_.source != size for size in (plan_.load_size, plan_.trimmed)):
        return False
    if decision.all_frames != header.animated:
        return False
    defaults = Options()
    if any(getattr(decision.options, name) != getattr(defaults, name) for name in _CHANGING):
        return False
    lazy = pyvips.Image.new_from_buffer(data, "", access="sequential")
    if lazy.format != "uchar" or lazy.interpretation not in ("srgb", "b-w"):
        return False  # CMYK, 16-bit, Lab...: the output converts them
    if any(field in lazy.get_fields() for field in _STRIPPED_FIELDS):
        return False
    return trailers.image_end(data) == len(data)  # a structure we cannot follow to its end is re-encoded


def transform(
    data: bytes,
    options: str | Mapping[str, object] | Options | None = None,
    *,
    accept: str | None = None,
    settings: Settings | None = None,
    timeout: float | None = None,
) -> Result:
    """Transform ``data`` (any supported image, identified by its bytes) according to ``options``.

    ``accept`` is the client's ``Accept`` header, used by ``format=auto``. ``timeout`` (seconds)
    stops the work when it runs longer: every step, model runs included. Raises :class:`~enlarger.errors.EnlargerError`
    subclasses for every problem the input can cause.
    """
    settings = settings or Settings()
    parsed = parse_options(options)
    limit = deadline.start(timeout)  # every step below (model runs too) finds it: enlarger.deadline
    try:
        data = readable_input(data, settings)
        decision = decide(data, parsed, accept=accept, settings=settings)
        if decision.format == "json":
            return Result(describe(decision), "json", *decision.plan.output)
        if decision.format == "svg":  # variants of an SVG are the sanitized SVG itself
            return Result(data, "svg", decision.header.width, decision.header.height)
        return _render(data, decision, settings)
    except pyvips.Error as exc:  # raised lazily, wherever pixels are first computed
        current = deadline.current()
        if current is not None and current.expired():
            raise current.error() from exc
        detail = codecs.vips_detail(exc)
        if "security limit" in detail.lower():
            raise InputTooLargeError(f"the image exceeds the decoder's safety limits ({detail})") from exc
        if _DECODE_WORDS.search(detail):
            raise codecs.corrupt(codecs.sniff(data), exc) from exc
        raise ProcessingError(f"the image could not be processed ({detail})") from exc
    finally:
        deadline.end(limit)


def readable_input(data: bytes, settings: Settings) -> bytes:
    """What may be read of untrusted ``data``: an SVG is replaced by its sanitized form before
    anything (librsvg included) reads it; other formats as they are, once their size is checked."""
    codecs.check_input_size(data, settings)
    return codecs.sanitize_svg(data, settings) if codecs.sniff(data) == "svg" else data


def info(data: bytes, settings: Settings | None = None) -> dict[str, object]:
    """What the header says about ``data``: format, media type, size, frames, alpha."""
    settings = settings or Settings()
    data = readable_input(data, settings)
    header = codecs.probe(data)
    return {
        "format": header.format,
        "media_type": header.media_type,
        "width": header.width,
        "height": header.height,
        "frames": header.frames,
        "has_alpha": header.has_alpha,
        "file_size": header.file_size,
        "orientation": header.orientation,
    }
