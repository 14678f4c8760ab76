"""Client hints act only where the options leave room, and say what they vary on."""

from __future__ import annotations

from enlarger.options import parse_options
from enlarger.server.hints import apply_hints


def test_dpr_hint_applies_to_sized_requests_without_explicit_dpr() -> None:
    hinted = apply_hints(parse_options("width=100"), {"dpr": "2.5"})
    assert hinted.options.dpr == 2.5
    assert hinted.vary == ("Sec-CH-DPR", "DPR")
    assert apply_hints(parse_options("width=100"), {"sec-ch-dpr": "9"}).options.dpr == 4.0
    assert apply_hints(parse_options("width=100,dpr=1"), {"dpr": "2"}).options.dpr == 1.0
    assert apply_hints(parse_options("blur=3"), {"dpr": "2"}).vary == ()


def test_width_auto_uses_width_then_viewport() -> None:
    assert apply_hints(parse_options("width=auto"), {"sec-ch-width": "321.5", "dpr": "2"}).options.width == 322
    viewport = apply_hints(parse_options("width=auto"), {"viewport-width": "400", "dpr": "1.5"}).options
    assert (viewport.width, viewport.dpr) == (400, 1.5)
    assert apply_hints(parse_options("width=auto"), {}).options.width == "auto"
    assert apply_hints(parse_options("width=auto"), {"width": "garbage"}).options.width == "auto"


def test_slow_connection_hints() -> None:
    options = parse_options("quality=90,scq=30")
    for headers in ({"save-data": "on"}, {"ect": "2g"}, {"rtt": "300"}, {"downlink": "1.5"}):
        assert apply_hints(options, headers).options.quality == 30
    for headers in ({"save-data": "off"}, {"ect": "4g"}, {"rtt": "50"}, {"downlink": "20"}, {}):
        assert apply_hints(options, headers).options.quality == 90
    assert "Save-Data" in apply_hints(options, {}).vary
