"""Everything format-specific: sniffing, header probing and limits, loading, saving, negotiation.

Formats are identified by their bytes, never by a name. Limits are checked from the header,
before any pixel is decoded, so a small file that declares a huge image costs microseconds.
Loading always goes through libvips' ``thumbnail`` so shrink-on-load, EXIF orientation and
colour management (ICC → sRGB, CMYK, 16-bit → 8-bit) happen in one streaming pass.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import pyvips
from PIL import Image

from enlarger.errors import CorruptImageError, InputTooLargeError, UnsupportedFormatError
from enlarger.security import svg
from enlarger.settings import Settings

# Only the loaders of formats we support may run on untrusted input (no ImageMagick, PDF,
# matlab, FITS, CSV, raw ...): every libvips loader is blocked, then ours are allowed again.
# svgload (librsvg) is one libvips marks "untrusted": it only ever sees our sanitized output
# (see security.svg), and no other format's bytes can reach it (sniff admits only magic numbers
# that cannot start an XML document).
pyvips.block_untrusted_set(True)
pyvips.operation_block_set("VipsForeignLoad", True)
for _loader in ("Jpeg", "Png", "Nsgif", "Webp", "Heif", "Tiff", "Svg"):
    pyvips.operation_block_set(f"VipsForeignLoad{_loader}", False)
# Pillow's own bomb check would call a huge BMP "corrupt"; check_limits does that job, by setting.
Image.MAX_IMAGE_PIXELS = None

MEDIA_TYPES: dict[str, str] = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "avif": "image/avif",
    "heic": "image/heic",
    "tiff": "image/tiff",
    "bmp": "image/bmp",
    "svg": "image/svg+xml",
    "json": "application/json",
}

_VIPS_LOADERS = {
    "jpeg": "jpegload_buffer",
    "png": "pngload_buffer",
    "gif": "gifload_buffer",
    "webp": "webpload_buffer",
    "avif": "heifload_buffer",
    "tiff": "tiffload_buffer",
    "svg": "svgload_buffer",  # only ever on sanitized documents (see sanitize_svg)
}
_MULTI_FRAME = ("gif", "webp")
_ICC = "icc-profile-data"
_AVIF_BRANDS = {b"avif", b"avis"}
_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"}
_BMP_DIB_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}


def _isobmff_format(data: bytes) -> str | None:
    if len(data) < 16 or data[4:8] != b"ftyp":
        return None
    box_size = struct.unpack(">I", data[:4])[0]
    if not 16 <= box_size <= 4096:  # a real ftyp box is small (and cannot then start like "<svg")
        return None
    brands = {data[8:12]} | {data[i : i + 4] for i in range(16, min(box_size, len(data), 256) - 3, 4)}
    if brands & _AVIF_BRANDS:
        return "avif"
    if brands & _HEIC_BRANDS:
        return "heic"
    return None


def sniff(data: bytes) -> str:
    """Identify the format from magic bytes; raise :class:`UnsupportedFormatError` otherwise."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if data[:2] == b"BM" and len(data) >= 18 and struct.unpack("<I", data[14:18])[0] in _BMP_DIB_SIZES:
        return "bmp"
    if (iso := _isobmff_format(data)) is not None:
        return iso
    if svg.looks_like_svg(data):
        return "svg"
    if not data:
        raise UnsupportedFormatError("the input is empty")
    raise UnsupportedFormatError(
        "the input is not a supported image (JPEG, PNG, GIF, WebP, AVIF, HEIC, TIFF, BMP or SVG)"
    )


@dataclass(frozen=True)
class Header:
    """What the header says, before any pixel is decoded. Sizes are after EXIF orientation."""

    format: str
    width: int
    height: int
    frames: int
    has_alpha: bool
    file_size: int
    orientation: int = 1

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]

    @property
    def animated(self) -> bool:
        return self.frames > 1


