"""Trailers (aCropalypse): the end of a JPEG, PNG, GIF and WebP found by structure, and never delivered."""

from __future__ import annotations

import struct
import zlib

import pytest
import pyvips
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from enlarger.formats import image_end, trailer_offset
from enlarger.pipeline import transform
from enlarger.security.trailers import gif_frames, png_bad_checksum
from tests.imaging import animation, coloured_frames, decode, gradient, near, pixel, quadrants, save, solid


def _cropalypse(fmt: str) -> tuple[bytes, bytes]:
    """A small 'cropped' image written over a larger original without truncating the file."""
    cropped = save(solid(40, 30, (255, 0, 0)), fmt)
    original = save(gradient(320, 240), fmt)
    assert len(original) > len(cropped)
    return cropped, cropped + original[len(cropped) :]


@pytest.mark.parametrize("fmt", ["jpeg", "png", "gif", "webp"])
def test_clean_images_have_no_trailer(fmt: str) -> None:
    data = save(gradient(64, 48), fmt)
    assert image_end(data) == len(data)
    assert trailer_offset(data) is None


@pytest.mark.parametrize("fmt", ["jpeg", "png", "gif", "webp"])
def test_overwritten_files_have_the_old_tail_found_and_cut(fmt: str) -> None:
    cropped, leaky = _cropalypse(fmt)
    assert trailer_offset(leaky) == len(cropped)
    assert leaky[: len(cropped)] == cropped  # the new image, then the old tail


def test_progressive_jpeg_with_restart_markers_and_exif_thumbnail_ends_at_its_own_eoi() -> None:
    # an EXIF thumbnail is a whole JPEG (with its own EOI) inside APP1; restart markers and
    # stuffed FF00 bytes are inside the scans: a marker search would stop early, the parser does not
    image = gradient(200, 150).copy()
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Artist", "someone")
    data = bytes(image.jpegsave_buffer(Q=90, interlace=True, restart_interval=2, keep=pyvips.enums.ForeignKeep.ALL))
    thumbnail = save(solid(16, 16, (0, 0, 255)), "jpeg")
    app1_payload = b"Exif\0\0" + thumbnail  # a thumbnail-like JPEG inside a marker segment
    app1 = b"\xff\xe1" + struct.pack(">H", len(app1_payload) + 2) + app1_payload
    data = data[:2] + app1 + data[2:]
    assert data.count(b"\xff\xd9") >= 2
    assert trailer_offset(data) is None
    tail = b"\xff\xd8\xff\xe0 leaked pixels of the original"
    assert trailer_offset(data + tail) == len(data)


def test_png_trailer_after_iend_even_when_the_tail_contains_chunk_names() -> None:
    data = save(quadrants(40, 20), "png")
    idat = b"IDAT" + zlib.compress(b"\0" * 100)
    tail = struct.pack(">I", len(idat) - 4) + idat + b"\0\0\0\0" + b"\0\0\0\0IEND\xae\x42\x60\x82"
    assert trailer_offset(data + tail) == len(data)


def test_broken_structures_report_no_end() -> None:
    jpeg = save(gradient(64, 48), "jpeg")
    png = save(gradient(64, 48), "png")
    for broken in (jpeg[:-2], jpeg[: len(jpeg) // 2], png[:-12], png[:20], b"", b"\xff\xd8", b"GIF89a", b"RIFF"):
        assert image_end(broken) is None
        assert trailer_offset(broken) is None


def test_webp_riff_size_decides_the_end() -> None:
    data = save(gradient(64, 48), "webp")
    assert trailer_offset(data + b"PK\x03\x04 a zip file") == len(data)
    lying = data[:4] + struct.pack("<I", len(data) * 2) + data[8:]
    assert image_end(lying) is None


def test_animated_gif_end_is_after_all_frames() -> None:
    data = animation(coloured_frames(20, 20, [(255, 0, 0), (0, 255, 0), (0, 0, 255)]), "gif")
    assert image_end(data) == len(data)
    assert trailer_offset(data + b"<html><script>alert(1)</script>") == len(data)


@pytest.mark.parametrize("fmt", ["jpeg", "png", "gif", "webp"])
@pytest.mark.parametrize("options", ["", "width=40", "format=png", "quality=100"])
def test_nothing_delivered_carries_a_trailer(fmt: str, options: str) -> None:
    cropped, leaky = _cropalypse(fmt)
    result = transform(leaky, options)
    assert trailer_offset(result.data) is None
    assert result.data != leaky
    assert leaky[len(cropped) :] not in result.data
    assert (result.width, result.height) == (40, 30)
    assert near(pixel(decode(result.data), 20, 15), (255, 0, 0), 40)


@given(st.binary(max_size=300))
@hyp_settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_fuzz_trailer_parser_never_fails_on_arbitrary_bytes(noise: bytes) -> None:
    for data in (noise, b"\xff\xd8" + noise, b"\x89PNG\r\n\x1a\n" + noise, b"GIF89a" + noise, b"RIFF" + noise):
        end = image_end(data)
        assert end is None or 0 < end <= len(data)
        offset = trailer_offset(data)
        assert offset is None or offset < len(data)


_SAMPLES = {fmt: save(gradient(48, 32), fmt) for fmt in ("jpeg", "png", "gif", "webp")}


@given(st.sampled_from(sorted(_SAMPLES)), st.binary(min_size=1, max_size=200), st.integers(0, 10_000))
@hyp_settings(max_examples=150, deadline=None)
def test_fuzz_any_appended_tail_is_found_exactly(fmt: str, tail: bytes, cut: int) -> None:
    data = _SAMPLES[fmt]
    assert trailer_offset(data + tail) == len(data)
    truncated = data[: cut % len(data)]
    assert trailer_offset(truncated) is None


def test_gif_frames_lists_every_descriptor_without_decoding() -> None:
    data = animation(coloured_frames(30, 20, [(255, 0, 0), (0, 0, 255), (0, 255, 0)]), "gif")
    frames = gif_frames(data)
    assert len(frames) == 3
    assert all(f.left + f.width <= 30 and f.top + f.height <= 20 for f in frames)
    assert gif_frames(data[: len(data) // 2]) == frames[: len(gif_frames(data[: len(data) // 2]))]


def test_png_bad_checksum_names_the_first_critical_chunk_that_fails() -> None:
    png = save(gradient(16, 16), "png")
    assert png_bad_checksum(png) is None
    idat = png.index(b"IDAT")
    length = struct.unpack(">I", png[idat - 4 : idat])[0]
    damaged = bytearray(png)
    damaged[idat + 4 + length] ^= 1  # the CRC's first byte
    assert png_bad_checksum(bytes(damaged)) == "IDAT"
    text = b"tEXtComment\0x"
    ancillary = png[:33] + struct.pack(">I", len(text) - 4) + text + b"\0\0\0\0" + png[33:]
    assert png_bad_checksum(ancillary) is None  # ancillary chunks are the decoder's call
    assert png_bad_checksum(png[:40]) is None  # truncation is reported by the decoder, not here
