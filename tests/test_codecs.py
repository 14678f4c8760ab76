"""codecs: sniffing by content, header probing, limits from headers, and decoding (orientation, colour, depth)."""

from __future__ import annotations

import io
import random
import re
import struct
import subprocess
import sys
import warnings
import zlib
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import pillow_heif
import pylibjxl
import pytest
import pyvips
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from PIL import Image

from enlarger import codecs
from enlarger.codecs import Header
from enlarger.errors import (
    CorruptImageError,
    EnlargerError,
    InputTooLargeError,
    ProcessingError,
    UnsupportedFormatError,
)
from enlarger.formats import Format, spec_of, trailer_offset
from enlarger.job import Result
from enlarger.pipeline import transform
from enlarger.settings import Settings
from tests.imaging import (
    BLUE,
    GREEN,
    RED,
    WHITE,
    animation,
    coloured_frames,
    decode,
    gradient,
    near,
    pixel,
    quadrants,
    save,
    solid,
    with_orientation,
)

# --- image builders: everything is made here, by code ---------------------------------------


def _to_pillow(image: pyvips.Image) -> Image.Image:
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[image.bands]
    return Image.frombytes(mode, (image.width, image.height), image.cast("uchar").write_to_memory())


def _heic(image: pyvips.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    pillow_heif.from_pillow(_to_pillow(image)).save(buf, quality=quality)
    data: bytes = buf.getvalue()
    return data


def _jxl(image: pyvips.Image, *, container: bool = False) -> bytes:
    """A libjxl-written JPEG XL: a bare codestream, or (with an Exif box) the ISO-BMFF container."""
    pixels = np.ndarray(buffer=image.write_to_memory(), dtype=np.uint8, shape=(image.height, image.width, image.bands))
    exif = b"\x00\x00\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00" if container else None
    return bytes(pylibjxl.encode(pixels, effort=3, distance=1.0, exif=exif))


def _bmp(image: pyvips.Image, mode: str | None = None) -> bytes:
    """A Pillow-written BMP (24-bit, or 8-bit palette with ``mode="P"``)."""
    pil = _to_pillow(image)
    if mode is not None:
        pil = pil.convert(mode)
    buf = io.BytesIO()
    pil.save(buf, format="BMP")
    return buf.getvalue()


def _bmp_rgba(image: pyvips.Image) -> bytes:
    """A 32-bit BMP with a BITMAPV4HEADER and an alpha bit mask (Pillow cannot write one)."""
    width, height = image.width, image.height
    raw = image.cast("uchar").write_to_memory()
    rows = []
    for y in range(height - 1, -1, -1):  # bottom-up
        row = raw[y * width * 4 : (y + 1) * width * 4]
        rows.append(b"".join(bytes((row[i + 2], row[i + 1], row[i], row[i + 3])) for i in range(0, len(row), 4)))
    pixels = b"".join(rows)
    dib = struct.pack("<IiiHHIIiiII", 108, width, height, 1, 32, 3, len(pixels), 2835, 2835, 0, 0)
    dib += struct.pack("<IIII", 0x00FF0000, 0x0000FF00, 0x000000FF, 0xFF000000)
    dib += b"BGRs" + bytes(36) + bytes(12)
    offset = 14 + len(dib)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + dib + pixels


def _tiff(image: pyvips.Image, *, big_endian: bool) -> bytes:
    """A minimal uncompressed 8-bit RGB(A) TIFF in either byte order (libvips only writes native order)."""
    e = ">" if big_endian else "<"
    width, height, bands = image.width, image.height, image.bands
    pixels: bytes = image.cast("uchar").write_to_memory()
    bps_offset = 8 + len(pixels)
    ifd_offset = bps_offset + 2 * bands + (2 * bands) % 4
    entries: list[tuple[int, int, int, int]] = [
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, bands, bps_offset),
        (259, 3, 1, 1),  # no compression
        (262, 3, 1, 2),  # RGB
        (273, 4, 1, 8),  # strip offset
        (277, 3, 1, bands),
        (278, 4, 1, height),
        (279, 4, 1, len(pixels)),
    ]
    if bands == 4:
        entries.append((338, 3, 1, 2))  # unassociated alpha
    ifd = struct.pack(e + "H", len(entries))
    for tag, kind, count, value in entries:
        if kind == 3 and count == 1:
            ifd += struct.pack(e + "HHIHH", tag, kind, count, value, 0)
        else:
            ifd += struct.pack(e + "HHII", tag, kind, count, value)
    ifd += struct.pack(e + "I", 0)
    magic = b"MM\x00*" if big_endian else b"II*\x00"
    bps = struct.pack(e + "H" * bands, *([8] * bands)).ljust(ifd_offset - bps_offset, b"\0")
    return magic + struct.pack(e + "I", ifd_offset) + pixels + bps + ifd


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _png_declaring(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG header (valid CRCs) that declares ``width`` × ``height`` RGB pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _png_chunk(b"IEND", b"")
    )


def _jpeg_declaring(width: int, height: int) -> bytes:
    data = save(gradient(48, 32), "jpeg")
    sof = re.search(rb"\xff[\xc0\xc2]", data)
    assert sof is not None
    i = sof.start()
    return data[: i + 5] + struct.pack(">HH", height, width) + data[i + 9 :]


def _gif_declaring(width: int, height: int) -> bytes:
    """Patch both the logical screen and the first image descriptor."""
    data = save(gradient(48, 32), "gif")
    flags = data[10]
    p = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
    while data[p] == 0x21:  # skip extension blocks
        q = p + 2
        while data[q]:
            q += data[q] + 1
        p = q + 1
    assert data[p] == 0x2C
    return (
        data[:6]
        + struct.pack("<HH", width, height)
        + data[10 : p + 1]
        + struct.pack("<HHHH", 0, 0, width, height)
        + data[p + 9 :]
    )


def _tiff_declaring(width: int, height: int) -> bytes:
    return _tiff_patched(_tiff(gradient(48, 32), big_endian=False), width, height)


def _tiff_patched(data: bytes, width: int, height: int) -> bytes:
    out = bytearray(data)
    ifd = struct.unpack("<I", data[4:8])[0]
    for k in range(struct.unpack("<H", data[ifd : ifd + 2])[0]):
        entry = ifd + 2 + 12 * k
        tag = struct.unpack("<H", data[entry : entry + 2])[0]
        if tag in (256, 257):
            out[entry + 8 : entry + 12] = struct.pack("<I", width if tag == 256 else height)
    return bytes(out)


def _with_ispe(data: bytes, width: int, height: int) -> bytes:
    """Rewrite every ``ispe`` (image spatial extents) box of an AVIF/HEIC file."""
    out = bytearray(data)
    for match in re.finditer(b"ispe", data):
        i = match.start() + 8  # after the type and version/flags
        out[i : i + 8] = struct.pack(">II", width, height)
    return bytes(out)


def _avif_declaring(width: int, height: int) -> bytes:
    return _with_ispe(save(gradient(48, 32), "avif"), width, height)


def _heic_declaring(width: int, height: int) -> bytes:
    # 64×64 has no clean-aperture crop, so ispe is the size libheif reports
    return _with_ispe(_heic(solid(64, 64, (200, 10, 10))), width, height)


def _bmp_declaring(width: int, height: int) -> bytes:
    data = _bmp(gradient(48, 32))
    return data[:18] + struct.pack("<ii", width, height) + data[26:]


