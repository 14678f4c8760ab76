"""SVG: the sanitizer against a hostile corpus, drawing kept, embedded rasters re-encoded, rasterizing."""

from __future__ import annotations

import base64
import re
import struct
import zlib
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from lxml import etree

from enlarger import codecs
from enlarger.errors import EnlargerError, InputTooLargeError, UnsupportedFormatError
from enlarger.pipeline import transform
from enlarger.security import svg
from enlarger.settings import Settings
from tests.imaging import decode, near, pixel, save, solid
from tests.security.svg_corpus import SVG, XLINK, corpus

CORPUS = corpus()
_ACTIVE = re.compile(r"javascript|vbscript|livescript|expression\s*\(|@import|-moz-binding|behavior", re.I)
_EXTERNAL = re.compile(r"https?:|file:|//evil|evil\.example|url\(\s*['\"]?\s*[^#\s'\"]", re.I)
_DATA_PAYLOAD = re.compile(r"data:image/(png|jpeg);base64,[A-Za-z0-9+/=]+")


T = TypeVar("T")


def _loads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The size each rasterization (``codecs.load``, the one way to pixels) was asked for: counted, not timed."""
    calls: list[tuple[int, int]] = []
    real = codecs.load

    def spy(data: bytes, header: codecs.Header, target: tuple[int, int], **kwargs: Any) -> Any:
        calls.append(target)
        return real(data, header, target, **kwargs)

    monkeypatch.setattr(codecs, "load", spy)
    return calls


def _attempt(action: Callable[[], T]) -> T | EnlargerError:
    """The action's result, or the typed error it raised."""
    try:
        return action()
    except EnlargerError as error:
        return error


