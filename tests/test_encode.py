"""encode: per-format encoder parameters (progressive, quality, lossless, palette, effort) and the metadata policy."""

from __future__ import annotations

import io
import os
import struct
from typing import Any, get_args

import pytest
import pyvips
from PIL import Image, ImageFile

from enlarger import codecs
from enlarger.encode import encode
from enlarger.errors import ProcessingError
from enlarger.formats import Writable
from enlarger.options import parse_options
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
)

QUAD = [RED, GREEN, BLUE, WHITE]
SETTINGS = Settings()
COPYRIGHT = "ACME 2026"
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" dc:creator="Jane Doe"/></rdf:RDF></x:xmpmeta>'
)


def enc(image: pyvips.Image, fmt: Writable, options: str = "", settings: Settings = SETTINGS) -> bytes:
    return encode(image, fmt, parse_options(options), settings)


def jpeg_markers(data: bytes) -> list[int]:
    """The marker codes of a JPEG's header segments, up to and including the first SOS."""
    assert data[:2] == b"\xff\xd8"
    markers, pos = [], 2
    while pos + 4 <= len(data):
        assert data[pos] == 0xFF, f"no marker at {pos}"
        marker = data[pos + 1]
        markers.append(marker)
        if marker == 0xDA:
            break
        pos += 2 + struct.unpack(">H", data[pos + 2 : pos + 4])[0]
    return markers


def corners(image: pyvips.Image, inset: int = 3) -> list[list[float]]:
    w, h = image.width, image.height
    points = ((inset, inset), (w - 1 - inset, inset), (inset, h - 1 - inset), (w - 1 - inset, h - 1 - inset))
    return [pixel(image, x, y) for x, y in points]


def max_diff(a: pyvips.Image, b: pyvips.Image) -> float:
    return float((a.cast("float") - b.cast("float")).abs().max())


def mean_diff(a: pyvips.Image, b: pyvips.Image) -> float:
    return float((a.cast("float") - b.cast("float")).abs().avg())


def fields(data: bytes) -> dict[str, object]:
    image = pyvips.Image.new_from_buffer(data, "")
    return {name: image.get(name) for name in image.get_fields()}


def tagged(image: pyvips.Image, orientation: int = 6) -> pyvips.Image:
    """``image`` carrying EXIF copyright, artist and make, XMP, and an orientation tag."""
    out = image.copy()
    out.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Copyright", COPYRIGHT)
    out.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Artist", "Jane Doe")
    out.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Make", "Canon")
    out.set_type(pyvips.GValue.blob_type, "xmp-data", XMP)
    out.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    return out


def as_loaded(image: pyvips.Image) -> pyvips.Image:
    """The image as a loader hands it over: metadata in libvips' rendered form ("value (value, ASCII, …)")."""
    keep = pyvips.enums.ForeignKeep.EXIF | pyvips.enums.ForeignKeep.XMP
    return pyvips.Image.new_from_buffer(image.jpegsave_buffer(Q=95, keep=keep), "")


# --- JPEG -------------------------------------------------------------------------------------


def test_jpeg_is_progressive_by_default() -> None:
    data = enc(gradient(200, 150), "jpeg")
    markers = jpeg_markers(data)
    assert 0xC2 in markers
    assert 0xC0 not in markers
    assert mean_diff(decode(data), gradient(200, 150)) < 3


@pytest.mark.parametrize(
    ("size", "progressive"),
    [
        ((49, 50), False),
        ((10, 10), False),
        ((50, 50), True),
        ((150, 150), True),
        ((3000, 3000), True),
        ((3001, 3000), False),
    ],
)
def test_progressive_jpeg_falls_back_to_baseline_for_tiny_and_huge_areas(
    size: tuple[int, int], progressive: bool
) -> None:
    """Cloudflare, get-started/limits.mdx: baseline when width × height is less than 50 × 50 or
    greater than 3000 × 3000, even for format=jpeg."""
    data = enc(pyvips.Image.black(*size, bands=3).copy(interpretation="srgb"), "jpeg")
    markers = jpeg_markers(data)
    assert (0xC2 in markers, 0xC0 in markers) == (progressive, not progressive)


def test_baseline_jpeg_is_sequential() -> None:
    data = enc(gradient(160, 120), "jpeg", "format=baseline-jpeg")
    markers = jpeg_markers(data)
    assert 0xC0 in markers
    assert 0xC2 not in markers
    assert mean_diff(decode(data), gradient(160, 120)) < 3


