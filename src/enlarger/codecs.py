"""Reading images: sniffing, header probing and limits, hardening, loading.

What each format *is* (magic bytes, loader, media type, capabilities) lives in the registry,
:mod:`enlarger.formats`; this module applies it. Formats are identified by their bytes, never
by a name. Limits are checked from the header,
before any pixel is decoded, so a small file that declares a huge image costs microseconds.
Loading always goes through libvips' ``thumbnail`` (``thumbnail_image`` after a JPEG decoded at a
chosen DCT scale, see :func:`jpeg_shrink`) so shrink-on-load, EXIF orientation and colour
management (ICC → sRGB, CMYK, 16-bit → 8-bit) happen in one streaming pass.
"""

from __future__ import annotations

import io
import struct
import threading
from dataclasses import dataclass

import pyvips
from PIL import BmpImagePlugin

from enlarger import formats, jxl
from enlarger.errors import CorruptImageError, FileTooLargeError, InputTooLargeError, UnsupportedFormatError
from enlarger.formats import Format
from enlarger.security import svg, trailers
from enlarger.settings import Settings

_ICC = "icc-profile-data"
_hardened = False
_hardening = threading.Lock()


def harden() -> None:
    """Let only the loaders of supported formats run on untrusted input, for the whole process.

    libvips can load far more than we accept (ImageMagick, PDF, matlab, FITS, CSV, raw ...), each
    a parser exposed to strangers' bytes: every libvips loader is blocked, then those named by the
    registry (:mod:`enlarger.formats`) are allowed again. svgload (librsvg), one libvips marks
    "untrusted", only ever sees our sanitized output (see :func:`sanitize_svg`), and no other
    format's bytes can reach it (sniffing admits only magic numbers that cannot start an XML
    document).

    This changes process-wide state, so importing ``enlarger`` does not do it: the CLI and the
    server's app factory call it, and so does :func:`probe` (every decode starts there), so a
    library user is safe by default while a host application that never decodes through
    Enlarger keeps its libvips as it was. Idempotent and thread-safe.
    """
    global _hardened
    if _hardened:
        return
    with _hardening:
        if _hardened:
            return
        pyvips.block_untrusted_set(True)
        pyvips.operation_block_set("VipsForeignLoad", True)
        for spec in formats.REGISTRY:
            if spec.vips_class is not None:
                pyvips.operation_block_set(spec.vips_class, False)
        _hardened = True


def sniff(data: bytes) -> Format:
    """Identify the format from magic bytes; raise :class:`UnsupportedFormatError` otherwise."""
    fmt = formats.identify(data)
    if fmt is not None:
        return fmt
    if not data:
        raise UnsupportedFormatError("the input is empty")
    raise UnsupportedFormatError(f"the input is not a supported image ({formats.supported_list()})")


@dataclass(frozen=True)
class Header:
    """What the header says, before any pixel is decoded. Sizes are after EXIF orientation."""

    format: Format
    width: int
    height: int
    frames: int
    has_alpha: bool
    file_size: int
    orientation: int = 1

    @property
    def media_type(self) -> str:
        return formats.spec_of(self.format).media_type

    @property
    def vector(self) -> bool:
        """Drawn at any size (the registry's ``vector`` column): SVG."""
        return formats.spec_of(self.format).vector

    @property
    def animated(self) -> bool:
        return self.frames > 1


def vips_detail(exc: Exception) -> str:
    """The line of a libvips error that says what went wrong (not "unable to call ..."/"... write")."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    useful = [
        line
        for line in lines
        if not line.startswith(("unable to call", "unable to copy")) and "unable to write" not in line
    ]
    return (useful or lines or [type(exc).__name__])[0]


def corrupt(fmt: Format, exc: Exception) -> CorruptImageError:
    """The public sentence for damage found by a decoder; the decoder's own words go in ``detail``."""
    label = formats.spec_of(fmt).label
    return CorruptImageError(
        f"the {label} image is damaged or truncated and cannot be decoded", detail=vips_detail(exc)
    )


