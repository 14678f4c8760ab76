"""Test images built by code (never downloaded), and helpers to decode and compare pixels."""

from __future__ import annotations

import io

import pyvips

RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)


def quadrants(width: int = 200, height: int = 100, alpha: bool = False) -> pyvips.Image:
    """Red top-left, green top-right, blue bottom-left, white bottom-right: orientation is visible."""
    image = pyvips.Image.black(width, height, bands=3).copy(interpretation="srgb")
    hw, hh = width // 2, height // 2
    image = image.draw_rect(list(RED), 0, 0, hw, hh, fill=True)
    image = image.draw_rect(list(GREEN), hw, 0, width - hw, hh, fill=True)
    image = image.draw_rect(list(BLUE), 0, hh, hw, height - hh, fill=True)
    image = image.draw_rect(list(WHITE), hw, hh, width - hw, height - hh, fill=True)
    if alpha:
        image = image.bandjoin(255)
    return image


def gradient(width: int = 320, height: int = 240) -> pyvips.Image:
    """A smooth colour ramp, photo-like enough for lossy codecs and resampling."""
    xyz = pyvips.Image.xyz(width, height)
    r = xyz[0] * (255 / max(1, width - 1))
    g = xyz[1] * (255 / max(1, height - 1))
    b = (r + g) / 2
    return r.bandjoin([g, b]).cast("uchar").copy(interpretation="srgb")


def solid(width: int, height: int, colour: tuple[int, ...]) -> pyvips.Image:
    """A single-colour image with len(colour) bands (3: sRGB, 4: sRGB + alpha)."""
    base = pyvips.Image.black(width, height, bands=len(colour)) + list(colour)
    return base.cast("uchar").copy(interpretation="srgb")


def save(image: pyvips.Image, fmt: str, **kwargs: object) -> bytes:
    """Encode with libvips; ``fmt`` is a vips saver suffix (jpeg, png, gif, webp, avif, tif)."""
    if fmt == "avif":
        return bytes(image.heifsave_buffer(compression="av1", **kwargs))
    return bytes(image.write_to_buffer(f".{fmt}", **kwargs))


def animation(frames: list[pyvips.Image], fmt: str = "gif", delay_ms: int = 100) -> bytes:
    """Stack frames into an animated GIF or WebP."""
    strip = pyvips.Image.arrayjoin(frames, across=1).copy()
    strip.set_type(pyvips.GValue.gint_type, "page-height", frames[0].height)
    strip.set_type(pyvips.GValue.array_int_type, "delay", [delay_ms] * len(frames))
    strip.set_type(pyvips.GValue.gint_type, "loop", 0)
    return save(strip, fmt)


def coloured_frames(width: int, height: int, colours: list[tuple[int, int, int]]) -> list[pyvips.Image]:
    return [solid(width, height, c) for c in colours]


def with_orientation(image: pyvips.Image, orientation: int) -> bytes:
    """A JPEG whose EXIF says ``orientation``; the pixels are stored as given."""
    tagged = image.copy()
    tagged.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    return bytes(tagged.jpegsave_buffer(Q=95, keep=pyvips.enums.ForeignKeep.EXIF))


def decode(data: bytes) -> pyvips.Image:
    """All frames of an output, decoded by libvips (or Pillow for BMP)."""
    if data[:2] == b"BM":
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            rgb = img.convert("RGB")
            return pyvips.Image.new_from_memory(rgb.tobytes(), rgb.width, rgb.height, 3, "uchar")
    if data[:2] == b"\xff\x0a" or data[4:8] == b"JXL ":
        return decode_jxl(data)
    animatable = data[:4] == b"GIF8" or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")
    return pyvips.Image.new_from_buffer(data, "", n=-1) if animatable else pyvips.Image.new_from_buffer(data, "")


def decode_jxl(data: bytes) -> pyvips.Image:
    """A JPEG XL output decoded by libjxl (pylibjxl), its Exif and XML boxes as libvips fields.

    libvips has no JPEG XL here, so the pixels and boxes are handed to it through a lossless PNG,
    which parses the EXIF into ``exif-ifd0-*`` fields as for any other format.
    """
    import numpy as np
    import pylibjxl

    pixels, boxes = pylibjxl.decode(data, metadata=True)
    pixels = pixels[..., None] if pixels.ndim == 2 else pixels
    height, width, bands = pixels.shape
    image = pyvips.Image.new_from_memory(np.ascontiguousarray(pixels).data, width, height, bands, "uchar")
    image = image.copy(interpretation="srgb" if bands >= 3 else "b-w")
    if boxes.get("exif"):  # pylibjxl hands over the TIFF structure (the box's offset field is read)
        image.set_type(pyvips.GValue.blob_type, "exif-data", b"Exif\x00\x00" + boxes["exif"])
    if boxes.get("xmp"):
        image.set_type(pyvips.GValue.blob_type, "xmp-data", boxes["xmp"])
    return pyvips.Image.new_from_buffer(image.pngsave_buffer(keep=pyvips.enums.ForeignKeep.ALL), "")


def pixel(image: pyvips.Image, x: int, y: int) -> list[float]:
    return [float(v) for v in image.getpoint(x, y)]


def near(actual: list[float], expected: tuple[float, ...] | list[float], tolerance: float = 12) -> bool:
    """Every band within ``tolerance`` (lossy codecs and resampling move values a little)."""
    return len(actual) >= len(expected) and all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=False))