def test_baseline_jpeg_through_the_engine(photo_jpeg: bytes) -> None:
    baseline = transform(photo_jpeg, "width=100,format=baseline-jpeg")
    assert baseline.format == "jpeg"
    assert 0xC0 in jpeg_markers(baseline.data)
    progressive = transform(photo_jpeg, "width=200,format=jpeg")
    assert 0xC2 in jpeg_markers(progressive.data)


@pytest.mark.parametrize("fmt", ["jpeg", "webp", "avif"])
def test_lower_quality_is_smaller(fmt: Writable) -> None:
    image = gradient(200, 150)
    low, high = enc(image, fmt, "quality=30"), enc(image, fmt, "quality=90")
    assert len(low) < len(high)
    assert mean_diff(decode(low), image) >= mean_diff(decode(high), image)


@pytest.mark.parametrize(("name", "value"), [("high", 90), ("medium-high", 80), ("medium-low", 65), ("low", 50)])
def test_named_quality_is_its_number(name: str, value: int) -> None:
    image = gradient(120, 90)
    assert enc(image, "jpeg", f"quality={name}") == enc(image, "jpeg", f"quality={value}")
    assert enc(image, "webp", f"q={name}") == enc(image, "webp", f"q={value}")


def test_default_quality_is_85() -> None:
    image = gradient(120, 90)
    assert enc(image, "jpeg") == enc(image, "jpeg", "quality=85")
    assert enc(image, "jpeg") != enc(image, "jpeg", "quality=84")


def test_jpeg_quality_reaches_the_quantisation_tables() -> None:
    # libjpeg scales the standard luminance table (first entry 16): q=50 keeps 16, q=90 gives 3
    def first_luma_quant(data: bytes) -> int:
        pos = data.index(b"\xff\xdb")
        assert data[pos + 4] & 0xF0 == 0  # 8-bit table
        return data[pos + 5]

    assert first_luma_quant(enc(gradient(64, 48), "jpeg", "quality=50")) == 16
    assert first_luma_quant(enc(gradient(64, 48), "jpeg", "quality=90")) == 3


# --- WebP -------------------------------------------------------------------------------------


def test_webp_quality_100_is_lossless() -> None:
    """Cloudflare, P/quality.mdx: with WebP output, quality=100 is lossless."""
    image = gradient(96, 64)
    data = enc(image, "webp", "quality=100")
    assert data[12:16] == b"VP8L"
    assert max_diff(decode(data), image) == 0


def test_webp_quality_100_with_alpha_is_lossless() -> None:
    alpha = (pyvips.Image.xyz(96, 64)[0] * 2 + 1).cast("uchar")
    image = gradient(96, 64).bandjoin(alpha).copy(interpretation="srgb")
    decoded = decode(enc(image, "webp", "quality=100"))
    assert decoded.bands == 4
    assert max_diff(decoded, image) == 0


def test_webp_below_100_is_lossy() -> None:
    image = gradient(96, 64)
    data = enc(image, "webp", "quality=99")
    assert b"VP8 " in data[:40]
    assert 0 < max_diff(decode(data), image) <= 12


def test_webp_keeps_alpha() -> None:
    image = quadrants(64, 32, alpha=True) * [1, 1, 1, 0.5]
    decoded = decode(enc(image, "webp"))
    assert decoded.bands == 4
    assert all(near(c, (*q, 127), 8) for c, q in zip(corners(decoded), QUAD, strict=True))


# --- AVIF -------------------------------------------------------------------------------------


def test_avif_decodes_near_the_input() -> None:
    data = enc(quadrants(128, 64), "avif")
    assert data[4:12] == b"ftypavif"
    decoded = decode(data)
    assert (decoded.width, decoded.height) == (128, 64)
    assert all(near(c, q, 16) for c, q in zip(corners(decoded), QUAD, strict=True))
    assert mean_diff(decode(enc(gradient(128, 96), "avif")), gradient(128, 96)) < 4


def test_avif_keeps_alpha_and_is_8_bit() -> None:
    image = quadrants(64, 32, alpha=True) * [1, 1, 1, 0.5]
    decoded = decode(enc(image, "avif"))
    assert decoded.bands == 4
    assert decoded.format == "uchar"
    assert near(pixel(decoded, 5, 5), (255, 0, 0, 127), 12)