def assert_just_an_image(output: bytes) -> etree._Element:
    """Parses as SVG; only allow-listed elements and attributes; no handler, script, link or external load."""
    root = etree.fromstring(output, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    assert etree.QName(root).namespace == svg.SVG_NS
    assert root.getroottree().docinfo.internalDTD is None
    for element in root.iter():
        assert isinstance(element.tag, str), "comments, PIs and entities are gone"
        qname = etree.QName(element)
        assert qname.namespace == svg.SVG_NS and qname.localname in svg.ELEMENTS, qname
        for name, value in element.attrib.items():
            attribute = etree.QName(name)
            assert not attribute.localname.lower().startswith("on"), name
            if attribute.localname == "href":
                assert attribute.namespace == svg.XLINK_NS
                assert value.startswith("#") or _DATA_PAYLOAD.fullmatch(value), value
            else:
                assert attribute.namespace in (None, svg.XML_NS), name
                assert attribute.localname in svg.ATTRIBUTES or attribute.namespace == svg.XML_NS, name
        if qname.localname in ("animate", "set", "animateTransform"):
            assert element.get("attributeName") not in ("href", "xlink:href", "style", "onload")
    markup = etree.fromstring(output)
    for element in markup.iter():  # drawn text is only text; style sheets are what a browser acts on
        element.tail = None
        if etree.QName(element).localname != "style":
            element.text = None
    text = _DATA_PAYLOAD.sub("data:", etree.tostring(markup).decode("utf-8"))
    text = text.replace(f'xmlns="{svg.SVG_NS}"', "").replace(f'xmlns:xlink="{svg.XLINK_NS}"', "")
    assert not _ACTIVE.search(text), _ACTIVE.search(text)
    assert not _EXTERNAL.search(text), _EXTERNAL.search(text)
    assert b"<!DOCTYPE" not in output and b"<?xml-stylesheet" not in output
    return root


def test_the_corpus_has_every_family_and_more_than_100_documents() -> None:
    names = [name for name, _ in CORPUS]
    assert len(names) >= 100 and len(set(names)) == len(names)
    for family in ("handler-", "script", "a-href-", "use-", "set-", "animate", "style-", "billion", "xxe", "foreign"):
        assert any(name.startswith(family) for name in names), family


#: The only corpus documents that are refused outright: XML-level attacks (entities, DTDs) and
#: structural bombs (nesting, <use> cycles and amplification, element count). Every other family
#: (handlers, scripts, links, styles, foreign content, ...) must be cleaned and kept, not refused.
_REFUSED = {
    "billion-laughs",
    "quadratic-blowup",
    "xxe-file",
    "xxe-http",
    "xxe-parameter",
    "attlist-default-handler",
    "undeclared-entity",
    "deep-nesting-5000",
    "use-laughs",
    "use-cycle",
    "use-self",
    "many-elements",
}


def test_only_resource_attacks_are_refused_the_rest_is_cleaned_and_kept() -> None:
    refused = {name for name, data in CORPUS if isinstance(_attempt(lambda: svg.sanitize(data)), EnlargerError)}  # noqa: B023
    assert refused == _REFUSED


@pytest.mark.parametrize(("name", "data"), CORPUS, ids=[name for name, _ in CORPUS])
def test_hostile_svg_becomes_just_an_image_or_is_refused(
    name: str, data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings()
    loads = _loads(monkeypatch)
    result = _attempt(lambda: transform(data, settings=settings))
    if isinstance(result, EnlargerError):
        assert 400 <= result.status < 500, (name, result)
        assert loads == [], "a refused document reached the rasterizer"  # refused from the text alone
        return
    assert result.format == "svg" and result.media_type == "image/svg+xml"
    root = assert_just_an_image(result.data)
    assert svg.sanitize(result.data) == result.data, "sanitizing is idempotent"
    raster = transform(result.data, "width=64,height=64,fit=pad,format=png", settings=settings)
    image = decode(raster.data)
    assert (image.width, image.height) == (64, 64)
    if root.find(f"{{{svg.SVG_NS}}}rect") is not None and root.get("width") == "64":
        assert near(pixel(image, 28, 28), (255, 0, 0)), name  # the drawing survived


@pytest.mark.parametrize(
    "name", ["billion-laughs", "quadratic-blowup", "xxe-file", "xxe-http", "attlist-default-handler", "use-cycle"]
)
def test_xml_and_reference_attacks_are_refused_with_a_clear_4xx(name: str) -> None:
    data = dict(CORPUS)[name]
    with pytest.raises(EnlargerError) as info:
        transform(data)
    assert info.value.status in (403, 415)
    assert "SVG" in info.value.message


def test_use_expansion_over_the_limit_is_refused_and_the_limit_is_a_setting() -> None:
    data = dict(CORPUS)["use-laughs"]
    with pytest.raises(InputTooLargeError, match="<use>"):
        transform(data)
    small = f'<svg {SVG}><g id="a"><rect width="3" height="3"/></g>' + '<use href="#a"/>' * 50 + "</svg>"
    assert transform(small.encode()).format == "svg"
    with pytest.raises(InputTooLargeError):
        transform(small.encode(), settings=Settings(svg_max_nodes=40))


def test_drawing_features_are_kept() -> None:
    source = f"""<svg {SVG} {XLINK} width="100" height="50" viewBox="0 0 100 50">
      <title>Logo</title>
      <style>.blue {{ fill: #0000ff }} /* a comment */ #r:hover {{ opacity: .5 }}</style>
      <defs>
      <linearGradient id="g"><stop offset="0" stop-color="lime"/><stop offset="1" stop-color="lime"/></linearGradient>
      <clipPath id="c"><rect width="100" height="50"/></clipPath></defs>
      <a href="https://example.com/"><rect id="r" width="50" height="50" fill="url(#g)" clip-path="url(#c)"/></a>
      <rect x="50" width="50" height="50" class="blue" style="stroke: none; fill-opacity: 1"/>
      <use xlink:href="#r" x="200"/>
    </svg>""".encode()
    output = transform(source).data
    root = assert_just_an_image(output)
    assert root.get("viewBox") == "0 0 100 50"
    assert b".blue{fill:#0000ff}" in output and b"url(#g)" in output and b'xlink:href="#r"' in output
    assert b"example.com" not in output and b"<a" not in output
    image = decode(transform(output, "width=200,format=png").data)
    assert (image.width, image.height) == (200, 100)
    assert near(pixel(image, 50, 50), (0, 255, 0)) and near(pixel(image, 150, 50), (0, 0, 255))


def test_embedded_rasters_are_reencoded_and_stripped_of_metadata() -> None:
    png = save(solid(8, 8, (0, 255, 0)), "png")
    text = b"tEXt" + b"Comment\0secret location"
    chunk = struct.pack(">I", len(text) - 4) + text + struct.pack(">I", zlib.crc32(text))
    raw = png[:-12] + chunk + png[-12:] + b"TRAILER: the uncropped original"
    assert b"secret location" in raw
    href = "data:image/png;base64," + base64.b64encode(raw).decode()
    source = f'<svg {SVG} width="8" height="8"><image href="{href}" width="8" height="8"/></svg>'.encode()
    output = transform(source).data
    assert_just_an_image(output)
    match = re.search(rb'xlink:href="data:image/png;base64,([^"]+)"', output)
    assert match is not None
    embedded = base64.b64decode(match.group(1))
    assert b"secret location" not in embedded and b"TRAILER" not in embedded
    assert near(pixel(decode(embedded), 4, 4), (0, 255, 0))
    assert near(pixel(decode(transform(output, "format=png").data), 4, 4), (0, 255, 0))


@pytest.mark.parametrize(
    "payload",
    [
        b"not an image at all",
        b"\x89PNG\r\n\x1a\n" + b"\0" * 30,  # truncated
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\1\x86\xa0\0\1\x86\xa0\x08\x02\0\0\0\0\0\0\0",  # 100000×100000 bomb
    ],
)
def test_bad_embedded_rasters_are_dropped(payload: bytes) -> None:
    href = "data:image/png;base64," + base64.b64encode(payload).decode()
    source = f'<svg {SVG} width="8" height="8"><rect width="8" height="8" fill="red"/><image href="{href}"/></svg>'
    output = transform(source.encode()).data
    assert b"data:" not in output and b"<rect" in output


def test_svg_rasterizes_at_the_requested_size_and_never_from_the_declared_one(monkeypatch: pytest.MonkeyPatch) -> None:
    size = 'width="100000000" height="100000000" viewBox="0 0 10 10"'
    source = f'<svg {SVG} {size}><rect width="5" height="10" fill="red"/></svg>'
    loads = _loads(monkeypatch)
    result = transform(source.encode(), "width=100,format=png")
    assert loads == [(100, 100)]  # librsvg was asked for the output size only, once
    image = decode(result.data)
    assert (image.width, image.height) == (100, 100)
    assert near(pixel(image, 10, 50), (255, 0, 0)) and pixel(image, 90, 50)[3] == 0
    with pytest.raises(InputTooLargeError, match="rasterizing"):
        transform(source.encode(), "format=png", settings=Settings(max_input_pixels=1_000_000))


def test_variants_of_an_svg_are_the_sanitized_document() -> None:
    source = f'<svg {SVG} width="10" height="10"><rect width="10" height="10"/></svg>'.encode()
    outputs = {transform(source, options).data for options in ("", "width=50", "width=10,blur=5", "format=auto")}
    assert len(outputs) == 1
    assert transform(source, "format=auto", accept="image/avif,image/webp").format == "svg"
    assert transform(source, "format=webp").format == "webp"


@pytest.mark.parametrize(
    "head",
    [
        b"<svg ",
        b'<?xml version="1.0"?>\n<svg ',
        b"\xef\xbb\xbf  <!-- made by hand -->\n<svg ",
        b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n<svg ',
    ],
)
def test_svg_is_sniffed_from_its_start(head: bytes) -> None:
    data = head + f'{SVG} width="4" height="4"/>'.encode()
    assert codecs.sniff(data) == "svg"
    assert codecs.sniff(data.decode("utf-8-sig").encode("utf-16")) == "svg"
    assert transform(data, "format=png").width == 4


def test_svg_embedded_in_a_raster_extension_is_not_svg() -> None:
    assert codecs.sniff(save(solid(4, 4, (0, 0, 0)), "png") + b"<svg onload='alert(1)'/>") == "png"
    with pytest.raises(UnsupportedFormatError):
        codecs.sniff(b"<html><svg onload='alert(1)'/></html>")


_FRAGMENTS = st.sampled_from(
    [
        "<script>alert(1)</script>",
        '<a href="javascript:alert(1)">',
        "</a>",
        '<rect width="5" height="5" onload="x" style="fill:url(http://evil.example)"/>',
        '<use href="//evil.example/a#b"/>',
        "<style>@import url(http://evil.example);rect{fill:red}</style>",
        '<set attributeName="href" to="javascript:x"/>',
        "<foreignObject><p xmlns='http://www.w3.org/1999/xhtml'>x</p></foreignObject>",
        '<g id="a"><use href="#a"/></g>',
        "<g>",
        "</g>",
        "text &amp; more",
        "<![CDATA[ <script> ]]>",
        "<!-- <script> -->",
        '<image href="data:image/svg+xml,&lt;svg onload=alert(1)&gt;"/>',
        "&#106;avascript:",
    ]
)


@given(st.lists(_FRAGMENTS, max_size=12), st.text(max_size=20))
@hyp_settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_fuzz_sanitizer_output_is_always_just_an_image(fragments: list[str], noise: str) -> None:
    source = f'<svg {SVG} {XLINK} width="8" height="8">{"".join(fragments)}{noise}</svg>'.encode()
    output = _attempt(lambda: svg.sanitize(source))
    if isinstance(output, EnlargerError):
        assert 400 <= output.status < 500
        return
    assert_just_an_image(output)
    assert svg.sanitize(output) == output


@given(st.binary(max_size=400))
@hyp_settings(max_examples=200, deadline=None)
def test_fuzz_sanitizer_on_arbitrary_bytes_raises_only_typed_errors(noise: bytes) -> None:
    for data in (noise, b"<svg " + noise, f"<svg {SVG}>".encode() + noise + b"</svg>"):
        output = _attempt(lambda: svg.sanitize(data))  # noqa: B023 (called at once)
        if isinstance(output, EnlargerError):
            assert 400 <= output.status < 500
        else:
            assert_just_an_image(output)