def _load(data: bytes, target: tuple[int, int], *, all_frames: bool = False) -> pyvips.Image:
    image = codecs.load(data, codecs.probe(data), target, all_frames=all_frames)
    return image.copy_memory()


def _corners(image: pyvips.Image, inset: int = 3) -> list[list[float]]:
    w, h = image.width, image.height
    points = ((inset, inset), (w - 1 - inset, inset), (inset, h - 1 - inset), (w - 1 - inset, h - 1 - inset))
    return [pixel(image, x, y) for x, y in points]


def _max_diff(a: pyvips.Image, b: pyvips.Image) -> float:
    return float((a.cast("float") - b.cast("float")).abs().max())


def _mean_diff(a: pyvips.Image, b: pyvips.Image) -> float:
    return float((a.cast("float") - b.cast("float")).abs().avg())


QUAD = [RED, GREEN, BLUE, WHITE]

BUILDERS: dict[str, tuple[str, Callable[[], bytes]]] = {
    "jpeg": ("jpeg", lambda: save(quadrants(64, 32), "jpeg")),
    "png": ("png", lambda: save(quadrants(64, 32), "png")),
    "gif": ("gif", lambda: save(quadrants(64, 32), "gif")),
    "webp": ("webp", lambda: save(quadrants(64, 32), "webp")),
    "avif": ("avif", lambda: save(quadrants(64, 32), "avif")),
    "heic": ("heic", lambda: _heic(quadrants(64, 32))),
    "jxl-codestream": ("jxl", lambda: _jxl(quadrants(64, 32))),
    "jxl-container": ("jxl", lambda: _jxl(quadrants(64, 32), container=True)),
    "tiff-little-endian": ("tiff", lambda: _tiff(quadrants(64, 32), big_endian=False)),
    "tiff-big-endian": ("tiff", lambda: _tiff(quadrants(64, 32), big_endian=True)),
    "tiff-libvips": ("tiff", lambda: save(quadrants(64, 32), "tif")),
    "bmp": ("bmp", lambda: _bmp(quadrants(64, 32))),
    "bmp-rgba": ("bmp", lambda: _bmp_rgba(quadrants(64, 32, alpha=True))),
}


# --- sniff ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(BUILDERS))
def test_sniff_identifies_each_format_by_its_magic_bytes(case: str) -> None:
    expected, build = BUILDERS[case]
    data = build()
    assert codecs.sniff(data) == expected
    header = codecs.probe(data)
    assert header.format == expected
    assert header.media_type == spec_of(expected).media_type
    assert (header.width, header.height) == (64, 32)


def test_both_tiff_byte_orders_decode_to_the_same_pixels() -> None:
    little = _tiff(quadrants(8, 8), big_endian=False)
    big = _tiff(quadrants(8, 8), big_endian=True)
    assert (little[:4], big[:4]) == (b"II*\x00", b"MM\x00*")  # the two orders the test means
    outputs = [decode(transform(data, "format=png").data) for data in (little, big)]
    assert [codecs.probe(data).format for data in (little, big)] == ["tiff", "tiff"]
    assert outputs[0].write_to_memory() == outputs[1].write_to_memory()
    assert pixel(outputs[1], 1, 1) == pixel(decode(save(quadrants(8, 8), "png")), 1, 1)


def test_names_never_matter(tmp_path: Path) -> None:
    misnamed = {
        "photo.jpg": save(quadrants(40, 20), "png"),
        "image.png": save(quadrants(40, 20), "gif"),
        "picture.gif": save(quadrants(40, 20), "webp"),
        "no-extension": save(quadrants(40, 20), "jpeg"),
        "scan.bmp": _tiff(quadrants(40, 20), big_endian=True),
    }
    expected = {
        "photo.jpg": "png",
        "image.png": "gif",
        "picture.gif": "webp",
        "no-extension": "jpeg",
        "scan.bmp": "tiff",
    }
    for name, data in misnamed.items():
        (tmp_path / name).write_bytes(data)
    for name in misnamed:
        data = (tmp_path / name).read_bytes()
        assert codecs.sniff(data) == expected[name], name
        result = transform(data, "width=20")
        assert (result.width, result.height) == (20, 10)


def test_sniff_rejects_empty_input() -> None:
    with pytest.raises(UnsupportedFormatError) as info:
        codecs.sniff(b"")
    assert info.value.status == 415
    assert info.value.code == 9412  # Cloudflare: "the requested file is not an image"
    with pytest.raises(UnsupportedFormatError):
        transform(b"", "width=10")


_NOT_IMAGES = {
    "random": random.Random(7).randbytes(4096),
    "text": b"Hello, this is plain text and certainly not an image.\n" * 10,
    "pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n",
    "text-starting-with-BM": b"BMW and other cars are not bitmaps, whatever their first two letters say.",
    "wav": b"RIFF$\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00D\xac\x00\x00\x88X\x01\x00\x02\x00\x10\x00",
    "mp4": b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2mp41" + bytes(64),
    "html": b"<!DOCTYPE html><html><body>404 not found</body></html>",
    "json": b'{"error": "not found"}',
    "two-bytes-of-jpeg": b"\xff\xd8",
    "gif-prefix": b"GIF8",
}


@pytest.mark.parametrize("name", list(_NOT_IMAGES))
def test_sniff_rejects_non_images(name: str) -> None:
    data = _NOT_IMAGES[name]
    with pytest.raises(UnsupportedFormatError) as info:
        codecs.sniff(data)
    assert info.value.status == 415
    with pytest.raises(UnsupportedFormatError):
        codecs.probe(data)
    with pytest.raises(UnsupportedFormatError):
        transform(data, "width=10")


def test_isobmff_brands_decide_between_avif_heic_and_other() -> None:
    def ftyp(major: bytes, *compatible: bytes) -> bytes:
        body = b"ftyp" + major + b"\0\0\0\0" + b"".join(compatible)
        return struct.pack(">I", 4 + len(body)) + body + bytes(32)

    assert codecs.sniff(ftyp(b"avif", b"mif1", b"avif")) == "avif"
    assert codecs.sniff(ftyp(b"mif1", b"mif1", b"avif", b"miaf")) == "avif"
    assert codecs.sniff(ftyp(b"avis", b"avis", b"msf1")) == "avif"
    assert codecs.sniff(ftyp(b"heic", b"mif1", b"heic")) == "heic"
    assert codecs.sniff(ftyp(b"mif1", b"mif1", b"heix")) == "heic"
    for other in (ftyp(b"isom", b"isom", b"mp41"), ftyp(b"qt  ", b"qt  "), ftyp(b"mif1", b"mif1", b"jpeg")):
        with pytest.raises(UnsupportedFormatError):
            codecs.sniff(other)


# --- probe ----------------------------------------------------------------------------------