def from_memory(operation: str, data: bytes, *args: object, **kwargs: object) -> pyvips.Image:
    """Run the libvips ``*_source`` ``operation`` (a loader, ``thumbnail_source``) on ``data`` where it lies.

    The ``*_buffer`` forms copy the whole file into a libvips blob first, holding the GIL: 0.4 ms of
    CPU per 2 MB source, and a miss did it twice (header, then decode). A memory source reads the
    Python bytes in place; the image keeps the source (and so ``data``) alive, as pyvips'
    ``new_from_source`` does, because the pipeline decodes lazily, long after this returns.
    """
    source = pyvips.Source.new_from_memory(data)
    image: pyvips.Image = pyvips.Operation.call(operation, source, *args, **kwargs)
    image._references.append(source)
    return image


def _check_gif_frames(data: bytes) -> None:
    """Refuse a GIF cut short, or one with a frame reaching past its logical screen, before libvips reads it.

    The GIF specification says every image "must fit within the boundaries of the Logical
    Screen". libvips (libnsgif) would instead grow the canvas to hold such a frame: a picture of
    a size the file never declared and no browser shows (they clip or grow by other rules), and a
    1×1 screen could hide a 20000×20000 frame behind a header that looks harmless. Clipping
    instead would mean cropping every frame after shrink-on-load; refusing the file as damaged
    keeps the declared screen the one size the limits are checked against.
    """
    if len(data) < 13 or not data.rstrip(b"\0").endswith(b";"):
        # libvips keeps going on a GIF cut mid-frame (repeating or dropping frames): refuse it
        raise CorruptImageError("the GIF image is truncated (it has no end marker) and cannot be decoded")
    screen_width, screen_height = struct.unpack_from("<HH", data, 6)
    for number, frame in enumerate(trailers.gif_frames(data), 1):
        if frame.left + frame.width > screen_width or frame.top + frame.height > screen_height:
            raise CorruptImageError(
                f"the GIF image is damaged: frame {number} ({frame.width}×{frame.height} at "
                f"{frame.left},{frame.top}) reaches past the {screen_width}×{screen_height} screen it declares"
            )


def _vips_header(fmt: Format, loader: str, data: bytes) -> Header:
    if fmt == "gif":
        _check_gif_frames(data)
    elif fmt == "png" and (chunk := trailers.png_bad_checksum(data)) is not None:
        raise CorruptImageError(f"the PNG image is damaged: its {chunk} chunk fails its checksum")
    try:
        image = from_memory(loader, data, access="sequential")
        fields = set(image.get_fields())
        frames = image.get("n-pages") if formats.spec_of(fmt).animation and "n-pages" in fields else 1
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


def _bmp(data: bytes) -> BmpImagePlugin.BmpImageFile:
    """Open a BMP with Pillow's BMP reader itself, not ``Image.open``.

    ``Image.open`` applies Pillow's process-wide bomb check (``MAX_IMAGE_PIXELS``), which would
    call a large BMP "corrupt" and warn on one of 90 megapixels, and which a library must not
    clear for its host. The limit that applies is ours, by setting: :func:`check_limits` runs on
    the header before any pixel is decoded.
    """
    return BmpImagePlugin.BmpImageFile(io.BytesIO(data))


def _pillow_header(fmt: Format, data: bytes) -> Header:
    try:
        if fmt == "heic":
            import pillow_heif

            heif = pillow_heif.open_heif(data, convert_hdr_to_8bit=True)
            width, height = heif.size
            return Header(fmt, width, height, 1, heif.has_alpha, len(data))
        if fmt == "jxl":
            width, height, alpha = jxl.header(data)
            return Header(fmt, width, height, 1, alpha, len(data))
        with _bmp(data) as img:
            width, height = img.size
            alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
    except Exception as exc:  # decoders raise many types; all mean "corrupt"
        raise corrupt(fmt, exc) from exc
    return Header(fmt, width, height, 1, alpha, len(data))


def probe(data: bytes) -> Header:
    """Read the header (format, size, frames, alpha) without decoding pixels.

    Every decode of untrusted bytes starts here, so this is where :func:`harden` is made sure of.
    """
    harden()
    fmt = sniff(data)
    loader = formats.spec_of(fmt).vips_loader
    header = _vips_header(fmt, loader, data) if loader is not None else _pillow_header(fmt, data)
    if header.width < 1 or header.height < 1:
        raise CorruptImageError(f"the {formats.spec_of(fmt).label} header declares an empty image")
    return header


def check_input_size(data: bytes, settings: Settings) -> None:
    """Refuse oversize files before even sniffing them."""
    if len(data) > settings.max_input_bytes:
        raise FileTooLargeError(f"the input is {len(data):,} bytes; the limit is {settings.max_input_bytes:,} bytes")


