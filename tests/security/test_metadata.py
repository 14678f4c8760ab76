"""metadata=none|copyright removes what it says, read back from the encoded output (GPS and XMP included)."""

from __future__ import annotations

import pytest
import pyvips

from enlarger.pipeline import transform
from tests.imaging import gradient

_XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="48,51.4N"/></rdf:RDF></x:xmpmeta>'
)


@pytest.fixture(scope="module")
def located_photo() -> bytes:
    """A JPEG carrying EXIF GPS, an artist, a copyright notice and XMP with a location."""
    image = gradient(64, 48).copy()
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Copyright", "(c) Someone")
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Artist", "Someone Private")
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd3-GPSLatitudeRef", "N")
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd3-GPSLatitude", "48/1 51/1 2400/100")
    image.set_type(pyvips.GValue.blob_type, "xmp-data", _XMP)
    data = bytes(image.jpegsave_buffer(keep=pyvips.enums.ForeignKeep.ALL))
    assert b"GPS" in data and b"48,51.4N" in data
    return data


def _fields(data: bytes) -> list[str]:
    return list(pyvips.Image.new_from_buffer(data, "").get_fields())


@pytest.mark.parametrize("fmt", ["jpeg", "avif", "webp", "png"])
def test_copyright_keeps_only_the_notice(located_photo: bytes, fmt: str) -> None:
    output = transform(located_photo, f"format={fmt},metadata=copyright").data
    fields = _fields(output)
    assert not [f for f in fields if "GPS" in f or f.startswith(("xmp", "iptc")) or "Artist" in f], fields
    assert b"48,51.4N" not in output and b"Someone Private" not in output and b"GPS" not in output
    if fmt in ("jpeg", "avif"):
        notice = pyvips.Image.new_from_buffer(output, "").get("exif-ifd0-Copyright")
        assert str(notice).startswith("(c) Someone")


@pytest.mark.parametrize("fmt", ["jpeg", "avif", "webp", "png", "gif"])
def test_none_removes_everything(located_photo: bytes, fmt: str) -> None:
    output = transform(located_photo, f"format={fmt},metadata=none").data
    fields = _fields(output)
    assert not [f for f in fields if f.startswith(("exif", "xmp", "iptc"))], fields
    for secret in (b"GPS", b"48,51.4N", b"Someone", b"Exif\0\0", b"xmpmeta"):
        assert secret not in output, secret


def test_keep_keeps_it(located_photo: bytes) -> None:
    output = transform(located_photo, "format=jpeg,metadata=keep").data
    fields = _fields(output)
    assert "exif-ifd3-GPSLatitude" in fields and "xmp-data" in fields