_PROBE_TABLE: dict[str, tuple[Callable[[], bytes], Format, int, int, int, bool]] = {
    # name: (builder, format, width, height, frames, has_alpha)
    "jpeg": (lambda: save(gradient(120, 80), "jpeg"), "jpeg", 120, 80, 1, False),
    "png": (lambda: save(gradient(120, 80), "png"), "png", 120, 80, 1, False),
    "png-alpha": (lambda: save(quadrants(120, 80, alpha=True), "png"), "png", 120, 80, 1, True),
    "png-grey": (lambda: save(gradient(120, 80).colourspace("b-w"), "png"), "png", 120, 80, 1, False),
    "gif": (lambda: save(gradient(120, 80), "gif"), "gif", 120, 80, 1, False),
    "gif-transparent": (lambda: save(quadrants(120, 80, alpha=True) * [1, 1, 1, 0], "gif"), "gif", 120, 80, 1, True),
    "gif-animated": (lambda: animation(coloured_frames(60, 40, [RED, GREEN, BLUE])), "gif", 60, 40, 3, True),
    "webp": (lambda: save(gradient(120, 80), "webp"), "webp", 120, 80, 1, False),
    "webp-alpha": (lambda: save(solid(120, 80, (255, 0, 0, 100)), "webp"), "webp", 120, 80, 1, True),
    "webp-animated": (
        lambda: animation(coloured_frames(60, 40, [RED, GREEN, BLUE, WHITE]), "webp"),
        "webp",
        60,
        40,
        4,
        False,
    ),
    "avif": (lambda: save(gradient(120, 80), "avif"), "avif", 120, 80, 1, False),
    "avif-alpha": (lambda: save(solid(120, 80, (255, 0, 0, 100)), "avif"), "avif", 120, 80, 1, True),
    "tiff": (lambda: save(gradient(120, 80), "tif"), "tiff", 120, 80, 1, False),
    "tiff-big-endian-alpha": (
        lambda: _tiff(solid(120, 80, (0, 0, 255, 50)), big_endian=True),
        "tiff",
        120,
        80,
        1,
        True,
    ),
    "heic": (lambda: _heic(gradient(120, 80)), "heic", 120, 80, 1, False),
    "heic-alpha": (lambda: _heic(solid(120, 80, (255, 0, 0, 100))), "heic", 120, 80, 1, True),
    "bmp": (lambda: _bmp(gradient(120, 80)), "bmp", 120, 80, 1, False),
    "bmp-palette": (lambda: _bmp(gradient(120, 80), "P"), "bmp", 120, 80, 1, False),
    "bmp-alpha": (lambda: _bmp_rgba(solid(120, 80, (255, 0, 0, 100))), "bmp", 120, 80, 1, True),
}


@pytest.mark.parametrize("name", list(_PROBE_TABLE))
def test_probe_reports_the_header(name: str) -> None:
    build, fmt, width, height, frames, alpha = _PROBE_TABLE[name]
    data = build()
    header = codecs.probe(data)
    assert header == Header(fmt, width, height, frames, alpha, len(data), 1)
    assert header.animated is (frames > 1)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_probe_reports_oriented_dimensions(orientation: int) -> None:
    data = with_orientation(quadrants(120, 60), orientation)
    header = codecs.probe(data)
    assert header.orientation == orientation
    expected = (60, 120) if orientation >= 5 else (120, 60)
    assert (header.width, header.height) == expected


def _damaged_png_header() -> bytes:
    data = save(gradient(64, 48), "png")
    return data[:16] + b"\x7f\x7f" + data[18:]  # width changed, CRC not


_DAMAGED_HEADERS: dict[str, Callable[[], bytes]] = {
    "png-cut-in-ihdr": lambda: save(gradient(64, 48), "png")[:20],
    "png-ihdr-crc-mismatch": _damaged_png_header,
    "png-zero-width": lambda: _png_declaring(0, 10),
    "jpeg-cut-in-header": lambda: save(gradient(64, 48), "jpeg")[:40],
    "gif-random-after-magic": lambda: b"GIF89a" + random.Random(3).randbytes(300),
    "gif-magic-only": lambda: b"GIF89a",
    "webp-cut": lambda: save(gradient(64, 48), "webp")[:40],
    "avif-cut": lambda: save(gradient(64, 48), "avif")[:120],
    "tiff-cut": lambda: save(gradient(64, 48), "tif")[:100],
    "tiff-ifd-random": lambda: b"II*\x00\x08\x00\x00\x00" + random.Random(5).randbytes(200),
    "heic-cut": lambda: _heic(gradient(64, 48))[:100],
    "bmp-dib-only": lambda: _bmp(gradient(64, 48))[:20],
}


@pytest.mark.parametrize("name", list(_DAMAGED_HEADERS))
def test_probe_rejects_damaged_headers_as_corrupt(name: str) -> None:
    data = _DAMAGED_HEADERS[name]()
    with pytest.raises(CorruptImageError) as info:
        codecs.probe(data)
    assert info.value.status == 415
    assert info.value.code == 9520
    with pytest.raises(CorruptImageError):
        transform(data, "width=50")


def _png_with_garbled_idat() -> bytes:
    data = bytearray(save(gradient(64, 48), "png"))
    start = data.index(b"IDAT")
    length = struct.unpack(">I", data[start - 4 : start])[0]
    for k in range(start + 6, start + 4 + length):  # keep the zlib header, scramble the stream
        data[k] ^= 0x5A
    # with a matching CRC, so the structure is sound and only the decoder can find the damage
    crc = zlib.crc32(data[start : start + 4 + length])
    struct.pack_into(">I", data, start + 4 + length, crc)
    return bytes(data)


def _jpeg_cut_in_scan() -> bytes:
    data = save(gradient(320, 240), "jpeg", Q=95)
    sos = data.index(b"\xff\xda")
    return data[: sos + (len(data) - sos) // 2]


@cache
def _truncation_sources() -> dict[str, bytes]:
    image = gradient(96, 64)
    return {
        "jpeg": save(image, "jpeg", Q=95),
        "png": save(image, "png"),
        "gif": save(image, "gif"),
        "webp": save(image, "webp"),
        "avif": save(image, "avif"),
        "tiff": save(image, "tif"),
        "heic": _heic(image),
        "bmp": _bmp(image),
        "gif-animated": animation(coloured_frames(48, 32, [RED, GREEN, BLUE])),
        "webp-animated": animation(coloured_frames(48, 32, [RED, GREEN, BLUE]), "webp"),
    }


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("fmt", ["jpeg", "png", "gif", "webp", "avif", "tiff", "heic", "bmp", "webp-animated"])
def test_truncated_images_are_corrupt_never_partial(fmt: str, fraction: float) -> None:
    data = _truncation_sources()[fmt]
    cut = data[: int(len(data) * fraction)]
    with pytest.raises(CorruptImageError) as info:
        transform(cut, "width=50")
    assert info.value.status == 415


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.99])
def test_truncated_animated_gif_is_corrupt_not_silently_shortened(keep: float) -> None:
    """Cutting the data mid-animation must not turn frames into copies of earlier ones (or drop them)."""
    data = _truncation_sources()["gif-animated"]
    assert data.endswith(b";")
    with pytest.raises(CorruptImageError):
        transform(data[: int(len(data) * keep)], "width=24")


@pytest.mark.parametrize(
    "build", [_png_with_garbled_idat, _jpeg_cut_in_scan], ids=["png-garbled-idat", "jpeg-cut-in-scan"]
)
def test_damaged_pixel_data_is_corrupt(build: Callable[[], bytes]) -> None:
    data = build()
    codecs.probe(data)  # the header itself is fine
    with pytest.raises(CorruptImageError) as info:
        transform(data, "width=50")
    assert info.value.status == 415
    assert "damaged or truncated" in info.value.message


def test_avif_with_non_utf8_metadata_item_type_is_handled() -> None:
    """libvips names a field after the item type (``heif-Exi\\xfc-0``); pyvips cannot decode that name."""
    data = save(gradient(48, 32), "avif")
    assert data.count(b"Exif") >= 1
    damaged = data.replace(b"\x00\x00Exif", b"\x00\x00Exi\xfc", 1)
    assert damaged != data
    _assert_result_or_enlarger_error(codecs.probe, damaged)
    _assert_result_or_enlarger_error(lambda d: transform(d, "width=50"), damaged)


