"""Every image format the engine knows, and what each one can do: the one place for format facts.

Modelled on imgproxy's ``imagetype/defs.go``: one frozen :class:`FormatSpec` row per format,
read by sniffing (codecs), loading and hardening (codecs), negotiation (negotiate), encoding and
the metadata policy (encode), pass-through and trailers (pipeline, :func:`image_end`), the
``format`` option's values (options) and the CLI's output suffixes. A format's *name* is a
:data:`Format` literal, so mypy checks every comparison and ``encode``'s dispatch is exhaustive.

Rows are in order of preference as an output (the order ``format=auto`` tries and the docs list
them); sniffing tries them in the same order, SVG last (its predicate reads text, the others
match magic numbers that cannot start an XML document). Adding a format: see docs/architecture.md ("Formats").
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeGuard, get_args

from enlarger.security import svg, trailers

#: A source format, identified by content (never by name).
Format = Literal["avif", "jxl", "webp", "jpeg", "png", "gif", "heic", "tiff", "bmp", "svg"]
#: A format the engine encodes pixels to.
Writable = Literal["avif", "jxl", "webp", "jpeg", "png", "gif"]
#: What a transformation returns: encoded pixels, the sanitized SVG itself, or the JSON description.
Output = Literal[Writable, "svg", "json"]

_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"})
_BMP_DIB_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})


def _brands(data: bytes) -> frozenset[bytes]:
    """The major and compatible brands of an ISO-BMFF ``ftyp`` box (AVIF, HEIC), or none."""
    if len(data) < 16 or data[4:8] != b"ftyp":
        return frozenset()
    box_size = struct.unpack(">I", data[:4])[0]
    if not 16 <= box_size <= 4096:  # a real ftyp box is small (and cannot then start like "<svg")
        return frozenset()
    return frozenset({data[8:12]} | {data[i : i + 4] for i in range(16, min(box_size, len(data), 256) - 3, 4)})


def _is_avif(data: bytes) -> bool:
    return bool(_brands(data) & _AVIF_BRANDS)


def _is_heic(data: bytes) -> bool:
    brands = _brands(data)
    return bool(brands & _HEIC_BRANDS) and not brands & _AVIF_BRANDS  # both: an AVIF (libheif reads it)


def _is_jxl(data: bytes) -> bool:
    """A bare JPEG XL codestream (``FF 0A``) or the ISO-BMFF container's ``JXL `` signature box."""
    return data.startswith((b"\xff\x0a", b"\x00\x00\x00\x0cJXL \r\n\x87\n"))


def _is_bmp(data: bytes) -> bool:
    return data[:2] == b"BM" and len(data) >= 18 and struct.unpack("<I", data[14:18])[0] in _BMP_DIB_SIZES


@dataclass(frozen=True)
class FormatSpec:
    """What one format is and what the engine does with it."""

    name: Format
    label: str  # as people write it, for messages
    media_type: str
    magic: Callable[[bytes], bool]  # does ``data`` start like this format? (content, never names)
    #: libvips source loader for headers and decoding (``codecs.from_memory``); ``None``: decoded by Pillow
    vips_loader: str | None
    #: the libvips loader class :func:`enlarger.codecs.harden` leaves unblocked for this format
    vips_class: str | None
    writable: bool = False  # the engine encodes it (and keeps it when no format is asked for)
    alpha: bool = False  # the output keeps transparency (otherwise it is flattened)
    animation: bool = False  # frames are counted on load and every frame is kept on save
    metadata: bool = False  # EXIF/XMP/IPTC written for metadata=keep and the copyright notice
    progressive: bool = False  # written interlaced unless a baseline variant is asked for
    embeddable: bool = False  # may appear as a data: URL raster inside a sanitized SVG
    #: drawn at any size (imgproxy's ``IsVector``): no pixel limits from the header, enlarged without
    #: loss, never sent to models, served as the (sanitized) document when no raster is asked for
    vector: bool = False
    #: where the image's data ends, by structure (``None``: cannot be followed; see security.trailers)
    end: Callable[[bytes], int | None] | None = None
    #: the ``format=`` values that select it (a baseline variant is the same format, not interlaced)
    requested_as: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()  # output file suffixes the CLI maps to it

    @property
    def passthrough(self) -> bool:
        """Whether an unchanged original may be served as it is: only when its end can be found
        (so no trailer rides along) and it is a format the request could have produced."""
        return self.writable and self.end is not None


