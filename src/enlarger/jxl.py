"""JPEG XL in and out (the bundled libvips has none): libjxl through two BSD-licensed wheels.

- Reading through ``pylibjxl`` (libjxl 0.11, 3 MB): it reads the header without decoding
  (``probe``), so the same limits as every format apply before a pixel is decoded, and it reads
  the container's boxes. libjxl has no shrink-on-load here: the decoder writes the whole frame
  (one frame: animations are read as their first frame), which libvips then shrinks.
  Orientation is applied by the decoder, and pixels come out as 8-bit sRGB.
- Writing through ``imagecodecs`` (cgohlke's codec collection, libjxl 0.11): ``pylibjxl``'s
  encoder wrote lossy files 3–6× larger at the same distance (it appears to code RGB rather than
  XYB), which made JPEG XL lose to JPEG (docs/outputs.md). ``pillow-jxl-plugin`` is GPL-3.0,
  which an Apache-2.0 service should not pull in.
- The engine's quality (1–100) maps to a Butteraugli distance with libjxl's own formula
  (``JxlEncoderDistanceFromQuality``); 100 is lossless.
- Metadata follows the other formats' rules. Without any, the output is a bare codestream.
  With some, it is wrapped in the ISO-BMFF container (ISO/IEC 18181-2) with an ``Exif`` box (the
  EXIF libvips would write for a JPEG, so ``copyright`` keeps only the notice and orientation is
  already upright) and, for ``metadata=keep``, an ``xml `` box with the XMP. JPEG XL has no IPTC
  box: IPTC is dropped.
"""

from __future__ import annotations

import struct

import imagecodecs
import numpy as np
import pylibjxl
import pyvips

from enlarger.errors import CorruptImageError

_EXIF_PREFIX = b"Exif\x00\x00"
_SIGNATURE = b"\x00\x00\x00\x0cJXL \r\n\x87\n"
Keep = pyvips.enums.ForeignKeep


def _damaged(exc: RuntimeError) -> CorruptImageError:
    return CorruptImageError("the JPEG XL image is damaged or truncated and cannot be decoded", detail=str(exc))


def header(data: bytes) -> tuple[int, int, bool]:
    """Width, height and alpha, from the header alone."""
    try:
        info = pylibjxl.probe(data)
    except RuntimeError as exc:
        raise _damaged(exc) from exc
    return int(info["width"]), int(info["height"]), bool(info["has_alpha"])


def decode(data: bytes) -> pyvips.Image:
    """Every pixel of the (first) frame as an 8-bit sRGB or grey libvips image."""
    try:
        pixels = pylibjxl.decode(data)
    except RuntimeError as exc:
        raise _damaged(exc) from exc
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    height, width, bands = pixels.shape
    image = pyvips.Image.new_from_memory(np.ascontiguousarray(pixels).data, width, height, bands, "uchar")
    return image.copy(interpretation="srgb" if bands >= 3 else "b-w")


def distance(quality: int) -> float:
    """libjxl's mapping of a JPEG-like quality to a Butteraugli distance (0: lossless)."""
    if quality >= 100:
        return 0.0
    if quality >= 30:
        return 0.1 + (100 - quality) * 0.09
    return 53.0 / 3000.0 * quality * quality - 23.0 / 20.0 * quality + 25.0


def _exif(image: pyvips.Image) -> bytes | None:
    """The EXIF (a TIFF structure) libvips writes for ``image``'s exif-* fields, as for a JPEG."""
    if not any(name.startswith("exif-") for name in image.get_fields()):
        return None
    tiny = image.crop(0, 0, 1, 1).jpegsave_buffer(keep=Keep.EXIF)
    reread = pyvips.Image.new_from_buffer(tiny, "")
    if "exif-data" not in reread.get_fields():
        return None
    return bytes(reread.get("exif-data")).removeprefix(_EXIF_PREFIX)


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def container(codestream: bytes, exif: bytes | None, xmp: bytes | None) -> bytes:
    """``codestream`` with its metadata boxes in the JPEG XL container (ISO/IEC 18181-2): the
    signature and ``ftyp`` boxes, ``Exif`` (a 4-byte offset to the TIFF header, 0, then TIFF),
    ``xml ``, then the codestream in one ``jxlc`` box. Without metadata: the bare codestream."""
    if exif is None and xmp is None:
        return codestream
    boxes = [_SIGNATURE, _box(b"ftyp", b"jxl \x00\x00\x00\x00jxl ")]
    if exif is not None:
        boxes.append(_box(b"Exif", b"\x00\x00\x00\x00" + exif))
    if xmp is not None:
        boxes.append(_box(b"xml ", xmp))
    boxes.append(_box(b"jxlc", codestream))
    return b"".join(boxes)


def encode(image: pyvips.Image, quality: int, effort: int, keep: int) -> bytes:
    """Encode ``image`` (8-bit sRGB or grey, alpha allowed); ``keep`` as libvips' ForeignKeep flags."""
    image = image.cast("uchar").copy_memory()  # evaluated once: the pixels, then the metadata's 1×1 JPEG
    pixels = np.ndarray(buffer=image.write_to_memory(), dtype=np.uint8, shape=(image.height, image.width, image.bands))
    lossless = quality >= 100
    codestream = bytes(
        imagecodecs.jpegxl_encode(
            pixels if image.bands > 1 else pixels[..., 0],
            effort=effort,
            distance=None if lossless else distance(quality),
            lossless=lossless,
        )
    )
    exif = _exif(image) if keep & Keep.EXIF else None
    xmp = bytes(image.get("xmp-data")) if keep & Keep.XMP and "xmp-data" in image.get_fields() else None
    return container(codestream, exif, xmp)
