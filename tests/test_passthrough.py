"""Serving the original as is: only when it is what was asked for, smaller, and trailer-free."""

from __future__ import annotations

import pytest
import pyvips

from enlarger.formats import trailer_offset
from enlarger.job import Job
from enlarger.options import parse_options
from enlarger.pipeline import _original_suffices, decide, transform, transform_job
from enlarger.security.trailers import gif_metadata, gif_without_metadata
from enlarger.settings import Settings
from tests.imaging import animation, coloured_frames, decode, gradient, quadrants, save


def _small_png() -> bytes:
    """A palette PNG: smaller than the 8-bit RGB PNG the encoder would write for it."""
    return save(quadrants(300, 200), "png", palette=True, compression=9, keep=pyvips.enums.ForeignKeep.NONE)


def _small_jpeg() -> bytes:
    """A low-quality, optimised JPEG: re-encoding at the default quality only makes it larger."""
    return save(
        gradient(300, 200), "jpeg", Q=20, optimize_coding=True, interlace=True, keep=pyvips.enums.ForeignKeep.NONE
    )


@pytest.mark.parametrize("make", [_small_png, _small_jpeg])
def test_original_is_served_when_re_encoding_is_larger(make: object) -> None:
    original = make()  # type: ignore[operator]
    result = transform(original, "width=1000")  # scale-down: the original already satisfies it
    assert result.data == original


@pytest.mark.parametrize("make", [_small_png, _small_jpeg])
def test_original_with_a_trailer_is_re_encoded(make: object) -> None:
    original = make()  # type: ignore[operator]
    leaky = original + save(gradient(300, 400), "png")[20:]  # the "uncropped" remainder
    result = transform(leaky, "width=1000")
    assert result.data != leaky and trailer_offset(result.data) is None
    assert len(result.data) < len(leaky)
    decoded = pyvips.Image.new_from_buffer(result.data, "")
    assert (decoded.width, decoded.height) == (300, 200)


def test_any_pixel_change_re_encodes() -> None:
    original = _small_png()
    for options in ("width=150", "blur=2", "rotate=90", "format=webp", "trim=1;1;1;1", "brightness=1.2"):
        assert transform(original, options).data != original, options


def test_metadata_to_strip_re_encodes() -> None:
    image = gradient(300, 200).copy()
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd2-UserComment", "where I live")
    with_exif = save(image, "jpeg", Q=40)
    assert "exif-data" in pyvips.Image.new_from_buffer(with_exif, "").get_fields()
    result = transform(with_exif, "width=1000")  # default metadata=copyright strips EXIF
    assert result.data != with_exif
    assert "exif-data" not in pyvips.Image.new_from_buffer(result.data, "").get_fields()


def _noise(bands: int, interpretation: str) -> pyvips.Image:
    base = pyvips.Image.gaussnoise(300, 200, mean=128, sigma=60).cast("uchar")
    turns = [base.rot180(), base.fliphor(), base.flipver()][: bands - 1]
    return base.bandjoin(turns).copy(interpretation=interpretation)


def test_a_structure_the_parser_cannot_follow_is_re_encoded() -> None:
    """libjpeg skips stray bytes between segments; the trailer parser stops there — so no pass-through."""
    data = _noise(3, "srgb").jpegsave_buffer(Q=40, keep=pyvips.enums.ForeignKeep.NONE)
    sof = data.index(b"\xff\xc0")
    hidden = data[:sof] + b"\x00\x00" + data[sof:] + b"SECRET-UNCROPPED" * 200
    result = transform(hidden, "quality=100")
    assert b"SECRET" not in result.data and trailer_offset(result.data) is None


def test_cmyk_is_converted_not_passed_through() -> None:
    data = _noise(4, "cmyk").jpegsave_buffer(Q=50, keep=pyvips.enums.ForeignKeep.NONE)
    result = transform(data, "quality=100")
    assert result.data != data
    assert pyvips.Image.new_from_buffer(result.data, "").interpretation == "srgb"


PHP = b"<?php system($_GET['c']); ?>"


def _sub_blocks(payload: bytes) -> bytes:
    return (
        b"".join(bytes([len(payload[i : i + 255])]) + payload[i : i + 255] for i in range(0, len(payload), 255)) + b"\0"
    )


def _with_gif_blocks(gif: bytes, *blocks: bytes) -> bytes:
    """``gif`` with extension ``blocks`` inserted after its header and global colour table."""
    flags = gif[10]
    at = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    return gif[:at] + b"".join(blocks) + gif[at:]


GIF_COMMENT = b"\x21\xfe" + _sub_blocks(PHP)
GIF_XMP = b"\x21\xff\x0bXMP DataXMP" + _sub_blocks(PHP)


def _small_gif() -> bytes:
    """A 2-bit GIF: the encoder's 8-bit palette makes a re-encoding larger, so the original is served."""
    return bytes(quadrants(300, 200).gifsave_buffer(bitdepth=2, keep=pyvips.enums.ForeignKeep.NONE))


@pytest.mark.parametrize("block", [GIF_COMMENT, GIF_XMP], ids=["comment", "application"])
@pytest.mark.parametrize("options", ["width=1000,metadata=none", "width=1000"])
def test_a_gif_with_a_comment_or_application_block_is_never_the_output_as_it_is(block: bytes, options: str) -> None:
    """Issue 24: a GIF comment carrying PHP was served byte for byte even with metadata=none.

    The rule is checked directly: whether the shortcut is taken also depends on the re-encoding
    being no smaller, which an attacker tunes and a test cannot portably."""
    plain = _small_gif()
    assert transform(plain, options).data == plain  # the shortcut applies to this GIF ...
    assert _original_suffices(plain, decide(plain, parse_options(options), settings=Settings()))
    hostile = _with_gif_blocks(plain, block)
    assert not _original_suffices(hostile, decide(hostile, parse_options(options), settings=Settings()))
    result = transform(hostile, options)  # ... but not once it carries text
    assert PHP not in result.data
    pixels = [bytes(decode(data).extract_band(0, n=3).write_to_memory()) for data in (result.data, plain)]
    assert pixels[0] == pixels[1]  # the same picture (the re-encoding adds an opaque alpha band)


def test_a_looping_block_is_not_metadata() -> None:
    looping = animation(coloured_frames(40, 30, [(255, 0, 0), (0, 0, 255)]), "gif")
    assert b"NETSCAPE2.0" in looping
    assert gif_metadata(looping) == [] and gif_without_metadata(looping) == looping
    hostile = _with_gif_blocks(looping, GIF_COMMENT, GIF_XMP)
    assert len(gif_metadata(hostile)) == 2 and gif_without_metadata(hostile) == looping


def test_an_animation_passed_through_loses_its_comments_unless_metadata_is_kept() -> None:
    frames = animation(coloured_frames(40, 30, [(255, 0, 0), (0, 0, 255), (0, 255, 0)]), "gif")
    hostile = _with_gif_blocks(frames, GIF_COMMENT, GIF_XMP)
    settings = Settings(max_animation_pixels=1000)  # 3 × 40 × 30: delivered untransformed
    stripped = transform_job(Job(hostile, parse_options("width=20,metadata=none")), settings=settings).data
    assert PHP not in stripped
    assert stripped == frames  # the same frames, delays and NETSCAPE loop block, byte for byte
    kept = transform_job(Job(hostile, parse_options("width=20,metadata=keep")), settings=settings).data
    assert kept == hostile