REGISTRY: tuple[FormatSpec, ...] = (
    FormatSpec(
        "avif", label="AVIF", media_type="image/avif", magic=_is_avif,
        vips_loader="heifload_source", vips_class="VipsForeignLoadHeif",
        writable=True, alpha=True, metadata=True,
        requested_as=("avif",), suffixes=(".avif",),
    ),
    # libvips' wheel has no JPEG XL: read and written through pylibjxl (see codecs, encode, jxl)
    FormatSpec(
        "jxl", label="JPEG XL", media_type="image/jxl", magic=_is_jxl,
        vips_loader=None, vips_class=None,
        writable=True, alpha=True, metadata=True,
        requested_as=("jxl",), suffixes=(".jxl",),
    ),
    FormatSpec(
        "webp", label="WebP", media_type="image/webp", magic=lambda d: d[:4] == b"RIFF" and d[8:12] == b"WEBP",
        vips_loader="webpload_source", vips_class="VipsForeignLoadWebp",
        writable=True, alpha=True, animation=True, embeddable=True, end=trailers.webp_end,
        requested_as=("webp",), suffixes=(".webp",),
    ),
    FormatSpec(
        "jpeg", label="JPEG", media_type="image/jpeg", magic=lambda d: d.startswith(b"\xff\xd8\xff"),
        vips_loader="jpegload_source", vips_class="VipsForeignLoadJpeg",
        writable=True, metadata=True, progressive=True, embeddable=True, end=trailers.jpeg_end,
        requested_as=("jpeg", "baseline-jpeg"), suffixes=(".jpg", ".jpeg"),
    ),
    FormatSpec(
        "png", label="PNG", media_type="image/png", magic=lambda d: d.startswith(trailers.PNG_SIGNATURE),
        vips_loader="pngload_source", vips_class="VipsForeignLoadPng",
        writable=True, alpha=True, embeddable=True, end=trailers.png_end,
        requested_as=("png",), suffixes=(".png",),
    ),
    FormatSpec(
        "gif", label="GIF", media_type="image/gif", magic=lambda d: d[:6] in (b"GIF87a", b"GIF89a"),
        vips_loader="gifload_source", vips_class="VipsForeignLoadNsgif",
        writable=True, alpha=True, animation=True, embeddable=True, end=trailers.gif_end,
        requested_as=("gif",), suffixes=(".gif",),
    ),
    # libvips' wheel has no HEVC decoder: HEIC is decoded through pillow-heif (see codecs)
    FormatSpec(
        "heic", label="HEIC", media_type="image/heic", magic=_is_heic,
        vips_loader=None, vips_class=None,
    ),
    FormatSpec(
        "tiff", label="TIFF", media_type="image/tiff", magic=lambda d: d[:4] in (b"II*\x00", b"MM\x00*"),
        vips_loader="tiffload_source", vips_class="VipsForeignLoadTiff",
    ),
    # libvips' wheel has no BMP loader: BMP is decoded through Pillow (see codecs)
    FormatSpec(
        "bmp", label="BMP", media_type="image/bmp", magic=_is_bmp,
        vips_loader=None, vips_class=None,
    ),
    # svgload (librsvg) only ever reads our sanitized documents (see codecs.sanitize_svg)
    FormatSpec(
        "svg", label="SVG", media_type="image/svg+xml", magic=svg.looks_like_svg,
        vips_loader="svgload_source", vips_class="VipsForeignLoadSvg", vector=True,
    ),
)  # fmt: skip

SPECS: Mapping[Format, FormatSpec] = {spec.name: spec for spec in REGISTRY}
_JSON_MEDIA_TYPE = "application/json"

#: The ``format=`` option's values: negotiation, every writable format's names, the JSON description,
#: and ``placeholder`` (a tiny blurred WebP of the output for a data: URL; see pipeline.placeholder).
REQUESTABLE: tuple[str, ...] = (
    "auto",
    *(name for spec in REGISTRY for name in spec.requested_as),
    "json",
    "placeholder",
)
#: Output file suffix → ``format=`` value, for the CLI.
SUFFIXES: Mapping[str, str] = {suffix: spec.name for spec in REGISTRY for suffix in spec.suffixes} | {".json": "json"}

# The rows' columns as sets of names, for membership tests on any output (json and svg are in none).
WRITABLE: frozenset[str] = frozenset(spec.name for spec in REGISTRY if spec.writable)
ALPHA: frozenset[str] = frozenset(spec.name for spec in REGISTRY if spec.writable and spec.alpha)
ANIMATED: frozenset[str] = frozenset(spec.name for spec in REGISTRY if spec.animation)


def spec_of(fmt: Format) -> FormatSpec:
    """The registry row of ``fmt``."""
    return SPECS[fmt]


def is_writable(fmt: str) -> TypeGuard[Writable]:
    """Whether the engine encodes ``fmt`` (narrows it for :func:`enlarger.encode.encode`)."""
    return fmt in WRITABLE


def writable_named(name: str) -> Writable | None:
    """The format a ``format=`` value selects (``baseline-jpeg`` → ``jpeg``), or ``None``."""
    for spec in REGISTRY:
        if name in spec.requested_as and is_writable(spec.name):
            return spec.name
    return None


def media_type(fmt: Output) -> str:
    """The ``Content-Type`` of an output."""
    return _JSON_MEDIA_TYPE if fmt == "json" else SPECS[fmt].media_type


def identify(data: bytes) -> Format | None:
    """The format whose magic ``data`` starts with, or ``None``."""
    for spec in REGISTRY:
        if spec.magic(data):
            return spec.name
    return None


def image_end(data: bytes) -> int | None:
    """Offset just past the image's end marker (JPEG EOI, PNG IEND, GIF trailer, WebP RIFF size).

    ``None`` when ``data`` is not a format whose end can be found (the ``end`` column) or its
    structure cannot be followed to the end (truncated or damaged: the decoder then reports the
    damage).
    """
    fmt = identify(data)
    find = None if fmt is None else SPECS[fmt].end
    return None if find is None else find(data)


def trailer_offset(data: bytes) -> int | None:
    """Where bytes after the image's end begin (aCropalypse), or ``None`` when the image ends the data.

    Also ``None`` for data whose structure cannot be followed (see :func:`image_end`).
    """
    end = image_end(data)
    return end if end is not None and end < len(data) else None


def supported_list() -> str:
    """ "AVIF, WebP, … or SVG": the accepted formats as people name them, for messages."""
    labels = [spec.label for spec in REGISTRY]
    return f"{', '.join(labels[:-1])} or {labels[-1]}"


# The literals and the rows must agree: a row without a literal (or the reverse) is a mistake.
assert tuple(SPECS) == get_args(Format), "REGISTRY and Format list different formats"
assert {s.name for s in REGISTRY if s.writable} == set(get_args(Writable)), "Writable disagrees with REGISTRY"