def _assert_result_or_enlarger_error(call: Callable[[bytes], object], data: bytes) -> None:
    """Bad input ends in a client error (4xx, never a 5xx) or in an output that decodes."""
    outcome: object
    try:
        outcome = call(data)
    except EnlargerError as error:
        outcome = error
    if isinstance(outcome, EnlargerError):
        assert 400 <= outcome.status < 500, f"{type(outcome).__name__} ({outcome.status}): {outcome.message}"
        return
    assert isinstance(outcome, Header | Result)
    if isinstance(outcome, Result):
        output = decode(outcome.data)
        assert (output.width, output.height // outcome.frames) == (outcome.width, outcome.height)
        assert trailer_offset(outcome.data) is None


@cache
def _fuzz_seeds() -> tuple[bytes, ...]:
    image = gradient(40, 24)
    tagged = image.copy()
    tagged.set_type(pyvips.GValue.gint_type, "orientation", 6)
    return (
        save(image, "jpeg"),
        bytes(tagged.jpegsave_buffer(keep=pyvips.enums.ForeignKeep.EXIF)),
        save(image, "png"),
        save(quadrants(40, 24, alpha=True), "png"),
        save(image, "gif"),
        animation(coloured_frames(16, 12, [RED, GREEN, BLUE])),
        save(image, "webp"),
        animation(coloured_frames(16, 12, [RED, GREEN, BLUE]), "webp"),
        save(image, "avif"),
        save(image, "tif"),
        _tiff(image, big_endian=True),
        _heic(image),
        _bmp(image),
        _bmp_rgba(quadrants(40, 24, alpha=True)),
    )


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    seeds = _fuzz_seeds()
    data = bytearray(seeds[draw(st.integers(0, len(seeds) - 1))])
    for _ in range(draw(st.integers(0, 6))):
        # half of the edits land in the first 64 bytes, where the headers are
        position = draw(st.one_of(st.integers(0, 63), st.integers(0, 1 << 20))) % len(data)
        edit = draw(st.sampled_from(["set", "insert", "delete"]))
        value = draw(st.integers(0, 255))
        if edit == "set":
            data[position] = value
        elif edit == "insert":
            data[position:position] = bytes([value]) * draw(st.integers(1, 16))
        else:
            del data[position : position + draw(st.integers(1, 16))]
        if not data:
            break
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, max(0, len(data) - 1)))]
    return bytes(data)


@hyp_settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_mutated())
def test_damaged_input_gives_a_result_or_an_enlarger_error(data: bytes) -> None:
    _assert_result_or_enlarger_error(codecs.probe, data)
    _assert_result_or_enlarger_error(lambda d: transform(d, "width=50"), data)


# --- limits ---------------------------------------------------------------------------------


def test_check_input_size_refuses_oversize_bytes_before_sniffing() -> None:
    limited = Settings(max_input_bytes=1000)
    codecs.check_input_size(b"\0" * 1000, limited)
    with pytest.raises(InputTooLargeError) as info:
        codecs.check_input_size(b"\0" * 1001, limited)
    assert info.value.status == 413
    assert info.value.code == 9402
    # garbage over the limit is refused for its size, not its format: nothing was sniffed
    with pytest.raises(InputTooLargeError):
        transform(b"not an image " * 100, "width=10", settings=limited)
    big_png = save(gradient(200, 200), "png")
    assert len(big_png) > 1000
    with pytest.raises(InputTooLargeError):
        transform(big_png, "width=10", settings=limited)
    assert transform(big_png, "width=10").width == 10


def test_default_byte_limit_is_100_mb() -> None:
    """Cloudflare's limits page (get-started/limits.mdx): remote images up to 100 MB."""
    settings = Settings()
    assert settings.max_input_bytes == 100 * 1024 * 1024
    codecs.check_input_size(bytes(100 * 1024 * 1024), settings)
    with pytest.raises(InputTooLargeError):
        codecs.check_input_size(bytes(100 * 1024 * 1024 + 1), settings)


_HUGE = 30_000

_DECLARING: dict[str, Callable[[int, int], bytes]] = {
    "png": _png_declaring,
    "jpeg": _jpeg_declaring,
    "gif": _gif_declaring,
    "tiff": _tiff_declaring,
    "avif": _avif_declaring,
    "heic": _heic_declaring,
    "bmp": _bmp_declaring,
}


