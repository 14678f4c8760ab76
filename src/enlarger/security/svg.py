"""SVG sanitizer: what a stranger's SVG may keep so that it is just an image.

An SVG is an XML document as capable as an HTML page: scripts, event handlers, links,
external loads (images, fonts, stylesheets, ``use`` of other documents), ``foreignObject``
with HTML inside, and XML's own attacks (entity expansion, external entities). Opened as a
top-level document, a hostile SVG runs in the serving origin. This module keeps drawing and
nothing else:

- parsing is done by libxml2 (through lxml) with entity substitution, DTD loading and network
  access off and its default size and depth limits on; a document with a DTD *internal subset*
  (where entities are declared) is refused outright, a plain ``<!DOCTYPE svg PUBLIC ...>`` is
  dropped;
- elements and attributes are kept from allow-lists of drawing features (shapes, text, paint
  servers, clipping, masking, filters, markers, animation of presentation attributes);
  everything else goes with its content: ``script``, ``foreignObject``, ``iframe``, ``a`` (its
  drawing is kept, the link goes), ``font-face-uri``, elements of other namespaces, event
  handler attributes, comments and processing instructions (``xml-stylesheet``);
- references (``href``/``xlink:href``, ``url(...)`` in attributes and CSS) may only point
  inside the document (``#id``); ``image``/``feImage`` may also hold a raster ``data:`` URL,
  which is decoded, checked against the limits and re-encoded by the engine (``reencode``),
  so what is embedded is a fresh PNG or JPEG; embedded SVG documents are dropped;
- CSS (``style`` attributes and ``<style>`` sheets) keeps allow-listed properties whose values
  use only harmless functions; at-rules (``@import``, ``@font-face``, ``@media`` ...) and
  escaped or commented obfuscations are dropped;
- a document whose elements, counting those ``use`` draws again (transitively), exceed
  ``max_nodes`` is refused (the ``use`` form of the billion laughs), as is one whose ``use``
  references form a cycle.

The output is UTF-8 XML without DOCTYPE, comments or processing instructions.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from lxml import etree

from enlarger.errors import CorruptImageError, EnlargerError, InputTooLargeError

__all__ = ["Reencode", "looks_like_svg", "sanitize"]

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_NS = "http://www.w3.org/XML/1998/namespace"
_HREFS = (f"{{{XLINK_NS}}}href", "href")

#: ``reencode(raw) -> (media_type, data)``: decode an embedded raster, check it, encode it afresh.
Reencode = Callable[[bytes], tuple[str, bytes]]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_SHAPES = "path rect circle ellipse line polyline polygon"
_STRUCTURE = "svg g defs symbol use title desc switch image"
_TEXT = "text tspan textPath"
_PAINT = "linearGradient radialGradient stop pattern clipPath mask marker"
_FILTERS = (
    "filter feBlend feColorMatrix feComponentTransfer feComposite feConvolveMatrix feDiffuseLighting "
    "feDisplacementMap feDistantLight feDropShadow feFlood feFuncA feFuncB feFuncG feFuncR feGaussianBlur "
    "feImage feMerge feMergeNode feMorphology feOffset fePointLight feSpecularLighting feSpotLight feTile "
    "feTurbulence"
)
_ANIMATION = _words("animate animateMotion animateTransform set")
ELEMENTS = _words(f"{_SHAPES} {_STRUCTURE} {_TEXT} {_PAINT} {_FILTERS} style mpath") | _ANIMATION
#: elements whose ``href`` may point at another element of the document
_LOCAL_REFERENCES = _words("use linearGradient radialGradient pattern filter textPath mpath image feImage")
#: elements whose ``href`` may hold an embedded raster image
_EMBEDDING = frozenset({"image", "feImage"})

PRESENTATION = _words(
    """alignment-baseline baseline-shift clip clip-path clip-rule color color-interpolation
    color-interpolation-filters color-rendering direction display dominant-baseline fill fill-opacity
    fill-rule filter flood-color flood-opacity font font-family font-size font-size-adjust font-stretch
    font-style font-variant font-weight glyph-orientation-horizontal glyph-orientation-vertical
    image-rendering isolation kerning letter-spacing lighting-color marker marker-end marker-mid
    marker-start mask mask-type mix-blend-mode opacity overflow paint-order pointer-events
    shape-rendering stop-color stop-opacity stroke stroke-dasharray stroke-dashoffset stroke-linecap
    stroke-linejoin stroke-miterlimit stroke-opacity stroke-width text-anchor text-decoration
    text-rendering transform transform-origin transform-box unicode-bidi vector-effect visibility
    white-space word-spacing writing-mode"""
)
_GEOMETRY = """x y x1 y1 x2 y2 cx cy r rx ry fx fy fr width height d points pathLength viewBox
    preserveAspectRatio version baseProfile gradientUnits gradientTransform spreadMethod offset
    patternUnits patternContentUnits patternTransform clipPathUnits maskUnits maskContentUnits
    markerUnits markerWidth markerHeight refX refY orient dx dy rotate textLength lengthAdjust
    startOffset method spacing side filterUnits primitiveUnits in in2 result stdDeviation mode type
    values tableValues slope intercept amplitude exponent operator k1 k2 k3 k4 order kernelMatrix
    divisor bias targetX targetY edgeMode preserveAlpha surfaceScale diffuseConstant specularConstant
    specularExponent kernelUnitLength scale xChannelSelector yChannelSelector radius baseFrequency
    numOctaves seed stitchTiles azimuth elevation z pointsAtX pointsAtY pointsAtZ limitingConeAngle
    attributeName attributeType from to by keyTimes keySplines keyPoints calcMode begin dur end
    repeatCount repeatDur restart additive accumulate min max path id class style systemLanguage"""
ATTRIBUTES = PRESENTATION | _words(_GEOMETRY)
#: what animation elements may change (never href, style, class or event handlers)
_ANIMATABLE = PRESENTATION | _words(
    "x y x1 y1 x2 y2 cx cy r rx ry fx fy width height d points offset dx dy rotate startOffset "
    "stdDeviation values slope intercept amplitude exponent k1 k2 k3 k4 scale radius baseFrequency "
    "viewBox gradientTransform patternTransform"
)
#: CSS properties allowed in style attributes and sheets (presentation + SVG 2 geometry)
CSS_PROPERTIES = PRESENTATION | _words("x y cx cy r rx ry width height d line-height")
_CSS_FUNCTIONS = _words(
    "rgb rgba hsl hsla hwb lab lch oklab oklch color url calc min max clamp var translate translatex "
    "translatey scale scalex scaley rotate skew skewx skewy matrix"
)

_FRAGMENT = re.compile(r"#[A-Za-z_][\w.\-:]*")
_LOCAL_URL = re.compile(r"""url\(\s*(['"]?)\s*#[A-Za-z_][\w.\-:]*\s*\1\s*\)""", re.I)
_ANY_URL = re.compile(r"url\s*\(", re.I)
_SCHEME = re.compile(r"[a-z][a-z0-9+.\-]*:", re.I)
_FUNCTION = re.compile(r"([a-z\-]+)\s*\(", re.I)
_INVISIBLE = re.compile(r"[\x00-\x20\x7f-\xa0\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff]+")
_DATA_URL = re.compile(r"data:(image/(?:png|jpeg|jpg|gif|webp))((?:;[^;,]*)*),(.*)", re.I | re.S)
_CSS_COMMENT = re.compile(r"/\*.*?(\*/|\Z)", re.S)
_SELECTOR = re.compile(r"""[\w\s.#*,>+~:()\[\]="'|^$\-]+""")

_SNIFF_HEAD = re.compile(
    rb"""\A(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*|<!DOCTYPE[^>\[]*(?:\[.*?\])?\s*>\s*|<\?[^>]*\?>\s*)*<(?:svg:)?svg[\s>/]""",
    re.S | re.I,
)


def looks_like_svg(data: bytes) -> bool:
    """Whether ``data`` starts like an SVG document (UTF-8 or UTF-16), judged from its first 32 KiB."""
    head = data[:32768]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        head = head.decode("utf-16", errors="ignore").encode()
    return _SNIFF_HEAD.match(head) is not None


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        strip_cdata=True,
    )


def _parse(data: bytes) -> etree._Element:
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise CorruptImageError(f"the SVG document is not well-formed XML ({exc})") from exc
    if _has_internal_subset(root.getroottree()):
        raise CorruptImageError("SVG documents declaring a DTD internal subset (entities) are refused")
    if etree.QName(root).localname != "svg" or etree.QName(root).namespace not in (SVG_NS, None):
        raise CorruptImageError("the document is not an SVG image (its root element is not <svg>)")
    return root


def _has_internal_subset(tree: etree._ElementTree) -> bool:
    """A DOCTYPE with declarations (entities, attribute defaults): libxml2 keeps it, we refuse it."""
    docinfo = tree.docinfo
    if docinfo.internalDTD is None:
        return False
    if list(docinfo.internalDTD.entities()) or list(docinfo.internalDTD.iterelements()):
        return True
    # ATTLIST-only subsets are not listed by lxml: the serialized DOCTYPE shows the subset
    serialized: bytes = etree.tostring(tree)
    return serialized.startswith(docinfo.doctype[:-1].encode() + b" [")


def _local(element: etree._Element) -> str | None:
    """The SVG element name, or None for other namespaces (documents without xmlns count as SVG)."""
    if not isinstance(element.tag, str):
        return None  # entity references and the like
    qname = etree.QName(element)
    return qname.localname if qname.namespace in (SVG_NS, None) else None


def _compact(value: str) -> str:
    return _INVISIBLE.sub("", value)


def _safe_value(value: str) -> bool:
    """No external URL, scheme, script expression or CSS escape anywhere in an attribute value."""
    compact = _compact(value)
    if "\\" in compact or "expression(" in compact.lower():
        return False
    if _ANY_URL.search(_LOCAL_URL.sub("", compact)):
        return False
    return not _SCHEME.search(_LOCAL_URL.sub("", compact))


def _safe_css_value(value: str) -> bool:
    if any(c in value for c in "\\<>@{};"):
        return False
    for match in _FUNCTION.finditer(value):
        if match.group(1).lower() not in _CSS_FUNCTIONS:
            return False
    return _safe_value(value)


def sanitize_declarations(text: str) -> str:
    """A ``style`` attribute (``prop: value; ...``) keeping only allowed properties and safe values."""
    text = _CSS_COMMENT.sub(" ", text)
    if "\\" in text:
        return ""  # CSS escapes only serve to hide words from filters like this one
    kept = []
    for declaration in text.split(";"):
        name, colon, value = declaration.partition(":")
        name, value = name.strip().lower(), value.strip()
        if colon and name in CSS_PROPERTIES and value and _safe_css_value(value):
            kept.append(f"{name}:{value}")
    return ";".join(kept)


def _skip_block(text: str, pos: int) -> int:
    depth = 0
    while pos < len(text):
        if text[pos] == "{":
            depth += 1
        elif text[pos] == "}":
            depth -= 1
            if depth <= 0:
                return pos + 1
        pos += 1
    return pos


def sanitize_stylesheet(text: str) -> str:
    """A ``<style>`` sheet keeping plain rules (selector + safe declarations); at-rules are dropped."""
    text = _CSS_COMMENT.sub(" ", text)
    if "\\" in text:
        return ""
    rules = []
    pos = 0
    while pos < len(text):
        brace, semi = text.find("{", pos), text.find(";", pos)
        prelude_end = brace if brace >= 0 else len(text)
        if text[pos:prelude_end].lstrip().startswith("@"):
            # a statement at-rule (@import, @charset) ends at ";", a block one (@media, @font-face) at "}"
            pos = semi + 1 if 0 <= semi < prelude_end else _skip_block(text, prelude_end)
            continue
        if brace < 0:
            break
        close = text.find("}", brace)
        close = len(text) if close < 0 else close
        selector, body = text[pos:brace].strip(), text[brace + 1 : close]
        pos = close + 1
        if "{" in body:  # nesting: not for drawing, and hard to reason about
            pos = _skip_block(text, brace)
            continue
        declarations = sanitize_declarations(body)
        if selector and _SELECTOR.fullmatch(selector) and declarations:
            rules.append(f"{selector}{{{declarations}}}")
    return "\n".join(rules)


def _embedded(href: str, reencode: Reencode | None) -> str | None:
    """A re-encoded data URL for an embedded raster, or None to drop it."""
    match = _DATA_URL.fullmatch(_compact(href))
    if match is None or reencode is None:
        return None
    params, payload = match.group(2).lower(), match.group(3)
    try:
        raw = base64.b64decode(payload, validate=False) if ";base64" in params else unquote_to_bytes(payload)
        media_type, data = reencode(raw)
    except (binascii.Error, ValueError, EnlargerError):
        return None
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def _clean_href(element: etree._Element, name: str, reencode: Reencode | None) -> None:
    value = element.attrib.get("href") or element.attrib.get(_HREFS[0])
    for attribute in _HREFS:
        element.attrib.pop(attribute, None)
    if value is None or name not in _LOCAL_REFERENCES:
        return
    compact = _compact(value)
    if _FRAGMENT.fullmatch(compact):
        element.set(_HREFS[0], compact)
    elif name in _EMBEDDING and (data_url := _embedded(value, reencode)) is not None:
        element.set(_HREFS[0], data_url)


def _clean_attributes(element: etree._Element, name: str, reencode: Reencode | None) -> bool:
    """Clean one kept element's attributes; False when the element must go (an unsafe animation)."""
    has_href = any(attribute in element.attrib for attribute in _HREFS)
    for attribute in list(element.attrib):
        qname = etree.QName(attribute)
        if qname.namespace == XML_NS and qname.localname in ("space", "lang"):
            continue
        value = element.attrib[attribute]
        if attribute in _HREFS:
            continue
        if qname.namespace is not None or attribute not in ATTRIBUTES:
            del element.attrib[attribute]
        elif attribute == "style":
            cleaned = sanitize_declarations(value)
            if cleaned:
                element.set("style", cleaned)
            else:
                del element.attrib[attribute]
        elif not _safe_value(value):
            del element.attrib[attribute]
    if has_href:
        _clean_href(element, name, reencode)
    if name in _ANIMATION:
        target = _compact(element.attrib.get("attributeName", ""))
        return name == "animateMotion" or target in _ANIMATABLE
    return True


def _unwrap(element: etree._Element) -> None:
    """Replace ``element`` (a link) by a group with its children: the drawing stays, the link goes."""
    element.tag = f"{{{SVG_NS}}}g" if etree.QName(element).namespace else "g"
    for attribute in list(element.attrib):
        if attribute not in ("id", "class", "transform", "style") and attribute not in PRESENTATION:
            del element.attrib[attribute]


def _remove(element: etree._Element) -> None:
    parent = element.getparent()
    if parent is None:
        return
    # keep the text that followed the removed element (it belongs to the parent)
    if element.tail:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)


def _clean_tree(root: etree._Element, reencode: Reencode | None) -> None:
    stack = [root]
    while stack:
        element = stack.pop()
        name = _local(element)
        if name == "a":
            _unwrap(element)
            name = "g"
        if name is None or name not in ELEMENTS:
            _remove(element)
            continue
        if not _clean_attributes(element, name, reencode):
            _remove(element)
            continue
        if name == "style":
            sheet = sanitize_stylesheet("".join(element.itertext()))
            for child in list(element):
                element.remove(child)
            element.text = sheet
            if not sheet or element.attrib.pop("type", "text/css").lower() != "text/css":
                _remove(element)
            continue
        stack.extend(element)


def _count_nodes(root: etree._Element, limit: int) -> None:
    """Refuse a document drawing more than ``limit`` elements once ``use`` is expanded, or a cycle."""
    ids = {element.get("id"): element for element in root.iter() if element.get("id") is not None}
    cost: dict[etree._Element, int] = {}
    active: set[etree._Element] = set()

    def weigh(element: etree._Element, depth: int) -> int:
        if element in cost:
            return cost[element]
        if element in active:
            raise CorruptImageError("the SVG document's <use> references form a cycle")
        if depth > 500:
            raise InputTooLargeError("the SVG document nests <use> references too deeply")
        active.add(element)
        total = 1
        for child in element:
            total += weigh(child, depth + 1)
        if _local(element) == "use":
            href = element.get(_HREFS[0]) or ""
            target = ids.get(href[1:])
            if target is not None:
                total += weigh(target, depth + 1)
        active.discard(element)
        cost[element] = total
        if total > limit:
            raise InputTooLargeError(
                f"the SVG document draws more than {limit:,} elements (counting <use> copies); that is the limit"
            )
        return total

    weigh(root, 0)


def sanitize(data: bytes, *, reencode: Reencode | None = None, max_nodes: int = 200_000) -> bytes:
    """The drawing of SVG ``data`` and nothing else (see the module documentation).

    ``reencode`` turns an embedded raster (``data:image/...``) into a checked, freshly encoded
    one; without it embedded rasters are dropped. Raises :class:`CorruptImageError` for
    documents that are not well-formed SVG or declare entities, and :class:`InputTooLargeError`
    for documents over ``max_nodes`` elements with ``use`` copies counted.
    """
    root = _parse(data)
    if sum(1 for _ in root.iter()) > max_nodes:
        raise InputTooLargeError(f"the SVG document has more than {max_nodes:,} elements; that is the limit")
    _clean_tree(root, reencode)
    _count_nodes(root, max_nodes)
    result: bytes = etree.tostring(_rebuild(root), xml_declaration=True, encoding="UTF-8")
    return result


def _rebuild(root: etree._Element) -> etree._Element:
    """A fresh tree in the SVG default namespace (xlink declared once): no stray prefixes or xmlns."""
    rebuilt = etree.Element(f"{{{SVG_NS}}}svg", dict(root.attrib), nsmap={None: SVG_NS, "xlink": XLINK_NS})
    rebuilt.text = root.text
    stack = [(root, rebuilt)]
    while stack:
        source, target = stack.pop()
        for child in source:
            copy = etree.SubElement(target, f"{{{SVG_NS}}}{etree.QName(child).localname}", dict(child.attrib))
            copy.text, copy.tail = child.text, child.tail
            stack.append((child, copy))
    return rebuilt