# --- PNG and GIF ------------------------------------------------------------------------------


def test_png_without_quality_is_lossless_truecolour() -> None:
    image = gradient(96, 64)
    data = enc(image, "png")
    with Image.open(io.BytesIO(data)) as pil:
        assert pil.mode == "RGB"
    assert max_diff(decode(data), image) == 0


@pytest.mark.parametrize("quality", ["quality=80", "quality=100", "q=low"])
def test_png_with_explicit_quality_uses_a_palette(quality: str) -> None:
    """Cloudflare, P/quality.mdx and P/format.mdx: PNG output with an explicit quality may be a palette PNG (PNG8)."""
    image = gradient(96, 64)
    data = enc(image, "png", quality)
    with Image.open(io.BytesIO(data)) as pil:
        assert pil.mode == "P"
    assert len(data) < len(enc(image, "png"))
    assert mean_diff(decode(data), image) < 6


def test_png_palette_keeps_transparency() -> None:
    image = quadrants(64, 32, alpha=True) * [1, 1, 1, 0.5]
    data = enc(image, "png", "quality=80")
    with Image.open(io.BytesIO(data)) as pil:
        assert pil.mode == "P"
        assert "transparency" in pil.info
    decoded = decode(data)
    assert decoded.bands == 4
    assert all(near(c, (*q, 127), 4) for c, q in zip(corners(decoded), QUAD, strict=True))


def test_png_keeps_grey_and_alpha() -> None:
    grey = gradient(64, 48).colourspace("b-w")
    assert decode(enc(grey, "png")).bands == 1
    assert decode(enc(quadrants(64, 32, alpha=True), "png")).bands == 4


def test_gif_still_image() -> None:
    data = enc(quadrants(64, 32), "gif")
    assert data[:6] == b"GIF89a"
    assert all(near(c, q, 4) for c, q in zip(corners(decode(data)), QUAD, strict=True))


def test_gif_and_webp_keep_every_frame() -> None:
    strip = pyvips.Image.new_from_buffer(animation(coloured_frames(40, 30, [RED, GREEN, BLUE])), "", n=-1)
    for fmt in ("gif", "webp"):
        decoded = decode(enc(strip, fmt))
        assert decoded.get("n-pages") == 3, fmt
        assert decoded.get("page-height") == 30, fmt
        for k, colour in enumerate((RED, GREEN, BLUE)):
            assert near(pixel(decoded, 20, 15 + 30 * k), colour, 8), (fmt, k)


@pytest.mark.parametrize("fmt", get_args(Writable))
def test_every_writable_format_in_the_registry_has_an_encoder(fmt: Writable) -> None:
    data = enc(quadrants(48, 32), fmt)
    assert codecs.sniff(data) == fmt
    decoded = decode(data)
    assert (decoded.width, decoded.height) == (48, 32)
    assert all(near(c, q, 24) for c, q in zip(corners(decoded), QUAD, strict=True)), fmt


# --- compression=fast and effort ---------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jpeg", "webp", "avif", "png", "gif"])
def test_fast_output_is_valid(fmt: Writable) -> None:
    image = quadrants(96, 48)
    decoded = decode(enc(image, fmt, "compression=fast"))
    assert (decoded.width, decoded.height) == (96, 48)
    assert all(near(c, q, 16) for c, q in zip(corners(decoded), QUAD, strict=True))


def test_fast_png_is_still_lossless() -> None:
    image = gradient(96, 64)
    assert max_diff(decode(enc(image, "png", "compression=fast")), image) == 0


@pytest.mark.parametrize(("fmt", "field"), [("webp", "webp_effort"), ("avif", "avif_effort")])
def test_fast_uses_effort_zero_and_settings_set_the_effort(fmt: Writable, field: str) -> None:
    image = gradient(128, 96)
    fast = enc(image, fmt, "compression=fast")
    assert fast == enc(image, fmt, settings=Settings(**{field: 0}))  # type: ignore[arg-type]
    assert enc(image, fmt) != fast
    default = getattr(SETTINGS, field)
    other = 2 if default != 2 else 3
    chosen = enc(image, fmt, settings=Settings(**{field: other}))  # type: ignore[arg-type]
    assert chosen not in (enc(image, fmt), fast)  # the setting is what sets the effort