@pytest.mark.parametrize("fmt", list(_DECLARING))
def test_a_header_declaring_a_huge_image_is_refused_before_decoding(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _DECLARING[fmt](_HUGE, _HUGE)
    assert len(data) < 10_000
    decoded = _decoder_calls(monkeypatch)
    header = codecs.probe(data)
    assert (header.width, header.height) == (_HUGE, _HUGE)
    with pytest.raises(InputTooLargeError) as info:
        codecs.check_limits(header, Settings(), all_frames=False)
    assert info.value.status == 403  # Cloudflare's table: 9413 with 403
    assert info.value.code == 9413
    with pytest.raises(InputTooLargeError):
        transform(data, "width=100")
    assert decoded == []


def test_a_declared_image_within_limits_is_not_refused() -> None:
    header = codecs.probe(_png_declaring(10_000, 10_000))  # exactly 100 MP
    codecs.check_limits(header, Settings(), all_frames=True)
    with pytest.raises(InputTooLargeError):
        codecs.check_limits(codecs.probe(_png_declaring(10_001, 10_000)), Settings(), all_frames=False)


def test_avif_declaring_a_width_beyond_libvips_range_is_a_client_error() -> None:
    """libvips cannot represent a width above 100,000,000 and silently reports 1 instead."""
    data = _avif_declaring(500_000_000, 32)
    with pytest.raises(EnlargerError) as transformed:
        transform(data, "width=50")
    assert not isinstance(transformed.value, ProcessingError), transformed.value.message
    assert transformed.value.status in (403, 415)
    with pytest.raises((InputTooLargeError, CorruptImageError)):
        _probe_and_check(data, Settings())


def _probe_and_check(data: bytes, settings: Settings) -> None:
    codecs.check_limits(codecs.probe(data), settings, all_frames=False)


def test_custom_pixel_limit_is_respected(quad_png: bytes) -> None:
    header = codecs.probe(quad_png)  # 200 × 100
    codecs.check_limits(header, Settings(max_input_pixels=20_000), all_frames=False)
    with pytest.raises(InputTooLargeError) as info:
        codecs.check_limits(header, Settings(max_input_pixels=19_999), all_frames=False)
    assert "20,000" in info.value.message
    with pytest.raises(InputTooLargeError):
        transform(quad_png, "width=50", settings=Settings(max_input_pixels=19_999))


def test_animation_limit_counts_frames_only_when_all_frames_are_kept() -> None:
    data = animation(coloured_frames(40, 30, [RED, GREEN, BLUE]))  # 3 × 1200 = 3600 pixels
    header = codecs.probe(data)
    assert header.frames == 3
    tight = Settings(max_animation_pixels=3599)
    with pytest.raises(InputTooLargeError) as info:
        codecs.check_limits(header, tight, all_frames=True)
    assert info.value.status == 403
    codecs.check_limits(header, tight, all_frames=False)
    codecs.check_limits(header, Settings(max_animation_pixels=3600), all_frames=True)
    # through the engine: delivered untransformed with anim (Cloudflare), transformed as a first frame
    assert transform(data, "width=20", settings=tight).data == data
    still = transform(data, "width=20,anim=false", settings=tight)
    assert (still.width, still.height, still.frames) == (20, 15, 1)


def test_animation_limit_ignores_still_images() -> None:
    header = codecs.probe(save(gradient(100, 100), "png"))
    codecs.check_limits(header, Settings(max_animation_pixels=10), all_frames=True)


def test_default_animation_limit_is_50_megapixels() -> None:
    header = Header("gif", 1000, 1000, 51, True, 1000)
    with pytest.raises(InputTooLargeError):
        codecs.check_limits(header, Settings(), all_frames=True)
    codecs.check_limits(Header("gif", 1000, 1000, 50, True, 1000), Settings(), all_frames=True)


# --- load -----------------------------------------------------------------------------------


def test_load_shrinks_to_the_target_size(photo_jpeg: bytes) -> None:
    image = _load(photo_jpeg, (80, 60))
    assert (image.width, image.height, image.bands) == (80, 60, 3)
    assert image.format == "uchar"
    assert image.interpretation == "srgb"
    expected = gradient(320, 240).resize(0.25)
    assert _mean_diff(image, expected) < 4


def test_load_forces_the_exact_target(quad_png: bytes) -> None:
    image = _load(quad_png, (100, 100))
    assert (image.width, image.height) == (100, 100)
    assert all(near(c, q) for c, q in zip(_corners(image), QUAD, strict=True))


# the stored pixels such that applying EXIF orientation n shows the quadrants upright
_STORED_FOR: dict[int, Callable[[pyvips.Image], pyvips.Image]] = {
    1: lambda i: i,
    2: lambda i: i.fliphor(),
    3: lambda i: i.rot180(),
    4: lambda i: i.flipver(),
    5: lambda i: i.rot90().fliphor(),  # transpose
    6: lambda i: i.rot270(),  # displayed after a 90° clockwise turn
    7: lambda i: i.rot270().fliphor(),  # transverse
    8: lambda i: i.rot90(),
}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_load_applies_exif_orientation(orientation: int) -> None:
    data = with_orientation(_STORED_FOR[orientation](quadrants(200, 100)), orientation)
    image = _load(data, (100, 50))
    assert (image.width, image.height) == (100, 50)
    corners = _corners(image)
    assert all(near(c, q, 20) for c, q in zip(corners, QUAD, strict=True)), corners
    assert "orientation" not in image.get_fields() or image.get("orientation") == 1


# --- JPEG shrink-on-load (DCT scaling) ------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        # (source size, target size, factor at margins 2.0 (libvips thumbnail), 1.5 (default), 1.0 (imgproxy))
        ((1920, 1200), (800, 500), (1, 1, 2)),  # shrink 2.4
        ((2560, 1600), (800, 500), (1, 2, 2)),  # shrink 3.2
        ((3840, 2160), (600, 338), (2, 4, 4)),  # shrink 6.39 (the smaller axis decides)
        ((6000, 4000), (1000, 500), (2, 4, 4)),  # shrink 6 (height would allow 8)
        ((6000, 4000), (300, 200), (8, 8, 8)),  # shrink 20: 1/8 is the decoder's limit
        ((1000, 800), (1000, 800), (1, 1, 1)),
        ((500, 400), (1000, 800), (1, 1, 1)),  # enlarging
    ],
)
def test_jpeg_shrink_leaves_the_margin_for_lanczos(
    source: tuple[int, int], target: tuple[int, int], expected: tuple[int, int, int]
) -> None:
    header = Header("jpeg", source[0], source[1], 1, False, 1000)
    assert tuple(codecs.jpeg_shrink(header, target, margin) for margin in (2.0, 1.5, 1.0)) == expected


def test_jpeg_shrink_margin_2_is_libvips_thumbnail_exactly() -> None:
    data = save(gradient(640, 480), "jpeg", Q=90)  # shrink 6.4: libvips' own rule loads it at 1/2 too
    ours = _load_with(data, (100, 75), margin=2.0)
    theirs = pyvips.Image.thumbnail_buffer(data, 100, height=75, size="force").copy_memory()
    assert _max_diff(ours, theirs) == 0


@pytest.mark.parametrize("margin", [1.0, 1.5, 2.0])
def test_jpeg_shrink_on_load_gives_the_exact_size_and_the_same_picture(margin: float) -> None:
    # 1001×751 at 1/2 decodes to 501×376 (libjpeg rounds up): the resize must still land on the target
    original = gradient(1001, 751)
    data = save(original, "jpeg", Q=95)
    image = _load_with(data, (300, 225), margin=margin)
    assert (image.width, image.height, image.bands, image.interpretation) == (300, 225, 3, "srgb")
    reference = original.resize(300 / 1001, vscale=225 / 751)
    assert _mean_diff(image, reference) < 2


@pytest.mark.parametrize("orientation", range(1, 9))
def test_jpeg_shrink_on_load_applies_exif_orientation(orientation: int) -> None:
    data = with_orientation(_STORED_FOR[orientation](quadrants(400, 200)), orientation)
    assert codecs.jpeg_shrink(codecs.probe(data), (40, 20), 1.5) == 4  # the DCT-scaled path
    image = _load(data, (40, 20))
    assert (image.width, image.height) == (40, 20)
    corners = _corners(image)
    assert all(near(c, q, 24) for c, q in zip(corners, QUAD, strict=True)), corners


def test_cmyk_jpeg_shrunk_on_load_decodes_to_srgb() -> None:
    original = _in_cmyk_gamut().resize(4)  # 256×192
    data = bytes(original.colourspace("cmyk").jpegsave_buffer(Q=95, keep=pyvips.enums.ForeignKeep.ICC))
    image = _load(data, (64, 48))  # shrink 4: loaded at 1/2
    assert (image.width, image.height, image.bands, image.interpretation) == (64, 48, 3, "srgb")
    assert _mean_diff(image, original.resize(0.25)) < 6


def test_jpeg_cut_short_is_corrupt_on_the_shrink_path_too() -> None:
    with pytest.raises(CorruptImageError) as info:
        transform(_jpeg_cut_in_scan(), "width=50")  # 320 px wide: loaded at 1/4
    assert info.value.status == 415


def test_the_engine_uses_the_jpeg_shrink_margin_setting() -> None:
    data = save(gradient(1000, 750), "jpeg", Q=95)
    direct = Settings(decode_cache_bytes=0)  # each decoded from the source, not from a decoded copy
    sharpest = transform(data, "width=300,format=png", settings=Settings(jpeg_shrink_margin=2.0, decode_cache_bytes=0))
    default = transform(data, "width=300,format=png", settings=direct)
    assert decode(sharpest.data).width == decode(default.data).width == 300
    # margin 2.0 decodes at full size, 1.5 at 1/2: same picture, not the same pixels
    assert 0 < _mean_diff(decode(sharpest.data), decode(default.data)) < 2
    loaded = _load_with(data, (300, 225), margin=2.0)
    assert _max_diff(decode(sharpest.data), loaded) == 0


def _load_with(data: bytes, target: tuple[int, int], *, margin: float) -> pyvips.Image:
    return codecs.load(data, codecs.probe(data), target, all_frames=False, shrink_margin=margin).copy_memory()


def _in_cmyk_gamut() -> pyvips.Image:
    return (gradient(64, 48) * 0.5 + 64).cast("uchar").copy(interpretation="srgb")