def check_render_size(size: tuple[int, int], settings: Settings) -> None:
    """Refuse rasterizing an SVG to more pixels than the input limit (its declared size does not matter)."""
    pixels = size[0] * size[1]
    if pixels > settings.max_input_pixels:
        raise InputTooLargeError(
            f"rasterizing the SVG at {size[0]}×{size[1]} = {pixels:,} pixels exceeds the limit of "
            f"{settings.max_input_pixels:,} pixels; ask for a smaller width or height"
        )


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
        spec = formats.spec_of(header.format)
        if not spec.embeddable:
            raise UnsupportedFormatError(f"{spec.label} images cannot be embedded in an SVG")
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
    if all_frames and header.frames > settings.max_animation_frames:
        raise InputTooLargeError(
            f"the animation has {header.frames:,} frames; the limit is {settings.max_animation_frames:,} "
            "(use anim=false for the first frame only)"
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


def _pillow_image(fmt: Format, data: bytes) -> pyvips.Image:
    """HEIC (HEVC), BMP and JPEG XL have no libvips loader here: decode with Pillow (or pylibjxl)
    and hand over pixels."""
    if fmt == "jxl":
        return jxl.decode(data)
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
            with _bmp(data) as img:
                has_alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
                converted = img.convert("RGBA" if has_alpha else "RGB")
                mode, size, raw = converted.mode, converted.size, converted.tobytes()
                bands = len(mode)
    except Exception as exc:  # decoders raise many types; all mean "corrupt"
        raise corrupt(fmt, exc) from exc
    image = pyvips.Image.new_from_memory(raw, size[0], size[1], bands, "uchar")
    return image.copy(interpretation="srgb" if bands >= 3 else "b-w")


def jpeg_shrink(header: Header, target: tuple[int, int], margin: float) -> int:
    """The JPEG decoder's scale-down factor (1, 2, 4 or 8) for ``target``, leaving at least ``margin``.

    libjpeg scales by 1/2, 1/4 or 1/8 while decoding (DCT scaling), far cheaper than decoding at
    full size and resizing: the largest factor ``n`` with ``margin × n`` ≤ the common shrink is
    used, and Lanczos-3 does the rest. libvips' ``thumbnail`` keeps a margin of 2 and cannot be
    told otherwise; sharp and imgproxy use 1–1.5 (see docs/performance.md for what each costs in
    CPU and SSIMULACRA2). Sizes are compared in the oriented frame; the ratio is the same either way.
    """
    shrink = min(header.width / target[0], header.height / target[1])
    return next((factor for factor in (8, 4, 2) if shrink >= margin * factor), 1)


def load(
    data: bytes,
    header: Header,
    target: tuple[int, int],
    *,
    all_frames: bool,
    shrink_margin: float = Settings.jpeg_shrink_margin,
) -> pyvips.Image:
    """Decode straight to ``target`` (width, height of one frame): shrink-on-load, oriented, sRGB.

    Truncated or damaged data raises :class:`CorruptImageError` here or when the lazy pipeline
    is evaluated (see ``pipeline``), never a partial grey image. ``shrink_margin``: see
    :func:`jpeg_shrink` (the ``jpeg_shrink_margin`` setting).
    """
    width, height = target
    if formats.spec_of(header.format).vips_loader is None:
        image = _pillow_image(header.format, data)
        return _normalise(image.thumbnail_image(width, height=height, size="force"))
    # fail_on=error refuses truncation and the damage a decoder notices (a PNG chunk failing its
    # CRC among them) but not mere warnings, which many valid files raise (stray bytes between
    # JPEG markers): of 1,543 real-world files, none that loaded before is refused
    options = "fail_on=error"
    if all_frames and header.animated:
        options += ",n=-1"
    factor = jpeg_shrink(header, target, shrink_margin) if header.format == "jpeg" else 1
    try:
        if factor > 1:  # thumbnail_image still orients, imports CMYK and keeps alpha as thumbnail does
            loaded = from_memory("jpegload_source", data, shrink=factor, fail_on="error", access="sequential")
            image = loaded.thumbnail_image(width, height=height, size="force")
        else:
            image = from_memory("thumbnail_source", data, width, height=height, size="force", option_string=options)
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
