"""The engine: (source bytes, options) → output image, in one fixed order of steps.

Everything that can be known from the header (format, limits, geometry, output format) is
decided before a pixel is decoded; then the source is decoded once, straight to about the
output size, and the lazy libvips pipeline runs end to end inside the encoder.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Callable, Mapping

import pyvips

from enlarger import codecs, deadline, decode_cache, formats, placeholders, provenance, quality_search, tracing
from enlarger.codecs import Header
from enlarger.encode import encode
from enlarger.errors import EnlargerError, InputTooLargeError, ProcessingError
from enlarger.formats import Format, Output
from enlarger.geometry import crops, plan, trim_rect
from enlarger.job import Decision, Job, Overlay, Readable, Result
from enlarger.models.segment import check_available
from enlarger.negotiate import Accept, avif_fallback, avif_limit, choose_format
from enlarger.options import NAMED_QUALITY, Options, parse_options
from enlarger.security import trailers
from enlarger.settings import Settings
from enlarger.steps.adjust import adjust
from enlarger.steps.border_trim import detect_border
from enlarger.steps.context import Context, Layer
from enlarger.steps.crop import crop, pad, trim
from enlarger.steps.draw import as_layer, draw
from enlarger.steps.effects import blur, sharpen
from enlarger.steps.fill import background, border
from enlarger.steps.frames import first_frame, frame_height
from enlarger.steps.gravity import face_focus, oriented_focal
from enlarger.steps.orient import rotate_flip
from enlarger.steps.segment import segment
from enlarger.steps.upscale import enlarged_load, generates

Step = Callable[[pyvips.Image, Options, Context], pyvips.Image]

#: The documented order of the steps:
#:
#: 0. resize is not a step: the decoder does it (``codecs.load`` shrinks on load straight to
#:    ``plan.load_size``, see :class:`~enlarger.geometry.Plan`); the one other resize hides in
#:    ``trim``, when a trimmed area is then enlarged (a decoder never enlarges the whole frame only
#:    for most of it to be cut away);
#: 1. geometry: trim, rotate_flip, crop, pad (cheap, on about output-sized pixels);
#: 2. colour: adjust, blur, sharpen; then the foreground cut-out: segment;
#: 3. draw: the overlays, on the base's final canvas (positions are in output pixels inside the
#:    border), after segment so a watermark is never cut out with the background;
#: 4. fills: background (under the base and its overlays together), then border (around it all).
STEPS: tuple[Step, ...] = (trim, rotate_flip, crop, pad, adjust, blur, sharpen, segment, draw, background, border)

# libvips reports decode failures (found only when the lazy pipeline runs) in loader words
_DECODE_WORDS = re.compile(r"load|read|premature|truncat|corrupt|damag|invalid|bad ", re.I)
# ... or in whatever words the decoder's library chose, on a line in a loader's name: "tiff2vips:
# Not enough data at scanline 0", "tiff2vips: ZLib error" (issue 24). Any line a loader wrote
# means the source failed to decode, whatever the words (the writers are vips2tiff, pngsave, …).
_LOADER_FORMATS: dict[str, Format] = {"tiff2vips": "tiff", "tiffload": "tiff", "gifload": "gif", "pngload": "png"}
_LOADER_LINE = re.compile(r"^\s*(tiff2vips|[a-z0-9_]*load[a-z0-9_]*):", re.I | re.M)


def decide(
    source: Readable | bytes,
    options: Options,
    *,
    accept: str | None = None,
    settings: Settings,
) -> Decision:
    """Check limits, pick the output format and plan the geometry of ``source`` (bytes are made
    :func:`readable_input` first); decodes no pixels except small analysis copies
    (``trim=border``; faces when ``gravity=face`` crops or zooms)."""
    source = readable_input(source, settings)
    data, header = source.data, source.header
    animated = options.anim and header.animated
    accepted = Accept.parse(accept)
    fast = options.compression == "fast"
    fmt = _cutout(
        options, choose_format(options.format, header, accepted, animated=animated, fast=fast, jxl=settings.jxl_auto)
    )
    all_frames = animated and fmt in formats.ANIMATED
    if all_frames and header.width * header.height * header.frames > settings.max_animation_pixels:
        return _untransformed(options, header, settings)
    if not header.vector:
        codecs.check_limits(header, settings, all_frames=all_frames)
    if options.segment and all_frames and header.frames > settings.segment_max_frames:
        raise InputTooLargeError(
            f"segment=foreground runs the model on every frame: the animation has {header.frames} frames, "
            f"the limit is {settings.segment_max_frames} (segment_max_frames; use anim=false for the first frame only)"
        )
    fitted = _vector_fit(options, header)
    # the area kept, in the oriented frame: trim=border from pixels, else the pixel trim options
    if options.trim == "border":
        area = detect_border(data, header, options)
    else:
        area = trim_rect(header.width, header.height, options)
    focal = None
    # faces matter only where something is cut away: a crop around them, or a zoom on them (which
    # narrows the area kept, so faces are found before the geometry is planned, once)
    wants_faces = options.gravity == "face" and fmt != "json" and not header.vector
    if wants_faces and (options.zoom or crops(fitted)):
        found = face_focus(data, header, options, settings, area)
        if found is not None:
            area, focal = found[0], oriented_focal(found[1], options)
    geometry = plan(header.width, header.height, fitted, settings.max_output_side, trim=area)
    if fmt == "avif" and max(geometry.output) > avif_limit(
        options.format, settings.avif_max_side, settings.avif_max_side_explicit
    ):
        fmt = _cutout(options, avif_fallback(options.format, header, accepted, animated=animated))
    if header.vector and fmt not in ("svg", "json"):
        codecs.check_render_size(geometry.load_size, settings)  # vectors cost what they are drawn at
    return Decision(options, header, fmt, all_frames, geometry, focal)


def _cutout(options: Options, fmt: Output) -> Output:
    """``fmt``, or PNG for a cut-out (``segment``) that would lose its transparency in it, unless a
    format without alpha was asked for by name."""
    if options.segment and fmt not in formats.ALPHA and options.format in (None, "auto"):
        return "png"
    return fmt


def _untransformed(options: Options, header: Header, settings: Settings) -> Decision:
    """An animation above ``max_animation_pixels`` in total, delivered as it is, untransformed
    (Cloudflare's transform-images page: animations over the limit are "passed through unchanged")."""
    codecs.check_limits(header, settings, all_frames=False)  # a single frame over the pixel limit is still refused
    if not formats.is_writable(header.format):  # only GIF and WebP animate, and both are writable
        raise ValueError(f"{header.format} animations cannot be passed through")
    identity = plan(header.width, header.height, Options(), settings.max_output_side)
    return Decision(options, header, header.format, True, identity, untransformed=True)


def _vector_fit(options: Options, header: Header) -> Options:
    """Vectors enlarge without loss: for SVG, scale-down draws like contain and crop like cover."""
    if not header.vector or options.fit not in ("scale-down", "crop"):
        return options
    return options.replace(fit="contain" if options.fit == "scale-down" else "cover")


def describe(decision: Decision, marks: placeholders.Placeholders | None = None) -> bytes:
    """The ``format=json`` answer: output size and the original's facts, and the placeholders of
    the output (``blurhash``, ``thumbhash``, ``dominant_color``) when ``marks`` are given."""
    width, height = decision.plan.output
    header = decision.header
    body: dict[str, object] = {
        "width": width,
        "height": height,
        "original": {
            "file_size": header.file_size,
            "width": header.width,
            "height": header.height,
            "format": header.media_type,
        },
    }
    if marks is not None:
        body.update(marks.as_dict())
    return json.dumps(body, separators=(",", ":")).encode()


def reduced(decision: Decision, side: int) -> Options:
    """Options that make the same picture as ``decision`` at most ``side`` pixels on its longest side.

    The output box (crop, canvas or resized size) and the border are scaled together and the fit,
    gravity, trim and colour options kept, so the framing is the request's; blur is scaled with the
    pixels. Used for placeholders (a tiny copy of the *transformed* image, decoded with shrink-on-load).
    """
    options, plan_ = decision.options, decision.plan
    options = options.replace(format="png", anim=False, upscale=None)
    factor = side / max(plan_.output)
    if factor >= 1:
        return options
    box_w, box_h = plan_.canvas or plan_.crop or plan_.resized
    top, right, bottom, left = (round(edge * factor) for edge in plan_.border)
    return options.replace(
        width=max(1, round(box_w * factor)),
        height=max(1, round(box_h * factor)),
        dpr=None,
        border_width=None,
        border_top=top,
        border_right=right,
        border_bottom=bottom,
        border_left=left,
        blur=options.blur * factor or None,
    )


def placeholder_image(
    source: Readable, decision: Decision, settings: Settings, side: int, source_id: str | None = None
) -> pyvips.Image:
    """The transformed image of ``decision``, at most ``side`` pixels a side, one frame (evaluated).
    ``source_id``: see :func:`transform`."""
    small = decide(source, reduced(decision, side), settings=settings)
    image = deadline.watch(_pixels(source.data, small, settings, (), source_id))
    if max(image.width, image.height) > side:  # rounding of the scaled box
        image = image.thumbnail_image(side, height=side)
    return image.copy_memory()


#: Longest side of ``format=placeholder`` images, and how they are blurred and encoded.
PLACEHOLDER_SIDE = 32
PLACEHOLDER_BLUR = 1.0  # Gaussian sigma in placeholder pixels: softens blocks when a browser enlarges it
PLACEHOLDER_QUALITY = 40


def placeholder(source: Readable, options: Options, settings: Settings, source_id: str | None = None) -> Result:
    """The ``format=placeholder`` answer: the transformed image at most :data:`PLACEHOLDER_SIDE`
    pixels a side, blurred, as a WebP without metadata (typically 100–400 bytes: a data: URL).

    WebP because every current browser decodes it and it has the smallest fixed overhead of the
    lossy formats at this size (AVIF's container, JPEG's tables and PNG's lossless pixels all
    cost more); transparency is kept. The size is the output's aspect ratio, not its size: a page
    stretches it over the space the real image will take.
    """
    decision = decide(source, options.replace(format="png"), settings=settings)
    image = placeholder_image(source, decision, settings, PLACEHOLDER_SIDE, source_id).gaussblur(PLACEHOLDER_BLUR)
    image = image.cast("uchar")
    saved = encode(image, "webp", Options(quality=PLACEHOLDER_QUALITY, metadata="none"), settings)
    return Result(saved, "webp", image.width, image.height)


def _json_placeholders(
    source: Readable, decision: Decision, settings: Settings, source_id: str | None
) -> placeholders.Placeholders | None:
    """The placeholders of the output a ``format=json`` answer describes, or ``None`` when they
    are switched off or the pixels cannot be made (damaged pixel data, a model not configured):
    the answer's geometry comes from the header and stays useful (the image itself answers the
    error)."""
    if not settings.json_placeholders:
        return None
    try:
        return placeholders.compute(placeholder_image(source, decision, settings, placeholders.SIDE, source_id))
    except (pyvips.Error, EnlargerError):
        deadline.check()  # past the limit the whole answer is the timeout, not one without placeholders
        return None


def _render(
    data: bytes,
    decision: Decision,
    settings: Settings,
    overlays: tuple[Overlay, ...] = (),
    source_id: str | None = None,
) -> Result:
    top, right, bottom, left = decision.plan.border
    width, height = decision.plan.output
    overlays = tuple(overlay.sized((width - left - right, height - top - bottom)) for overlay in overlays)
    layers = tuple(_layer(overlay, settings) for overlay in overlays)
    image = _pixels(data, decision, settings, layers, source_id)
    page = frame_height(image)
    deadline.watch(image)
    if not formats.is_writable(decision.format):  # transform answers json and svg without rendering
        raise ValueError(f"cannot render {decision.format}")
    options, image = _perceived_quality(data, decision, image, settings, overlays)
    with tracing.span("encode", {"enlarger.output.format": decision.format} if tracing.ENABLED else None):
        output = encode(image, decision.format, options, settings)  # the lazy pipeline runs here
    passthrough = not layers and len(data) <= len(output) and _original_suffices(data, decision)
    output = provenance.credentials(data, output, passthrough, decision, settings, len(layers))  # issue 16
    return Result(output, decision.format, image.width, page, image.height // page)


def _perceived_quality(
    data: bytes, decision: Decision, image: pyvips.Image, settings: Settings, overlays: tuple[Overlay, ...]
) -> tuple[Options, pyvips.Image]:
    """The options to encode with: a named quality becomes the encoder quality that reaches the
    level's perceptual target on this output (see :mod:`enlarger.quality_search`), searched once per
    source, overlays, options and format; the image comes back evaluated when the search needed its pixels."""
    options, fmt = decision.options, decision.format
    level = options.quality
    if not isinstance(level, str) or fmt not in quality_search.SEARCHED or decision.all_frames:
        return options, image
    if image.width * image.height > quality_search.MAX_SEARCH_PIXELS or not formats.is_writable(fmt):
        return options, image
    drawn = "".join(quality_search.source_digest(o.data) + o.options.canonical() + repr(o.draw) for o in overlays)
    key = (quality_search.source_digest(data), options.canonical() + drawn, fmt)
    quality = quality_search.MEMO.get(key)
    if quality is None:
        image = image.copy_memory()  # sampled by the search, then encoded: evaluated once
        plain = options.replace(metadata="none")

        def encoder(sample: pyvips.Image, q: int) -> bytes:
            deadline.check()  # the search encodes several times: each trial within the limit
            return encode(sample, fmt, plain.replace(quality=q), settings)

        quality, _ = quality_search.search(
            image, quality_search.TARGETS[level], NAMED_QUALITY[level], encoder, _decoded
        )
        quality_search.MEMO.put(key, quality)
    return options.replace(quality=quality), image


def _decoded(data: bytes) -> pyvips.Image:
    """An encoded sample decoded again, at its own size (the quality search's round trip)."""
    header = codecs.probe(data)
    return codecs.load(data, header, (header.width, header.height), all_frames=False)


def _pixels(
    data: bytes, decision: Decision, settings: Settings, layers: tuple[Layer, ...], source_id: str | None = None
) -> pyvips.Image:
    """The decoded source run through :data:`STEPS` (a lazy libvips pipeline, not yet evaluated).

    The source is made from a decoded copy in memory when one serves (:mod:`enlarger.decode_cache`),
    else decoded straight to the load size."""
    options, header = decision.options, decision.header
    if options.segment:
        check_available(settings)  # before decoding: a missing model is a 501, whatever the image
    ctx = Context(header, decision.plan, settings, decision.format, decision.all_frames, decision.focal, layers)
    if generates(options, ctx):  # upscale=generate: a model enlarges in the decoder's place
        image, ctx = enlarged_load(data, ctx)
    else:
        with tracing.span("decode", _decode_attributes(decision) if tracing.ENABLED else None):
            image = decode_cache.load(data, decision, settings, source_id)
            if image is None:
                image = codecs.load(
                    data,
                    header,
                    decision.plan.load_size,
                    all_frames=decision.all_frames,
                    shrink_margin=settings.jpeg_shrink_margin,
                )
    for step in STEPS:
        deadline.check()  # a step that ran long (a model, numpy work) is not followed by another
        image = _traced_step(step, image, options, ctx) if tracing.ENABLED else step(image, options, ctx)
    return image if decision.all_frames else first_frame(image)


def _decode_attributes(decision: Decision) -> tracing.Attributes:
    header = decision.header
    return {
        "enlarger.input.format": header.format,
        "enlarger.input.width": header.width,
        "enlarger.input.height": header.height,
        "enlarger.load.width": decision.plan.load_size[0],
        "enlarger.load.height": decision.plan.load_size[1],
    }


def _traced_step(step: Step, image: pyvips.Image, options: Options, ctx: Context) -> pyvips.Image:
    """A step, with a span when it ran: one whose option is absent hands its input back untouched
    and gets none. libvips is lazy, so a span times building the step's part of the pipeline (and
    any model or numpy work it does); the pixels themselves are computed under ``encode``."""
    started = time.time_ns()
    result = step(image, options, ctx)
    if result is not image:
        tracing.record(f"step {step.__name__}", started, time.time_ns())
    return result


def _layer(overlay: Overlay, settings: Settings) -> Layer:
    """An overlay decoded and transformed by its own options, as one frame with alpha."""
    source = readable_input(overlay.data, settings)
    options = overlay.options.replace(format="png", anim=False)  # keep its transparency; one frame
    decision = decide(source, options, settings=settings)
    return as_layer(_pixels(source.data, decision, settings, ()), overlay.draw)


# Options that leave pixels and metadata alone when the geometry is the identity.
_NEUTRAL = frozenset({"width", "height", "fit", "gravity", "zoom", "dpr", "format", "quality"})
_NEUTRAL |= {"slow_connection_quality", "compression", "onerror", "anim", "metadata", "upscale"}
_NEUTRAL |= {"wbreakpoints", "wmobile", "wdesktop"}  # only the server's width=auto reads them
_CHANGING = tuple(f.name for f in dataclasses.fields(Options) if f.name not in _NEUTRAL)
_STRIPPED_FIELDS = ("exif-data", "xmp-data", "iptc-data", "icc-profile-data")


def _original_suffices(data: bytes, decision: Decision) -> bool:
    """Whether the original, served as it is, is what the request asks for (and it was smaller).

    Only when nothing would change: same format, size, frames and 8-bit sRGB pixels, no option
    that alters pixels, and no metadata the request would strip or convert (EXIF, XMP, IPTC, an
    ICC profile, a GIF comment or application block). Never with bytes after the image's end
    (aCropalypse): those are re-encoded.
    """
    header, plan_ = decision.header, decision.plan
    if decision.format != header.format or not formats.spec_of(header.format).passthrough:
        return False
    if plan_.output != (header.width, header.height) or header.orientation != 1:
        return False
    if any(plan_.oriented != size for size in (plan_.load_size, plan_.trimmed)):
        return False
    if decision.all_frames != header.animated:
        return False
    defaults = Options()
    if any(getattr(decision.options, name) != getattr(defaults, name) for name in _CHANGING):
        return False
    loader = formats.spec_of(header.format).vips_loader
    if loader is None:
        lazy = pyvips.Image.new_from_buffer(data, "", access="sequential")
    else:
        lazy = codecs.from_memory(loader, data, access="sequential")
    if lazy.format != "uchar" or lazy.interpretation not in ("srgb", "b-w"):
        return False  # CMYK, 16-bit, Lab...: the output converts them
    if any(field in lazy.get_fields() for field in _STRIPPED_FIELDS):
        return False
    if header.format == "gif" and trailers.gif_metadata(data):  # comments: libvips shows no field for them
        return False
    return formats.image_end(data) == len(data)  # a structure we cannot follow to its end is re-encoded


def transform(
    data: bytes,
    options: str | Mapping[str, object] | Options | None = None,
    *,
    accept: str | None = None,
    settings: Settings | None = None,
    timeout: float | None = None,
    source_id: str | None = None,
) -> Result:
    """Transform ``data`` (any supported image, identified by its bytes) according to ``options``.

    ``accept`` is the client's ``Accept`` header, used by ``format=auto``. ``timeout`` (seconds)
    stops the work when it runs longer: every step, model runs included. ``source_id`` names
    ``data`` for the decoded-copy cache (:mod:`enlarger.decode_cache`): a server passes the identity
    its output cache keys on (other bytes must never come under the same name); without it the
    bytes are hashed when a copy could serve. Raises
    :class:`~enlarger.errors.EnlargerError` subclasses for every problem the input can cause. The
    one-image shortcut of :func:`transform_job`.
    """
    job = Job(data, parse_options(options))
    return transform_job(job, accept=accept, settings=settings, timeout=timeout, source_id=source_id)


def transform_job(
    job: Job,
    *,
    accept: str | None = None,
    settings: Settings | None = None,
    timeout: float | None = None,
    source_id: str | None = None,
) -> Result:
    """Make one output from ``job``: its base transformed by its options, with its overlays drawn on it.

    Overlays are decoded, transformed by their own options and checked against the same limits as
    the base; their relative sizes are resolved from the base's plan (the job's one ``decide``). The
    output has the base's size and frames. Arguments and errors as :func:`transform`; ``timeout``
    nests in a limit the caller has opened (the earlier one wins, :func:`enlarger.deadline.start`);
    ``source_id`` names the base's bytes (see :func:`transform`).
    """
    settings = settings or Settings()
    data, parsed = job.base, job.options
    limit = deadline.start(timeout)  # every step below (model runs too) finds it: enlarger.deadline
    try:
        source = readable_input(data, settings)
        data = source.data
        if parsed.format == "placeholder":
            return placeholder(source, parsed, settings, source_id)
        decision = decide(source, parsed, accept=accept, settings=settings)
        if decision.format == "json":
            body = describe(decision, _json_placeholders(source, decision, settings, source_id))
            return Result(provenance.with_report(body, data, settings), "json", *decision.plan.output)
        if decision.untransformed:
            return _as_it_is(data, decision)
        if decision.format == "svg" and job.overlays:  # drawing needs pixels: rasterize, keeping alpha
            decision = decide(source, parsed.replace(format="png"), accept=accept, settings=settings)
        if decision.format == "svg":  # variants of an SVG are the sanitized SVG itself
            return Result(data, "svg", decision.header.width, decision.header.height)
        return _render(data, decision, settings, job.overlays, source_id)
    except pyvips.Error as exc:  # raised lazily, wherever pixels are first computed
        raise _classified(exc, data) from exc
    finally:
        deadline.end(limit)


def _classified(exc: pyvips.Error, data: bytes) -> EnlargerError:
    """The typed error for a libvips failure: the timeout when the limit has passed (libvips was
    told to stop), else classified by libvips' words, which stay in ``detail`` (logged) and out of
    the message (sent)."""
    current = deadline.current()
    if current is not None and current.expired():
        return current.error()
    detail = codecs.vips_detail(exc)
    if "security limit" in detail.lower():
        return InputTooLargeError("the image exceeds the decoder's safety limits", detail=detail)
    loader = _LOADER_LINE.search(str(exc))
    if loader is not None or _DECODE_WORDS.search(detail):
        # the loader may name the format that failed (an overlay's, perhaps); else the base is meant
        named = _LOADER_FORMATS.get(loader.group(1).lower()) if loader is not None else None
        return codecs.corrupt(named or codecs.sniff(data), exc)
    return ProcessingError("the image could not be processed", detail=detail)


def _as_it_is(data: bytes, decision: Decision) -> Result:
    """The source as the output, cut at its end marker: bytes after it (aCropalypse) are never served;
    a GIF's comments and application blocks (a stranger's text) only with ``metadata=keep``."""
    end, header = formats.image_end(data), decision.header
    output = data[:end] if end else data
    if header.format == "gif" and decision.options.metadata != "keep":
        output = trailers.gif_without_metadata(output)
    return Result(output, decision.format, header.width, header.height, header.frames)


def image_placeholders(
    data: bytes | Readable,
    options: str | Mapping[str, object] | Options | None = None,
    *,
    settings: Settings | None = None,
    timeout: float | None = None,
) -> placeholders.Placeholders:
    """BlurHash, ThumbHash and dominant colour of ``data`` transformed by ``options`` (default:
    the whole image). Decodes a copy of at most 100 pixels a side, so every pixel of the source is
    read once: a damaged file fails here as it would in :func:`transform`, with the same errors."""
    settings = settings or Settings()
    with deadline.limit(timeout):
        try:
            source = readable_input(data, settings)
            decision = decide(source, parse_options(options).replace(format="png"), settings=settings)
            return placeholders.compute(placeholder_image(source, decision, settings, placeholders.SIDE))
        except pyvips.Error as exc:
            raise _classified(exc, data if isinstance(data, bytes) else data.data) from exc


def readable_input(data: bytes | Readable, settings: Settings) -> Readable:
    """What may be read of untrusted ``data``: an SVG is replaced by its sanitized form before
    anything (librsvg included) reads it; other formats as they are, once their size is checked;
    then the header is probed. A :class:`Readable` is already all that, and comes back as it is."""
    if isinstance(data, Readable):
        return data
    codecs.check_input_size(data, settings)
    if codecs.sniff(data) == "svg":
        data = codecs.sanitize_svg(data, settings)
    return Readable(data, codecs.probe(data))


def info(data: bytes, settings: Settings | None = None) -> dict[str, object]:
    """What the header says about ``data``: format, media type, size, frames, alpha."""
    settings = settings or Settings()
    header = readable_input(data, settings).header
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
