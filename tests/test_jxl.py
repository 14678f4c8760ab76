"""JPEG XL through the engine: output, input by both magics, the metadata rules, limits, damage."""

from __future__ import annotations

import pylibjxl
import pytest
import pyvips

from enlarger import codecs, jxl
from enlarger.errors import CorruptImageError, InputTooLargeError
from enlarger.pipeline import transform
from enlarger.settings import Settings
from tests.imaging import BLUE, GREEN, RED, WHITE, decode, near, pixel, quadrants, save, with_orientation

COPYRIGHT = "exif-ifd0-Copyright"
MAKE = "exif-ifd0-Make"
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>'


def _tagged_jpeg() -> bytes:
    image = quadrants(80, 40).copy()
    image.set_type(pyvips.GValue.gstr_type, COPYRIGHT, "ACME")
    image.set_type(pyvips.GValue.gstr_type, MAKE, "Camera Co")
    image.set_type(pyvips.GValue.blob_type, "xmp-data", XMP)
    return bytes(image.jpegsave_buffer(Q=95, keep=pyvips.enums.ForeignKeep.ALL))


def _boxes(data: bytes) -> dict[str, bytes]:
    _, boxes = pylibjxl.decode(data, metadata=True)
    return {name: value for name, value in boxes.items() if value}


def test_format_jxl_is_an_output(quad_png: bytes) -> None:
    result = transform(quad_png, "width=100,format=jxl")
    assert result.media_type == "image/jxl" and result.format == "jxl"
    assert codecs.sniff(result.data) == "jxl"
    out = decode(result.data)
    assert (out.width, out.height) == (100, 50)
    for (x, y), colour in {(10, 10): RED, (90, 10): GREEN, (10, 40): BLUE, (90, 40): WHITE}.items():
        assert near(pixel(out, x, y), colour), (x, y)


def test_jxl_keeps_transparency() -> None:
    source = save(quadrants(40, 20, alpha=True) * [1, 1, 1, 0.5], "png")
    out = decode(transform(source, "format=jxl").data)
    assert out.bands == 4 and near(pixel(out, 5, 5), (255, 0, 0, 128), 8)


def test_quality_100_is_lossless_and_lower_qualities_are_smaller(photo_jpeg: bytes) -> None:
    reference = decode(transform(photo_jpeg, "format=png").data)
    lossless = transform(photo_jpeg, "format=jxl,quality=100").data
    assert (decode(lossless) - reference).abs().max() == 0
    sizes = [len(transform(photo_jpeg, f"format=jxl,quality={q}").data) for q in (30, 60, 90)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1] < len(lossless)
    assert jxl.distance(90) == pytest.approx(1.0) and jxl.distance(100) == 0.0


@pytest.mark.parametrize("container", [False, True], ids=["codestream", "container"])
def test_jxl_input_by_either_magic(container: bool) -> None:
    pixels = quadrants(64, 32)
    data = jxl.encode(
        pixels if not container else _with_copyright(pixels),
        95,
        3,
        pyvips.enums.ForeignKeep.EXIF if container else pyvips.enums.ForeignKeep.NONE,
    )
    assert data.startswith(b"\x00\x00\x00\x0cJXL ") is container and data.startswith(b"\xff\x0a") is not container
    header = codecs.probe(data)
    assert (header.format, header.width, header.height, header.has_alpha) == ("jxl", 64, 32, False)
    out = decode(transform(data, "width=32,format=png").data)
    assert (out.width, out.height) == (32, 16) and near(pixel(out, 4, 4), RED)


def _with_copyright(image: pyvips.Image) -> pyvips.Image:
    tagged = image.copy()
    tagged.set_type(pyvips.GValue.gstr_type, COPYRIGHT, "ACME")
    return tagged


def test_metadata_none_writes_no_boxes() -> None:
    data = transform(_tagged_jpeg(), "format=jxl,metadata=none").data
    assert data.startswith(b"\xff\x0a")  # a bare codestream: no container, so no Exif or XML box
    assert _boxes(data) == {}


def test_metadata_copyright_keeps_only_the_notice() -> None:
    data = transform(_tagged_jpeg(), "format=jxl").data  # copyright is the default
    fields = decode(data).get_fields()
    assert COPYRIGHT in fields and MAKE not in fields
    assert "xmp" not in _boxes(data)
    assert str(decode(data).get(COPYRIGHT)).startswith("ACME")


def test_metadata_keep_keeps_exif_and_xmp() -> None:
    data = transform(_tagged_jpeg(), "format=jxl,metadata=keep").data
    out = decode(data)
    assert COPYRIGHT in out.get_fields() and MAKE in out.get_fields()
    assert _boxes(data)["xmp"] == XMP


def test_orientation_is_applied_and_not_written_again() -> None:
    # EXIF orientation 6: the stored pixels are rotated 90° clockwise when shown
    data = transform(with_orientation(quadrants(80, 40), 6), "format=jxl,metadata=keep").data
    out = decode(data)
    assert (out.width, out.height) == (40, 80)
    assert near(pixel(out, 30, 5), RED)  # the top-left quadrant, turned to the top right
    assert out.get("orientation") == 1


def test_jxl_input_is_held_to_the_header_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    data = jxl.encode(quadrants(64, 32), 90, 1, pyvips.enums.ForeignKeep.NONE)

    def never(_: bytes) -> pyvips.Image:
        raise AssertionError("decoded before the limits were checked")

    monkeypatch.setattr(jxl, "decode", never)
    with pytest.raises(InputTooLargeError, match="64×32"):
        transform(data, "width=10", settings=Settings(max_input_pixels=2000))


@pytest.mark.parametrize("cut", [0.25, 0.6])
def test_damaged_jxl_is_refused_as_corrupt(cut: float) -> None:
    data = jxl.encode(quadrants(64, 32), 90, 3, pyvips.enums.ForeignKeep.NONE)
    with pytest.raises(CorruptImageError, match="JPEG XL image is damaged"):
        transform(data[: int(len(data) * cut)], "format=png")


def test_auto_picks_jxl_only_when_enabled(photo_jpeg: bytes) -> None:
    safari = "image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,image/png,*/*;q=0.5"
    assert transform(photo_jpeg, "format=auto,width=50", accept=safari).format == "avif"
    enabled = Settings(jxl_auto=True)
    assert transform(photo_jpeg, "format=auto,width=50", accept=safari, settings=enabled).format == "jxl"
    assert transform(photo_jpeg, "format=auto,width=50", accept="image/avif", settings=enabled).format == "avif"


def test_the_container_carries_exactly_the_boxes_asked_for() -> None:
    codestream = jxl.encode(quadrants(16, 8), 90, 3, pyvips.enums.ForeignKeep.NONE)
    assert jxl.container(codestream, None, None) == codestream
    wrapped = jxl.container(codestream, b"MM\x00*\x00\x00\x00\x08\x00\x00", XMP)
    # signature box, ftyp (brand "jxl "), Exif (offset 0, then TIFF), xml, then the codestream box
    assert wrapped.startswith(b"\x00\x00\x00\x0cJXL \r\n\x87\n\x00\x00\x00\x14ftypjxl ")
    assert b"Exif\x00\x00\x00\x00MM\x00*" in wrapped and wrapped.endswith(b"jxlc" + codestream)
    assert _boxes(wrapped) == {"exif": b"MM\x00*\x00\x00\x00\x08\x00\x00", "xmp": XMP}
    assert (decode(wrapped) - decode(codestream)).abs().max() == 0
