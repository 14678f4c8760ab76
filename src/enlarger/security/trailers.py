"""Data after the end of an image: the aCropalypse leak, found by parsing the structure.

Some editors (the Pixel Markup tool, Windows Snipping Tool) overwrote a file with a cropped
image without truncating it, so the bytes of the uncropped original follow the new image's end.
Decoders stop at the end marker and show the cropped picture; the tail can still be decoded
into what the editor cropped away. Anything delivered to strangers must therefore end where
the image ends.

The end is found by walking the format's structure, never by searching for marker bytes (an
end marker also occurs inside EXIF thumbnails, ICC profiles and compressed data):

- JPEG: segment by segment from SOI, skipping each marker segment by its length and each
  entropy-coded scan by its byte-stuffing rules, up to EOI;
- PNG: chunk by chunk (length, type, data, CRC) from the signature up to IEND;
- WebP: the RIFF container's declared size;
- GIF: block by block (header, colour tables, extensions, image data sub-blocks) up to the trailer.

Used by the engine (originals are only ever served as they are when they have no trailer) and
by the hosting API (stored originals keep their bytes; deliveries never carry a trailer).
"""

from __future__ import annotations

import struct

__all__ = ["image_end", "trailer_offset"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG markers that stand alone (no length field): TEM, RST0-7, SOI
_STANDALONE = {0x01, *range(0xD0, 0xD8), 0xD8}


def _jpeg_end(data: bytes) -> int | None:
    if not data.startswith(b"\xff\xd8"):
        return None
    pos, size = 2, len(data)
    while pos < size:
        if data[pos] != 0xFF:
            return None  # garbage between segments: the structure is broken
        while pos < size and data[pos] == 0xFF:  # fill bytes before a marker are allowed
            pos += 1
        if pos >= size:
            return None
        marker = data[pos]
        pos += 1
        if marker == 0xD9:
            return pos
        if marker in _STANDALONE:
            continue
        if marker == 0x00 or pos + 2 > size:
            return None
        length = struct.unpack_from(">H", data, pos)[0]
        if length < 2:
            return None
        pos += length
        if pos > size:
            return None
        if marker == 0xDA:  # start of scan: entropy-coded data follows the header
            scan_end = _scan_end(data, pos)
            if scan_end is None:
                return None
            pos = scan_end
    return None


def _scan_end(data: bytes, pos: int) -> int | None:
    """Position of the marker ending an entropy-coded scan (FF00 is a stuffed byte, FFD0-D7 restarts)."""
    size = len(data)
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= size:
            return None
        following = data[pos + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            pos += 1 if following == 0xFF else 2
            continue
        return pos


def _png_end(data: bytes) -> int | None:
    if not data.startswith(_PNG_SIGNATURE):
        return None
    pos, size = len(_PNG_SIGNATURE), len(data)
    while pos + 8 <= size:
        length: int = struct.unpack_from(">I", data, pos)[0]
        kind = data[pos + 4 : pos + 8]
        if length > 0x7FFFFFFF:
            return None
        pos += 12 + length
        if pos > size:
            return None
        if kind == b"IEND":
            return pos
    return None


def _webp_end(data: bytes) -> int | None:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    end: int = 8 + struct.unpack_from("<I", data, 4)[0]
    end += end & 1  # RIFF pads odd sizes
    return end if end <= len(data) else None


def _gif_skip_sub_blocks(data: bytes, pos: int) -> int | None:
    size = len(data)
    while pos < size:
        length = data[pos]
        pos += 1 + length
        if length == 0:
            return pos
    return None


def _gif_end(data: bytes) -> int | None:
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 13:
        return None
    flags = data[10]
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    size = len(data)
    while pos < size:
        block = data[pos]
        if block == 0x3B:
            return pos + 1
        if block == 0x21:  # extension: label, then sub-blocks
            end = _gif_skip_sub_blocks(data, pos + 2)
        elif block == 0x2C:  # image descriptor, local colour table, LZW minimum code size, sub-blocks
            if pos + 10 > size:
                return None
            local = data[pos + 9]
            pos += 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0)
            end = _gif_skip_sub_blocks(data, pos + 1)
        else:
            return None
        if end is None:
            return None
        pos = end
    return None


def image_end(data: bytes) -> int | None:
    """Offset just past the image's end marker (JPEG EOI, PNG IEND, GIF trailer, WebP RIFF size).

    ``None`` when ``data`` is not one of these formats or its structure cannot be followed to the
    end (truncated or damaged: the decoder then reports the damage).
    """
    for find in (_jpeg_end, _png_end, _webp_end, _gif_end):
        end = find(data)
        if end is not None:
            return end
    return None


def trailer_offset(data: bytes) -> int | None:
    """Where bytes after the image's end begin, or ``None`` when the image ends the data.

    Also ``None`` for data whose structure cannot be followed (see :func:`image_end`).
    """
    end = image_end(data)
    return end if end is not None and end < len(data) else None