def test_fast_jpeg_skips_huffman_optimisation_only_for_baseline() -> None:
    image = gradient(160, 120)
    slow = enc(image, "jpeg", "format=baseline-jpeg")
    fast = enc(image, "jpeg", "format=baseline-jpeg,compression=fast")
    assert len(fast) > len(slow)  # standard Huffman tables instead of optimised ones
    assert 0xC0 in jpeg_markers(fast)
    assert mean_diff(decode(fast), decode(slow)) == 0


def test_fast_jpeg_is_baseline_even_when_progressive_is_the_default() -> None:
    # progressive JPEG always optimises its Huffman tables (libjpeg forces it) and takes many
    # passes: compression=fast writes the one-pass baseline form, same pixels, more bytes
    image = gradient(160, 120)
    progressive = enc(image, "jpeg")
    fast = enc(image, "jpeg", "compression=fast")
    assert 0xC0 in jpeg_markers(fast)
    assert 0xC2 not in jpeg_markers(fast)
    assert fast == enc(image, "jpeg", "format=baseline-jpeg,compression=fast")
    assert len(fast) > len(progressive)
    assert max_diff(decode(fast), decode(progressive)) == 0


# --- Pillow's encoders for metadata-free JPEG and WebP stills -----------------------------------


def _libvips_jpeg(image: pyvips.Image, q: int, progressive: bool = True) -> bytes:
    return bytes(image.jpegsave_buffer(Q=q, interlace=progressive, keep=pyvips.enums.ForeignKeep.NONE))


@pytest.mark.parametrize("quality", [30, 85, 89, 90, 100])
@pytest.mark.parametrize("grey", [False, True], ids=["colour", "grey"])
def test_jpeg_has_the_pixels_libvips_writes(quality: int, grey: bool) -> None:
    # same quantisation tables, chroma subsampling (4:4:4 from quality 90) and DCT: same decoded pixels
    # (200×150: at least 150² pixels, where format=jpeg is progressive)
    image = quadrants(200, 150).gaussblur(2) if not grey else gradient(200, 150).colourspace("b-w")
    ours = enc(image, "jpeg", f"quality={quality},metadata=none")
    assert 0xC2 in jpeg_markers(ours)
    theirs = _libvips_jpeg(image, quality)
    assert decode(ours).bands == (1 if grey else 3)
    assert max_diff(decode(ours), decode(theirs)) == 0


def test_baseline_jpeg_has_the_pixels_libvips_writes() -> None:
    image = gradient(96, 64)
    ours = enc(image, "jpeg", "format=baseline-jpeg")
    assert max_diff(decode(ours), decode(_libvips_jpeg(image, 85, progressive=False))) == 0


@pytest.mark.parametrize("alpha", [False, True])
@pytest.mark.parametrize("quality", [50, 99])
def test_lossy_webp_is_byte_for_byte_what_libvips_writes(alpha: bool, quality: int) -> None:
    image = quadrants(96, 64, alpha=alpha).gaussblur(1.5).cast("uchar").copy(interpretation="srgb")
    for effort in (0, 4, 6):
        settings = Settings(webp_effort=effort)
        theirs = image.webpsave_buffer(Q=quality, effort=effort, keep=pyvips.enums.ForeignKeep.NONE)
        assert enc(image, "webp", f"quality={quality}", settings=settings) == bytes(theirs), effort


@pytest.mark.parametrize("quality", [94, 100])
def test_incompressible_jpeg_at_high_quality_is_still_written(quality: int) -> None:
    # noise at 4:4:4 and high quality outgrows the output buffer Pillow allots (about 1-2 bytes a
    # pixel): libvips writes those pixels instead, the same JPEG the Pillow path would have given
    base = pyvips.Image.gaussnoise(300, 200, mean=128, sigma=60).cast("uchar")
    image = base.bandjoin([base.rot180(), base.fliphor()]).copy(interpretation="srgb")
    data = enc(image, "jpeg", f"quality={quality}")
    assert len(data) > 300 * 200  # more than Pillow allots below quality 95
    assert 0xE0 not in jpeg_markers(data)  # no JFIF segment: libvips wrote it, not Pillow
    assert 0xC2 in jpeg_markers(data)
    assert max_diff(decode(data), decode(_libvips_jpeg(image, quality))) == 0


