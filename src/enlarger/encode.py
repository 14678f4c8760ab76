"""Writing the output: per-format encoder parameters and metadata policy.

Which format keeps what is the registry's (:mod:`enlarger.formats`: ``metadata``,
``progressive``); this module holds each format's save call, in one ``match`` that mypy proves
covers every :data:`~enlarger.formats.Writable` format.

Metadata follows Cloudflare's rules: JPEG (and AVIF) keep EXIF/XMP/IPTC with ``metadata=keep``,
only the EXIF copyright with the default ``copyright``, nothing with ``none``; WebP, PNG and GIF
never carry EXIF. Orientation is already applied, so no orientation tag survives, and pixels are
already sRGB, so no ICC profile is written.

JPEG and lossy WebP stills that carry no metadata are written by Pillow's encoders instead of
libvips': the same libraries and parameters, so the same pixels (WebP byte for byte; JPEG adds an
18-byte JFIF header), but the libvips wheel builds them for size (``-Os``) and Pillow's run
10–15 % faster (docs/performance.md). The pixels cross over without a copy
(``write_to_memory`` → ``Image.frombuffer``); anything else (metadata to write, animation,
lossless WebP, AVIF, PNG, GIF) stays on libvips.

Pillow's JPEG encoder releases the GIL only when it writes to a file descriptor
(``encode_to_file``); into a ``BytesIO`` it holds the GIL for the whole encode (7 ms for an
800-pixel photo), which serialised the server's workers on it. So Pillow writes into an
anonymous in-memory file (``memfd``) where the platform has one.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable
from typing import Any, assert_never

import pyvips
from PIL import Image

from enlarger import jxl
from enlarger.formats import Writable, spec_of
from enlarger.options import Options
from enlarger.settings import Settings

Keep = pyvips.enums.ForeignKeep
#: Progressive JPEG only between these areas (pixels); outside them baseline, as Cloudflare
#: documents (get-started/limits.mdx: baseline when the output is "less than 50x50" or "greater
#: than 3000x3000"; the older transform-images/index.mdx said 150×150)
PROGRESSIVE_MIN_AREA = 50 * 50
PROGRESSIVE_MAX_AREA = 3000 * 3000
_COPYRIGHT = "exif-ifd0-Copyright"
_EXIF_STRING = re.compile(r"(.*) \((.*), ASCII, \d+ components?, \d+ bytes?\)", re.S)
_PILLOW_MODES = {1: "L", 3: "RGBX", 4: "RGBA"}  # RGBX: RGB padded to 4 bytes
#: libvips writes 4:4:4 from this quality on (``subsample_mode=auto``), 4:2:0 below; Pillow is told the same
_FULL_CHROMA_FROM = 90


def _copyright_of(image: pyvips.Image, fields: list[str]) -> str | None:
    if _COPYRIGHT not in fields:
        return None
    text = str(image.get(_COPYRIGHT))
    # libvips renders EXIF strings as "value (value, ASCII, n components, n bytes)"
    rendered = _EXIF_STRING.fullmatch(text)
    value = (rendered.group(1) if rendered else text).strip()
    return value or None


def _strip_to_copyright(image: pyvips.Image) -> tuple[pyvips.Image, int]:
    fields = image.get_fields()
    notice = _copyright_of(image, fields)
    if notice is None:
        return image, Keep.NONE  # keep=NONE writes no metadata at all: nothing to strip
    image = image.copy()
    for name in fields:
        if name.startswith(("exif-", "xmp-", "iptc-")) or name == "orientation":
            image.remove(name)
    image.set_type(pyvips.GValue.gstr_type, _COPYRIGHT, notice)
    return image, Keep.EXIF


def _keep_flags(image: pyvips.Image, fmt: Writable, options: Options) -> tuple[pyvips.Image, int]:
    if "orientation" in image.get_fields():
        # pixels are already upright; heifsave would write any orientation left as an irot box
        image = image.copy()
        image.remove("orientation")
    if not spec_of(fmt).metadata or options.metadata == "none":
        return image, Keep.NONE
    if options.metadata == "copyright":
        return _strip_to_copyright(image)
    return image, Keep.EXIF | Keep.XMP | Keep.IPTC


def progressive(fmt: Writable, options: Options, width: int, height: int) -> bool:
    """Whether a ``width``×``height`` output is written interlaced: a progressive format, not
    ``baseline-jpeg``, and an area where progressive pays (tiny and huge images stay baseline)."""
    if not spec_of(fmt).progressive or options.format == "baseline-jpeg":
        return False
    return PROGRESSIVE_MIN_AREA <= width * height <= PROGRESSIVE_MAX_AREA


def _pillow_ready(image: pyvips.Image, keep: int, bands: tuple[int, ...]) -> bool:
    """Whether Pillow can write this image: one 8-bit frame of ``bands`` bands and nothing but pixels."""
    if keep != Keep.NONE or image.format != "uchar" or image.bands not in bands:
        return False
    return "page-height" not in image.get_fields() or image.get("page-height") == image.height


def _pillow_save(
    image: pyvips.Image, pillow_format: str, fallback: Callable[[pyvips.Image], bytes], **params: Any
) -> bytes:
    """Encode the pixels of ``image`` with Pillow; evaluating the libvips pipeline happens here.

    Pillow sizes the JPEG encoder's output buffer by a guess (one or two bytes a pixel), which
    noise-like pixels at high quality outgrow ("Suspension not allowed here"); whatever Pillow
    refuses, ``fallback`` (the libvips saver) writes from the pixels already computed, so the
    pipeline is not run twice and libvips' own limits and errors apply as they always did.
    """
    bands, mode = image.bands, _PILLOW_MODES[image.bands]
    if bands == 3:  # Pillow maps 1- and 4-byte pixels in place; 3-byte RGB it copies (0.5 ms, GIL held)
        image = image.bandjoin(255)
    memory = image.write_to_memory()
    pixels = Image.frombuffer(mode, (image.width, image.height), memory, "raw", mode, 0, 1)
    try:
        return _saved(pixels, pillow_format, **params)
    except (OSError, ValueError):
        computed = pyvips.Image.new_from_memory(memory, image.width, image.height, image.bands, "uchar")
        return fallback(computed.extract_band(0, n=bands).copy(interpretation=image.interpretation))


def _saved(pixels: Image.Image, pillow_format: str, **params: Any) -> bytes:
    """``pixels`` encoded by Pillow, into a memory file descriptor so the encoder runs without the GIL."""
    if not hasattr(os, "memfd_create"):
        out = io.BytesIO()
        pixels.save(out, pillow_format, **params)
        return out.getvalue()
    with open(os.memfd_create("enlarger-encode", os.MFD_CLOEXEC), "w+b", buffering=0) as file:
        pixels.save(file, pillow_format, **params)
        file.seek(0)
        return file.read()


def encode(image: pyvips.Image, fmt: Writable, options: Options, settings: Settings) -> bytes:
    """Encode ``image`` (8-bit sRGB or grey, alpha only where ``fmt`` supports it) as ``fmt``.

    ``compression=fast`` trades bytes for time: baseline JPEG without Huffman optimisation (even
    for ``format=jpeg``, which is otherwise progressive), effort 0 for WebP and AVIF, the fastest
    PNG and GIF settings.
    """
    fast = options.compression == "fast"
    q = options.quality_value
    image, keep = _keep_flags(image, fmt, options)
    match fmt:
        case "jpeg":
            interlaced = progressive(fmt, options, image.width, image.height) and not fast

            def vips_jpeg(pixels: pyvips.Image) -> bytes:
                return bytes(pixels.jpegsave_buffer(Q=q, interlace=interlaced, optimize_coding=not fast, keep=keep))

            if not _pillow_ready(image, keep, (1, 3)):
                return vips_jpeg(image)
            chroma = 0 if q >= _FULL_CHROMA_FROM else 2  # Pillow: 0 = 4:4:4, 2 = 4:2:0
            return _pillow_save(
                image, "JPEG", vips_jpeg, quality=q, progressive=interlaced, optimize=not fast, subsampling=chroma
            )
        case "webp":
            effort = 0 if fast else settings.webp_effort

            def vips_webp(pixels: pyvips.Image) -> bytes:
                return bytes(pixels.webpsave_buffer(Q=q, lossless=q == 100, effort=effort, keep=keep))

            if q == 100 or not _pillow_ready(image, keep, (3, 4)):
                return vips_webp(image)
            return _pillow_save(image, "WEBP", vips_webp, quality=q, method=effort)
        case "avif":
            saved = image.heifsave_buffer(
                Q=q,
                compression="av1",
                effort=0 if fast else settings.avif_effort,
                bitdepth=8,
                keep=keep,
            )
        case "png":
            saved = image.pngsave_buffer(
                compression=1 if fast else 6,
                palette=options.quality is not None,
                Q=q,
                keep=keep,
                effort=1 if fast else 7,
            )
        case "jxl":
            return jxl.encode(image, q, 1 if fast else settings.jxl_effort, keep)
        case "gif":
            # reuse: a GIF source's own palette fits its resized frames and saves re-quantising each one
            saved = image.gifsave_buffer(effort=1 if fast else settings.gif_effort, reuse=True, keep=keep)
        case _:
            assert_never(fmt)
    return bytes(saved)
