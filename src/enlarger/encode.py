"""Writing the output: per-format encoder parameters and metadata policy.

Which format keeps what is the registry's (:mod:`enlarger.formats`: ``metadata``,
``progressive``); this module holds each format's save call, in one ``match`` that mypy proves
covers every :data:`~enlarger.formats.Writable` format.

Metadata follows Cloudflare's rules: JPEG (and AVIF) keep EXIF/XMP/IPTC with ``metadata=keep``,
only the EXIF copyright with the default ``copyright``, nothing with ``none``; WebP, PNG and GIF
never carry EXIF. Orientation is already applied, so no orientation tag survives, and pixels are
already sRGB, so no ICC profile is written.
"""

from __future__ import annotations

import re
from typing import assert_never

import pyvips

from enlarger import jxl
from enlarger.formats import Writable, spec_of
from enlarger.options import Options
from enlarger.settings import Settings

Keep = pyvips.enums.ForeignKeep
#: Progressive JPEG only between these areas (pixels); outside them baseline, as Cloudflare
#: documents (transform-images/index.mdx, "Progressive JPEG": below 150×150 or above 3000×3000)
PROGRESSIVE_MIN_AREA = 150 * 150
PROGRESSIVE_MAX_AREA = 3000 * 3000
_COPYRIGHT = "exif-ifd0-Copyright"
_EXIF_STRING = re.compile(r"(.*) \((.*), ASCII, \d+ components?, \d+ bytes?\)", re.S)


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


def encode(image: pyvips.Image, fmt: Writable, options: Options, settings: Settings) -> bytes:
    """Encode ``image`` (8-bit sRGB or grey, alpha only where ``fmt`` supports it) as ``fmt``."""
    fast = options.compression == "fast"
    q = options.quality_value
    image, keep = _keep_flags(image, fmt, options)
    match fmt:
        case "jpeg":
            saved = image.jpegsave_buffer(
                Q=q,
                interlace=progressive(fmt, options, image.width, image.height),
                optimize_coding=not fast,
                keep=keep,
            )
        case "webp":
            saved = image.webpsave_buffer(
                Q=q,
                lossless=q == 100,
                effort=0 if fast else settings.webp_effort,
                keep=keep,
            )
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