def test_an_image_too_large_for_webp_fails_as_libvips_says() -> None:
    source = save(solid(16400, 2, (10, 20, 30)), "png")
    with pytest.raises(ProcessingError) as info:
        transform(source, "format=webp", settings=Settings(max_output_side=20_000))
    assert info.value.status == 500
    assert "too large" in str(info.value.detail)


# --- metadata ---------------------------------------------------------------------------------


def _exif_text(values: dict[str, object], name: str) -> str | None:
    value = values.get(name)
    return None if value is None else str(value)


@pytest.mark.parametrize("source", ["set-fields", "loaded"])
def test_jpeg_copyright_keeps_only_the_copyright(source: str) -> None:
    image = tagged(gradient(64, 48))
    image = as_loaded(image) if source == "loaded" else image
    values = fields(enc(image, "jpeg"))  # metadata=copyright is the default
    copyright_ = _exif_text(values, "exif-ifd0-Copyright")
    assert copyright_ is not None
    assert copyright_.startswith(COPYRIGHT)
    assert "exif-ifd0-Artist" not in values
    assert "exif-ifd0-Make" not in values
    assert "xmp-data" not in values


def test_jpeg_copyright_with_parentheses_survives_whole() -> None:
    notice = "ACME Corp (Europe) 2026"
    image = gradient(64, 48).copy()
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Copyright", notice)
    for candidate in (image, as_loaded(image)):
        values = fields(enc(candidate, "jpeg", "metadata=copyright"))
        copyright_ = _exif_text(values, "exif-ifd0-Copyright")
        assert copyright_ is not None
        assert copyright_.startswith(notice), copyright_


def test_jpeg_copyright_without_a_notice_writes_no_exif() -> None:
    image = gradient(64, 48).copy()
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Artist", "Jane Doe")
    data = enc(as_loaded(image), "jpeg", "metadata=copyright")
    assert "exif-ifd0-Artist" not in fields(data)
    assert b"Jane Doe" not in data


@pytest.mark.parametrize("source", ["set-fields", "loaded"])
def test_jpeg_keep_keeps_everything(source: str) -> None:
    image = tagged(gradient(64, 48))
    image = as_loaded(image) if source == "loaded" else image
    data = enc(image, "jpeg", "metadata=keep")
    values = fields(data)
    assert str(values["exif-ifd0-Copyright"]).startswith(COPYRIGHT)
    assert str(values["exif-ifd0-Artist"]).startswith("Jane Doe")
    assert str(values["exif-ifd0-Make"]).startswith("Canon")
    xmp = values["xmp-data"]
    assert isinstance(xmp, bytes)
    assert b"dc:creator" in xmp


def test_jpeg_none_keeps_nothing() -> None:
    data = enc(as_loaded(tagged(gradient(64, 48))), "jpeg", "metadata=none")
    values = fields(data)
    assert not [name for name in values if name.startswith(("exif-", "xmp-", "iptc-"))]
    assert b"Exif\0\0" not in data
    assert COPYRIGHT.encode() not in data
    assert b"Jane Doe" not in data


def test_avif_follows_the_same_policy_as_jpeg() -> None:
    image = as_loaded(tagged(gradient(64, 48)))
    kept = fields(enc(image, "avif", "metadata=keep"))
    assert str(kept["exif-ifd0-Artist"]).startswith("Jane Doe")
    copyright_only = fields(enc(image, "avif", "metadata=copyright"))
    assert str(copyright_only["exif-ifd0-Copyright"]).startswith(COPYRIGHT)
    assert "exif-ifd0-Artist" not in copyright_only
    nothing = enc(image, "avif", "metadata=none")
    assert COPYRIGHT.encode() not in nothing


@pytest.mark.parametrize("metadata", ["keep", "copyright", "none"])
@pytest.mark.parametrize("fmt", ["webp", "png", "gif"])
def test_webp_png_and_gif_never_carry_exif(fmt: Writable, metadata: str) -> None:
    data = enc(as_loaded(tagged(gradient(64, 48))), fmt, f"metadata={metadata}")
    values = fields(data)
    assert "exif-data" not in values
    assert not [name for name in values if name.startswith("exif-")]
    assert "xmp-data" not in values
    assert COPYRIGHT.encode() not in data
    assert b"Jane Doe" not in data
    assert b"eXIf" not in data
    assert b"EXIF" not in data