@pytest.mark.parametrize("keep_profile", [True, False], ids=["with-profile", "without-profile"])
def test_cmyk_jpeg_decodes_to_srgb(keep_profile: bool) -> None:
    original = _in_cmyk_gamut()
    keep = pyvips.enums.ForeignKeep.ICC if keep_profile else pyvips.enums.ForeignKeep.NONE
    data = bytes(original.colourspace("cmyk").jpegsave_buffer(Q=95, keep=keep))
    assert pyvips.Image.new_from_buffer(data, "").bands == 4
    image = _load(data, (64, 48))
    assert (image.bands, image.interpretation, image.format) == (3, "srgb", "uchar")
    assert _mean_diff(image, original) < 5
    for x, y in ((5, 5), (58, 5), (5, 42), (58, 42), (32, 24)):
        assert near(pixel(image, x, y), pixel(original, x, y), 16), (x, y)


def test_16_bit_png_becomes_8_bit_with_the_same_values() -> None:
    original = gradient(64, 48)
    deep = (original.cast("ushort") * 257).cast("ushort").copy(interpretation="rgb16")
    data = bytes(deep.pngsave_buffer(bitdepth=16))
    assert pyvips.Image.new_from_buffer(data, "").format == "ushort"
    image = _load(data, (64, 48))
    assert (image.bands, image.format, image.interpretation) == (3, "uchar", "srgb")
    assert _max_diff(image, original) <= 1


def test_16_bit_grey_png_becomes_8_bit_grey() -> None:
    original = gradient(64, 48).colourspace("b-w")
    deep = (original.cast("ushort") * 257).cast("ushort").copy(interpretation="grey16")
    image = _load(bytes(deep.pngsave_buffer(bitdepth=16)), (64, 48))
    assert (image.bands, image.format) == (1, "uchar")
    assert _max_diff(image, original) <= 1


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_embedded_p3_profile_is_converted_to_srgb(fmt: str) -> None:
    original = gradient(64, 48)
    p3 = original.icc_transform("p3")
    assert _max_diff(p3, original) > 40  # the stored numbers really differ from sRGB
    keep = pyvips.enums.ForeignKeep.ICC
    data = bytes(p3.pngsave_buffer(keep=keep) if fmt == "png" else p3.jpegsave_buffer(Q=95, keep=keep))
    image = _load(data, (64, 48))
    assert _mean_diff(image, original) < 3
    for x, y in ((56, 4), (8, 40), (56, 40), (32, 24)):
        assert near(pixel(image, x, y), pixel(original, x, y), 12), (x, y)
    assert "icc-profile-data" not in image.get_fields()


def test_heic_loads_through_pillow() -> None:
    original = gradient(128, 96)
    image = _load(_heic(original, quality=95), (64, 48))
    assert (image.width, image.height, image.bands, image.interpretation) == (64, 48, 3, "srgb")
    assert _mean_diff(image, original.resize(0.5)) < 6


def test_heic_with_alpha_keeps_alpha() -> None:
    image = _load(_heic(solid(64, 64, (255, 0, 0, 128))), (32, 32))
    assert image.bands == 4
    assert near(pixel(image, 16, 16), (255, 0, 0, 128), 8)


def test_bmp_loads_exactly() -> None:
    image = _load(_bmp(quadrants(80, 40)), (80, 40))
    assert (image.width, image.height, image.bands) == (80, 40, 3)
    assert _corners(image, 0) == [list(map(float, c)) for c in QUAD]


def test_bmp_with_alpha_keeps_alpha() -> None:
    source = quadrants(80, 40).bandjoin(128).cast("uchar")
    image = _load(_bmp_rgba(source), (40, 20))
    assert (image.width, image.height, image.bands) == (40, 20, 4)
    assert _corners(image, 2) == [[*map(float, c), 128.0] for c in QUAD]


def test_palette_bmp_loads_as_rgb() -> None:
    image = _load(_bmp(quadrants(80, 40), "P"), (80, 40))
    assert image.bands == 3
    assert all(near(c, q, 2) for c, q in zip(_corners(image), QUAD, strict=True))


def test_avif_loads_near_the_original() -> None:
    image = _load(save(quadrants(128, 64), "avif", Q=90), (64, 32))
    assert (image.width, image.height, image.bands) == (64, 32, 3)
    assert all(near(c, q, 20) for c, q in zip(_corners(image), QUAD, strict=True))


@pytest.mark.parametrize("big_endian", [False, True], ids=["little-endian", "big-endian"])
def test_tiff_loads_exactly_in_both_byte_orders(big_endian: bool) -> None:
    image = _load(_tiff(quadrants(80, 40), big_endian=big_endian), (80, 40))
    assert _corners(image, 0) == [list(map(float, c)) for c in QUAD]
    alpha = _load(_tiff(solid(20, 10, (0, 0, 255, 50)), big_endian=big_endian), (20, 10))
    assert alpha.bands == 4
    assert pixel(alpha, 5, 5) == [0.0, 0.0, 255.0, 50.0]


def test_grey_png_keeps_one_band() -> None:
    grey = gradient(64, 48).colourspace("b-w")
    image = _load(save(grey, "png"), (32, 24))
    assert (image.bands, image.interpretation) == (1, "b-w")
    assert near(pixel(image, 16, 12), pixel(grey.resize(0.5), 16, 12), 4)


def test_grey_alpha_png_keeps_two_bands() -> None:
    grey = gradient(64, 48).colourspace("b-w").bandjoin(77).cast("uchar")
    image = _load(save(grey, "png"), (32, 24))
    assert (image.bands, image.interpretation) == (2, "b-w")
    assert pixel(image, 10, 10)[1] == 77


def _grey() -> pyvips.Image:
    return gradient(64, 48).colourspace("b-w")


_NORMALISED_SOURCES: dict[str, Callable[[], bytes]] = {
    "jpeg-grey": lambda: save(_grey(), "jpeg"),
    "png-grey": lambda: save(_grey(), "png"),
    "png-grey-alpha": lambda: save(_grey().bandjoin(77).cast("uchar"), "png"),
    "webp-alpha": lambda: save(gradient(64, 48).bandjoin(100), "webp", lossless=True),
    "tiff-cmyk": lambda: bytes(gradient(64, 48).colourspace("cmyk").tiffsave_buffer()),
    "tiff-lab": lambda: bytes(gradient(64, 48).colourspace("lab").tiffsave_buffer()),
    "tiff-16-bit": lambda: bytes(
        (gradient(64, 48).cast("ushort") * 257).copy(interpretation="rgb16").tiffsave_buffer()
    ),
    "heic-grey": lambda: _heic(_grey()),
    "heic-rgba": lambda: _heic(quadrants(64, 48, alpha=True)),
    "bmp-palette": lambda: _bmp(quadrants(64, 48), "P"),
}


@pytest.mark.parametrize("name", list(_NORMALISED_SOURCES))
def test_load_gives_8_bit_srgb_or_grey(name: str) -> None:
    """What every later step expects: uchar, and 1–2 bands b-w or 3–4 bands sRGB."""
    data = _NORMALISED_SOURCES[name]()
    image = _load(data, (32, 24))
    assert image.format == "uchar"
    assert (image.bands, image.interpretation) in {(1, "b-w"), (2, "b-w"), (3, "srgb"), (4, "srgb")}
    assert bool(image.hasalpha()) is codecs.probe(data).has_alpha