def vips_detail(exc: Exception) -> str:
    """The line of a libvips error that says what went wrong (not "unable to call ..."/"... write")."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith("unable to call") and "unable to write" not in line]
    return (useful or lines or [type(exc).__name__])[0]


def corrupt(fmt: str, exc: Exception) -> CorruptImageError:
    return CorruptImageError(
        f"the {fmt.upper()} image is damaged or truncated and cannot be decoded ({vips_detail(exc)})"
    )


def _vips_header(fmt: str, data: bytes) -> Header:
    if fmt == "gif" and not data.rstrip(b"\0").endswith(b";"):
        # libvips keeps going on a GIF cut mid-frame (repeating or dropping frames): refuse it
        raise CorruptImageError("the GIF image is truncated (it has no end marker) and cannot be decoded")
    try:
        image = pyvips.Operation.call(_VIPS_LOADERS[fmt], data, access="sequential")
        fields = set(image.get_fields())
        frames = image.get("n-pages") if fmt in _MULTI_FRAME and "n-pages" in fields else 1
        orientation = image.get("orientation") if "orientation" in fields else 1
    except (pyvips.Error, UnicodeDecodeError) as exc:  # undecodable metadata names are damage too
        raise corrupt(fmt, exc) from exc
    width, height = image.width, image.height
    if fmt == "avif":
        width, height = _heif_size(data, (width, height))
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return Header(fmt, width, height, max(1, frames), bool(image.hasalpha()), len(data), orientation)


def _heif_size(data: bytes, vips_size: tuple[int, int]) -> tuple[int, int]:
    """The size libheif reads: libvips reports 1 for dimensions beyond its range, hiding bombs."""
    import pillow_heif

    try:
        declared: tuple[int, int] = pillow_heif.open_heif(data).size
    except (ValueError, RuntimeError, OSError):  # unreadable here: libvips' answer stands, decoding judges
        return vips_size
    return declared if declared[0] * declared[1] > vips_size[0] * vips_size[1] else vips_size


def _pillow_header(fmt: str, data: bytes) -> Header:
    try:
        if fmt == "heic":
            import pillow_heif

            heif = pillow_heif.open_heif(data, convert_hdr_to_8bit=True)
            width, height = heif.size
            return Header(fmt, width, height, 1, heif.has_alpha, len(data))
        with Image.open(io.BytesIO(data), formats=["BMP"]) as img:
            width, height = img.size
            alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
    except Exception as exc:  # decoders raise many types; all mean "corrupt"
        raise corrupt(fmt, exc) from exc
    return Header(fmt, width, height, 1, alpha, len(data))


def probe(data: bytes) -> Header:
    """Read the header (format, size, frames, alpha) without decoding pixels."""
    fmt = sniff(data)
    header = _vips_header(fmt, data) if fmt in _VIPS_LOADERS else _pillow_header(fmt, data)
    if header.width < 1 or header.height < 1:
        raise CorruptImageError(f"the {fmt.upper()} header declares an empty image")
    return header


def check_input_size(data: bytes, settings: Settings) -> None:
    """Refuse oversize files before even sniffing them."""
    if len(data) > settings.max_input_bytes:
        raise InputTooLargeError(
            f"the input is {len(data):,} bytes; the limit is {settings.max_input_bytes:,} bytes", code=9402
        )


def check_render_size(size: tuple[int, int], settings: Settings) -> None:
    """Refuse rasterizing an SVG to more pixels than the input limit (its declared size does not matter)."""
    pixels = size[0] * size[1]
    if pixels > settings.max_input_pixels:
        raise InputTooLargeError(
            f"rasterizing the SVG at {size[0]}×{size[1]} = {pixels:,} pixels exceeds the limit of "
            f"{settings.max_input_pixels:,} pixels; ask for a smaller width or height"
        )


_EMBEDDABLE = ("jpeg", "png", "gif", "webp")


def sanitize_svg(data: bytes, settings: Settings) -> bytes:
    """The drawing of an SVG and nothing else (see :mod:`enlarger.security.svg`).

    Embedded rasters (``data:`` URLs) are checked like any input — format, bytes, pixels, with
    all of them together within ``max_input_pixels`` — and re-encoded from their pixels (first
    frame, no metadata) as JPEG (if they were) or PNG; any that fails a check is dropped.
    """
    budget = [settings.max_input_pixels]

    def reencode(raw: bytes) -> tuple[str, bytes]:
        check_input_size(raw, settings)
        header = probe(raw)
        if header.format not in _EMBEDDABLE:
            raise UnsupportedFormatError(f"{header.format.upper()} images cannot be embedded in an SVG")
        check_limits(header, settings, all_frames=False)
        budget[0] -= header.width * header.height
        if budget[0] < 0:
            raise InputTooLargeError("the SVG's embedded images exceed the pixel limit together")
        image = load(raw, header, (header.width, header.height), all_frames=False)
        try:
            if header.format == "jpeg":
                return "image/jpeg", bytes(image.jpegsave_buffer(Q=90, keep=pyvips.enums.ForeignKeep.NONE))
            return "image/png", bytes(image.pngsave_buffer(keep=pyvips.enums.ForeignKeep.NONE))
        except pyvips.Error as exc:
            raise corrupt(header.format, exc) from exc

    return svg.sanitize(data, reencode=reencode, max_nodes=settings.svg_max_nodes)


def check_limits(header: Header, settings: Settings, *, all_frames: bool) -> None:
    """Refuse images whose declared size exceeds the limits, before decoding."""
    pixels = header.width * header.height
    if pixels > settings.max_input_pixels:
        raise InputTooLargeError(
            f"the image is {header.width}×{header.height} = {pixels:,} pixels; "
            f"the limit is {settings.max_input_pixels:,} pixels"
        )
    total = pixels * header.frames
    if all_frames and header.frames > 1 and total > settings.max_animation_pixels:
        raise InputTooLargeError(
            f"the animation has {header.frames} frames of {header.width}×{header.height} = {total:,} pixels; "
            f"the limit is {settings.max_animation_pixels:,} (use anim=false for the first frame only)"
        )


def _normalise(image: pyvips.Image) -> pyvips.Image:
    """8-bit sRGB or greyscale, with or without alpha: what every later step expects."""
    if image.interpretation in ("rgb16", "grey16") or image.format != "uchar":
        target = "b-w" if image.bands <= 2 else "srgb"
        image = image.colourspace(target) if image.interpretation != target else image.cast("uchar")
    elif image.interpretation not in ("srgb", "b-w"):
        image = image.colourspace("srgb")
    return image


def _pillow_image(fmt: str, data: bytes) -> pyvips.Image:
    """HEIC (HEVC) and BMP have no libvips loader here: decode with Pillow and hand over pixels."""
    try:
        if fmt == "heic":
            import pillow_heif

            heif = pillow_heif.open_heif(data, convert_hdr_to_8bit=True)
            mode, size, raw = heif.mode, heif.size, bytes(heif.data)
            stride = heif.stride
            bands = len(mode)
            if stride != size[0] * bands:
                raw = b"".join(raw[y * stride : y * stride + size[0] * bands] for y in range(size[1]))
        else:
            with Image.open(io.BytesIO(data), formats=["BMP"]) as img:
                has_alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
                converted = img.convert("RGBA" if has_alpha else "RGB")
                mode, size, raw = converted.mode, converted.size, converted.tobytes()
                bands = len(mode)
    except Exception as exc:  # decoders raise many types; all mean "corrupt"
        raise corrupt(fmt, exc) from exc
    image = pyvips.Image.new_from_memory(raw, size[0], size[1], bands, "uchar")
    return image.copy(interpretation="srgb" if bands >= 3 else "b-w")


def load(data: bytes, header: Header, target: tuple[int, int], *, all_frames: bool) -> pyvips.Image:
    """Decode straight to ``target`` (width, height of one frame): shrink-on-load, oriented, sRGB.

    Truncated or damaged data raises :class:`CorruptImageError` here or when the lazy pipeline
    is evaluated (see ``pipeline``), never a partial grey image.
    """
    width, height = target
    if header.format not in _VIPS_LOADERS:
        image = _pillow_image(header.format, data)
        return _normalise(image.thumbnail_image(width, height=height, size="force"))
    option_string = "fail_on=truncated"
    if all_frames and header.animated:
        option_string += ",n=-1"
    try:
        image = pyvips.Image.thumbnail_buffer(data, width, height=height, size="force", option_string=option_string)
    except pyvips.Error as exc:
        raise corrupt(header.format, exc) from exc
    return _normalise(_to_srgb(image))


def _to_srgb(image: pyvips.Image) -> pyvips.Image:
    """Convert RGB pixels through their embedded ICC profile (thumbnail only does so for CMYK).

    Runs after shrink-on-load, so it costs a colour transform of output-sized pixels only.
    """
    if _ICC not in image.get_fields() or image.interpretation not in ("srgb", "rgb16"):
        return image
    try:
        converted = image.icc_transform("srgb", embedded=True, intent="relative")
    except pyvips.Error:
        return image  # an unreadable profile: keep the pixels as they are (treated as sRGB)
    converted = converted.copy()
    converted.remove(_ICC)
    return converted