@pytest.mark.parametrize("metadata", ["keep", "copyright", "none"])
@pytest.mark.parametrize("fmt", ["jpeg", "avif", "webp", "png"])
def test_no_orientation_other_than_1_survives(fmt: Writable, metadata: str) -> None:
    data = enc(as_loaded(tagged(quadrants(64, 32), orientation=6)), fmt, f"metadata={metadata}")
    values = fields(data)
    assert values.get("orientation", 1) == 1
    exif_orientation = values.get("exif-ifd0-Orientation")
    assert exif_orientation is None or str(exif_orientation).startswith("1 ")
    # a viewer applying the tags shows exactly what was encoded: red stays top-left
    shown = pyvips.Image.new_from_buffer(data, "").autorot()
    assert (shown.width, shown.height) == (64, 32)
    assert near(pixel(shown, 3, 3), RED, 16)


@pytest.mark.parametrize("metadata", ["keep", "copyright", "none"])
@pytest.mark.parametrize("fmt", ["jpeg", "avif", "webp", "png"])
def test_no_icc_profile_is_written(fmt: Writable, metadata: str) -> None:
    source = gradient(64, 48).icc_transform("p3")  # carries the P3 profile in icc-profile-data
    assert "icc-profile-data" in source.get_fields()
    image = source.colourspace("srgb").copy()  # what the engine hands over: sRGB pixels, stale field
    assert "icc-profile-data" not in fields(enc(image, fmt, f"metadata={metadata}"))


def test_metadata_through_the_engine_with_exif_orientation() -> None:
    stored = tagged(quadrants(200, 100).rot270(), orientation=6)
    source = bytes(stored.jpegsave_buffer(Q=95, keep=pyvips.enums.ForeignKeep.EXIF))
    for metadata, expect_artist in (("copyright", False), ("keep", True)):
        result = transform(source, f"width=100,metadata={metadata}")
        assert (result.format, result.width, result.height) == ("jpeg", 100, 50)
        values = fields(result.data)
        assert str(values["exif-ifd0-Copyright"]).startswith(COPYRIGHT)
        assert ("exif-ifd0-Artist" in values) is expect_artist
        assert values.get("orientation", 1) == 1
        shown = pyvips.Image.new_from_buffer(result.data, "").autorot()
        assert all(near(c, q, 20) for c, q in zip(corners(shown), QUAD, strict=True)), metadata
    stripped = transform(source, "width=100,metadata=none")
    assert COPYRIGHT.encode() not in stripped.data
    assert "orientation" not in fields(stripped.data) or fields(stripped.data)["orientation"] == 1


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_pillow_encodes_into_a_file_descriptor_without_the_gil(fmt: Writable, monkeypatch: pytest.MonkeyPatch) -> None:
    # into a BytesIO Pillow's JPEG encoder holds the GIL for the whole encode (the server's workers
    # queued on it); only encode_to_file, which it uses when the output has a file descriptor, lets go
    handles: list[int | None] = []
    tile = ImageFile._encode_tile

    def recorded(im: Image.Image, fp: Any, tiles: Any, bufsize: int, fh: int | None, exc: Any = None) -> None:
        handles.append(fh)
        tile(im, fp, tiles, bufsize, fh, exc)

    monkeypatch.setattr(ImageFile, "_encode_tile", recorded)
    image = quadrants(200, 150).gaussblur(2)
    data = enc(image, fmt, "quality=80")
    if fmt == "jpeg":
        assert handles and all(isinstance(fh, int) for fh in handles)  # encode_to_file, GIL released
        assert 0xE0 in jpeg_markers(data)  # Pillow wrote it (JFIF segment)
        assert max_diff(decode(data), decode(_libvips_jpeg(image, 80))) == 0
    else:
        assert not handles  # WebP is one call into libwebp, which releases the GIL itself
        assert data == bytes(image.webpsave_buffer(Q=80, effort=4, keep=pyvips.enums.ForeignKeep.NONE))


def test_without_memory_files_pillow_writes_the_same_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    # platforms without memfd_create (macOS) encode into a BytesIO: the GIL is held, the bytes are the same
    image = quadrants(200, 150).gaussblur(2)
    with_memfd = enc(image, "jpeg", "quality=80")
    monkeypatch.delattr(os, "memfd_create")
    assert enc(image, "jpeg", "quality=80") == with_memfd
    assert 0xE0 in jpeg_markers(with_memfd)  # both Pillow's
