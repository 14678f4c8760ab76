"""JPEG XL in and out, through ``pylibjxl`` (libjxl 0.11; the bundled libvips has no JPEG XL).

Why ``pylibjxl``: it is BSD-3 like libjxl (``pillow-jxl-plugin`` is GPL-3.0, which an Apache-2.0
service should not pull in), a 3 MB wheel (``imagecodecs``, BSD too, is 26 MB for one codec we
need), reads the header without decoding (``probe``), releases the GIL while coding, and writes
and reads the container's Exif and XML boxes.

- Sniffing is the registry's (:mod:`enlarger.formats`): a bare codestream starts ``FF 0A``, the
  ISO-BMFF container with the 12-byte ``JXL `` signature box.
- Reading: the header (size, alpha) is probed first, so the same limits as every format apply
  before a pixel is decoded. libjxl has no shrink-on-load here: the decoder writes the whole
  frame (one frame: animations are read as their first frame), which libvips then shrinks.
  Orientation is applied by the decoder, and pixels come out as 8-bit sRGB.
- Writing: the engine's quality (1–100) is mapped to a Butteraugli distance with libjxl's own
  formula (``JxlEncoderDistanceFromQuality``); 100 is lossless. Metadata follows the other
  formats' rules: the EXIF is the one libvips would write for a JPEG (so ``copyright`` keeps only
  the notice and orientation is already upright), stored in an ``Exif`` box; XMP in an ``xml ``
  box with ``metadata=keep``. JPEG XL has no IPTC box: IPTC is dropped.
"""

from __future__ import annotations

import numpy as np
import pylibjxl
import pyvips

from enlarger.errors import CorruptImageError

_EXIF_PREFIX = b"Exif\x00\x00"
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
    """The EXIF libvips writes for ``image``'s exif-* fields (as for a JPEG), in JPEG XL's box form:
    a 4-byte offset to the TIFF header (0), then the TIFF structure."""
    if not any(name.startswith("exif-") for name in image.get_fields()):
        return None
    tiny = image.crop(0, 0, 1, 1).jpegsave_buffer(keep=Keep.EXIF)
    reread = pyvips.Image.new_from_buffer(tiny, "")
    if "exif-data" not in reread.get_fields():
        return None
    blob = bytes(reread.get("exif-data"))
    return b"\x00\x00\x00\x00" + blob.removeprefix(_EXIF_PREFIX)


def encode(image: pyvips.Image, quality: int, effort: int, keep: int) -> bytes:
    """Encode ``image`` (8-bit sRGB or grey, alpha allowed); ``keep`` as libvips' ForeignKeep flags."""
    image = image.cast("uchar").copy_memory()  # evaluated once: the pixels, then the metadata's 1×1 JPEG
    pixels = np.ndarray(buffer=image.write_to_memory(), dtype=np.uint8, shape=(image.height, image.width, image.bands))
    fields = image.get_fields()
    exif = _exif(image) if keep & Keep.EXIF else None
    xmp = bytes(image.get("xmp-data")) if keep & Keep.XMP and "xmp-data" in fields else None
    return bytes(
        pylibjxl.encode(pixels, effort=effort, distance=distance(quality), lossless=quality >= 100, exif=exif, xmp=xmp)
    )