def test_load_keeps_every_frame_when_asked() -> None:
    for fmt in ("gif", "webp"):
        data = animation(coloured_frames(40, 30, [RED, GREEN, BLUE]), fmt)
        frames = _load(data, (20, 15), all_frames=True)
        assert (frames.width, frames.height) == (20, 45), fmt
        assert frames.get("page-height") == 15
        for k, colour in enumerate((RED, GREEN, BLUE)):
            assert near(pixel(frames, 10, 7 + 15 * k), colour, 8), (fmt, k)
        first = _load(data, (20, 15), all_frames=False)
        assert (first.width, first.height) == (20, 15)
        assert near(pixel(first, 10, 7), RED, 8)


def test_truncated_jpeg_fails_to_load() -> None:
    data = _jpeg_cut_in_scan()
    with pytest.raises((CorruptImageError, pyvips.Error)):
        _load(data, (80, 60))  # raised by load or when the lazy image is evaluated
    with pytest.raises(CorruptImageError):
        transform(data, "width=80")


# --- decompression bombs: refused from headers, fast, without allocating -------------------


def _webp_declaring(width: int, height: int) -> bytes:
    """An animated WebP of two 16×16 frames whose VP8X canvas says ``width`` × ``height``."""
    data = animation(coloured_frames(16, 16, [RED, GREEN]), "webp")
    assert data[12:16] == b"VP8X"
    canvas = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return data[:24] + canvas + data[30:]


def _gif_frames_declaring(width: int, height: int, frames: int) -> bytes:
    """A GIF with a ``width`` × ``height`` screen and ``frames`` full-screen frames of tiny LZW data."""
    screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    loop = b"!\xff\x0bNETSCAPE2.0\x03\x01\0\0\0"
    frame = b"!\xf9\x04\0\x0a\0\0\0" + b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\0"
    return screen + loop + frame * frames + b";"


_BOMBS: dict[str, Callable[[], bytes]] = {
    "png-100k-square": lambda: _png_declaring(100_000, 100_000),
    "png-max-int": lambda: _png_declaring(0x7FFFFFFF, 0x7FFFFFFF),
    "jpeg-65500-square": lambda: _jpeg_declaring(65_500, 65_500),
    "gif-65535-square": lambda: _gif_declaring(65_535, 65_535),
    "webp-16383-square": lambda: _webp_declaring(16_383, 16_383),
    "tiff-1m-square": lambda: _tiff_declaring(1_000_000, 1_000_000),
    "avif-100k-square": lambda: _avif_declaring(100_000, 100_000),
    "heic-100k-square": lambda: _heic_declaring(100_000, 100_000),
    "bmp-100k-square": lambda: _bmp_declaring(100_000, 100_000),
    "gif-3000-frames": lambda: _gif_frames_declaring(200, 200, 3000),
}


def _decoder_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every pixel decode (``codecs.load``, the one way to pixels) instead of timing it."""
    calls: list[str] = []
    real = codecs.load

    def spy(data: bytes, header: Header, *args: object, **kwargs: object) -> pyvips.Image:
        calls.append(header.format)
        return real(data, header, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(codecs, "load", spy)
    return calls


# the frame bomb is over the animation limit, which is delivered untransformed: see test_frame_bombs_…
_REFUSED_BOMBS = [name for name in _BOMBS if name != "gif-3000-frames"]


@pytest.mark.parametrize("name", _REFUSED_BOMBS)
def test_bombs_are_refused_from_the_header_without_decoding(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _BOMBS[name]()
    assert len(data) < 200_000
    decoded = _decoder_calls(monkeypatch)
    with pytest.raises(EnlargerError) as info:
        transform(data, "width=100")
    assert info.value.status in (403, 415), info.value.message
    # libheif hides sizes from libvips (see above); libpng calls sizes beyond its 1M limit invalid
    if name.split("-")[0] not in ("avif", "heic") and name != "png-max-int":
        assert info.value.status == 403, info.value.message
        assert "limit" in info.value.message
    assert decoded == [], f"{name} reached the decoder"
    uncopied = Settings(decode_cache_bytes=0)  # the same bytes in every case: no decoded copy of them
    assert transform(save(gradient(40, 30), "png"), "width=20", settings=uncopied).width == 20  # the spy sees decodes
    assert decoded == ["png"]


_BOMB_MEMORY_PROBE = """
import resource, sys
from pathlib import Path
from enlarger.errors import EnlargerError
from enlarger.pipeline import transform
transform(Path(sys.argv[1]).read_bytes(), "width=10")  # warm up: libraries and caches loaded
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for path in sys.argv[2:]:
    try:
        transform(Path(path).read_bytes(), "width=100")
    except EnlargerError:
        pass
    else:
        raise SystemExit(f"{path} was not refused")
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline) // 1024)
"""


def test_refusing_every_bomb_barely_grows_a_fresh_process(tmp_path: Path) -> None:
    """Peak memory measured in a process of its own: no earlier test can have raised the high-water mark."""
    warm = tmp_path / "warm.png"
    warm.write_bytes(save(gradient(64, 48), "png"))
    paths = []
    for name in _REFUSED_BOMBS:
        paths.append(tmp_path / name)
        paths[-1].write_bytes(_BOMBS[name]())
    done = subprocess.run(
        [sys.executable, "-c", _BOMB_MEMORY_PROBE, str(warm), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    grown_mib = int(done.stdout.strip())
    assert grown_mib < 64, f"refusing the bombs grew the peak memory by {grown_mib} MiB"


def test_webp_canvas_size_is_read_from_the_header() -> None:
    header = codecs.probe(_webp_declaring(16_383, 16_383))
    assert (header.format, header.width, header.height) == ("webp", 16_383, 16_383)


def test_frame_bombs_count_frames_times_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _gif_frames_declaring(200, 200, 3000)  # 120 MP across frames, 40,000 pixels each
    header = codecs.probe(data)
    assert (header.width, header.height, header.frames) == (200, 200, 3000)
    with pytest.raises(InputTooLargeError, match="frames"):
        codecs.check_limits(header, Settings(), all_frames=True)
    decoded = _decoder_calls(monkeypatch)
    assert transform(data, "width=10").data == data  # over the animation limit: delivered untransformed
    assert decoded == []  # without decoding a frame
    assert transform(data, "width=10,anim=false").frames == 1


def test_too_many_frames_are_refused_from_the_header_without_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 24: a 40,000-frame GIF of tiny frames is under the pixel limits, yet every frame costs work."""
    data = _gif_frames_declaring(2, 2, 40_000)
    assert codecs.probe(data).frames == 40_000
    decoded = _decoder_calls(monkeypatch)
    with pytest.raises(InputTooLargeError, match="40,000 frames; the limit is 3,000") as refused:
        transform(data, "width=1")
    assert (refused.value.status, refused.value.code) == (403, 9413)
    assert decoded == []
    assert transform(data, "width=1,anim=false").frames == 1  # the first frame alone is fine
    few = Settings(max_animation_frames=10)
    assert transform(_gif_frames_declaring(2, 2, 10), "width=1", settings=few).frames == 10
    with pytest.raises(InputTooLargeError, match="11 frames; the limit is 10"):
        transform(_gif_frames_declaring(2, 2, 11), "width=1", settings=few)


# --- hostile inputs: damage refused as damage, frames checked before decoding -----------------


def _png_chunks(data: bytes) -> list[tuple[int, bytes, int]]:
    """(offset, type, length) of every chunk of a PNG."""
    chunks, pos = [], 8
    while pos < len(data):
        length = struct.unpack_from(">I", data, pos)[0]
        chunks.append((pos, data[pos + 4 : pos + 8], length))
        pos += 12 + length
    return chunks


