"""Serving the original as is: only when it is what was asked for, smaller, and trailer-free."""

from __future__ import annotations

import pytest
import pyvips

from enlarger.formats import trailer_offset
from enlarger.pipeline import transform
from tests.imaging import gradient, quadrants, save


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