def _with_bad_crc(data: bytes, kind: bytes) -> bytes:
    """``data`` with the CRC of its first ``kind`` chunk flipped (the chunk's bytes are intact)."""
    damaged = bytearray(data)
    pos, _, length = next(chunk for chunk in _png_chunks(data) if chunk[1] == kind)
    damaged[pos + 8 + length] ^= 0xFF
    return bytes(damaged)


def _gif_moving_frame(screen: tuple[int, int], frame: tuple[int, int, int, int]) -> bytes:
    """A libvips-written 20×20 GIF whose screen and single image descriptor say ``screen`` and
    ``frame`` (left, top, width, height); the LZW data stays the 20×20 picture's."""
    data = bytearray(save(gradient(20, 20), "gif"))
    struct.pack_into("<HH", data, 6, *screen)
    descriptor = data.index(b",", 13 + (3 << ((data[10] & 7) + 1)))
    struct.pack_into("<4H", data, descriptor + 1, *frame)
    return bytes(data)


#: PngSuite's xcsn0g01 (an IDAT chunk with a wrong CRC) and xhdn0g08 (IHDR with a wrong CRC), and
#: GIFs whose frames reach past the screen they declare (one of them a 1×1 screen over a huge frame)
HOSTILE: dict[str, Callable[[], bytes]] = {
    "png-idat-crc": lambda: _with_bad_crc(save(gradient(32, 32), "png"), b"IDAT"),
    "png-ihdr-crc": lambda: _with_bad_crc(save(gradient(32, 32).colourspace("b-w"), "png"), b"IHDR"),
    "gif-frame-wider-than-screen": lambda: _gif_moving_frame((10, 10), (0, 0, 20, 20)),
    "gif-frame-off-screen": lambda: _gif_moving_frame((20, 20), (15, 15, 20, 20)),
    "gif-tiny-screen-huge-frame": lambda: _gif_moving_frame((1, 1), (0, 0, 20_000, 20_000)),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_inputs_are_refused_as_damaged_with_a_readable_message(name: str) -> None:
    data = HOSTILE[name]()
    with pytest.raises(CorruptImageError) as info:
        transform(data, "width=16")
    assert info.value.status == 415
    message = info.value.message
    assert message.startswith(f"the {name.split('-')[0].upper()} image is damaged"), message
    assert "chunk fails its checksum" in message or "reaches past" in message, message
    assert not re.search(r"vips|libpng|spng|nsgif|load error", message, re.I), message


def test_the_decoder_alone_also_refuses_pixel_data_failing_its_crc() -> None:
    # load's fail_on=error, independently of probe's structural check: the second line of defence
    clean = save(gradient(32, 32), "png")
    image = codecs.load(_with_bad_crc(clean, b"IDAT"), codecs.probe(clean), (16, 16), all_frames=False)
    with pytest.raises(pyvips.Error):
        image.avg()


def test_a_bad_crc_on_an_ancillary_chunk_is_tolerated_like_browsers_do() -> None:
    png = save(quadrants(32, 32), "png")
    damaged = _with_bad_crc(png[:33] + _png_chunk(b"tEXt", b"Comment\0hello") + png[33:], b"tEXt")
    result = transform(damaged, "width=16,format=png")
    assert near(pixel(decode(result.data), 2, 2), RED, 2)


def test_gif_frames_past_the_screen_are_refused_from_the_header_before_decoding() -> None:
    with pytest.raises(CorruptImageError, match=r"frame 1 \(20000×20000 at 0,0\) reaches past the 1×1 screen"):
        codecs.probe(HOSTILE["gif-tiny-screen-huge-frame"]())


def test_a_gif_frame_inside_its_screen_at_an_offset_is_accepted() -> None:
    data = _gif_moving_frame((30, 30), (10, 10, 20, 20))
    header = codecs.probe(data)
    assert (header.width, header.height) == (30, 30)
    assert transform(data, "width=15").width == 15


def test_a_bmp_beyond_pillows_own_bomb_limit_is_judged_by_our_setting_alone() -> None:
    data = _bmp_declaring(20_000, 10_000)  # 200 MP: over twice Pillow's default MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not even Pillow's DecompressionBombWarning
        header = codecs.probe(data)
        assert (header.width, header.height) == (20_000, 10_000)
        codecs.check_limits(header, Settings(max_input_pixels=200_000_000), all_frames=False)
        with pytest.raises(InputTooLargeError, match="200,000,000 pixels"):
            codecs.check_limits(header, Settings(), all_frames=False)


_FOREIGN = {
    "ppm": b"P6\n4 4\n255\n" + bytes(48),
    "csv": b"1,2,3\n4,5,6\n",
    "matrix": b"2 2\n1 2\n3 4\n",
    "vips": b"\x08\xf2\xa6\xb6" + bytes(60),
    "pfm": b"PF\n2 2\n-1.0\n" + bytes(48),
}


@pytest.mark.parametrize("name", list(_FOREIGN))
def test_only_our_formats_loaders_run_after_import(name: str) -> None:
    """Importing enlarger blocks every libvips loader but ours: libvips' own sniffing cannot pick one."""
    data = _FOREIGN[name]
    with pytest.raises(pyvips.Error):
        pyvips.Image.new_from_buffer(data, "")
    with pytest.raises(pyvips.Error):
        pyvips.Image.thumbnail_buffer(data, 10)
    with pytest.raises(pyvips.Error):
        pyvips.Image.new_from_source(pyvips.Source.new_from_memory(data), "")
    with pytest.raises(UnsupportedFormatError) as info:
        transform(data, "width=10")
    assert info.value.status == 415


def test_the_loader_block_is_what_refuses_foreign_formats() -> None:
    """libvips' matrix loader (present in our libvips) reads the text above once unblocked: the
    block, not a missing loader, is what refuses it (the others may simply be absent from the build)."""

    def load() -> pyvips.Image:
        return pyvips.Image.new_from_source(pyvips.Source.new_from_memory(_FOREIGN["matrix"]), "")

    try:
        pyvips.operation_block_set("VipsForeignLoadMatrix", False)
        assert (load().width, load().height) == (2, 2)
    finally:
        pyvips.operation_block_set("VipsForeignLoadMatrix", True)
    with pytest.raises(pyvips.Error):
        load()


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
def test_a_lazy_decode_holds_its_bytes_until_the_image_is_gone(fmt: str) -> None:
    # libvips reads the bytes in place (codecs.from_memory) and decodes lazily: the image itself,
    # not the caller, must hold them until its pixels are computed, and let them go with the image
    import gc

    original = gradient(300, 200)
    data = save(original, fmt, **({"Q": 95} if fmt != "png" else {}))
    header = codecs.probe(data)
    gc.collect()
    unheld = sys.getrefcount(data)
    image = codecs.load(data, header, (150, 100), all_frames=False)
    gc.collect()
    assert sys.getrefcount(data) > unheld  # the lazy image refers to the bytes
    pixels = np.frombuffer(image.write_to_memory(), np.uint8).reshape(100, 150, image.bands)
    expected = np.frombuffer(original.resize(0.5).write_to_memory(), np.uint8).reshape(100, 150, 3)
    assert np.abs(pixels[..., :3].astype(int) - expected.astype(int)).mean() < 3
    del image
    gc.collect()
    assert sys.getrefcount(data) == unheld  # and nothing keeps a source's bytes after it
