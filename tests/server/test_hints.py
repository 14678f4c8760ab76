"""Client hints act only where the options leave room, and say what they vary on."""

from __future__ import annotations

from enlarger.options import parse_options
from enlarger.server.hints import apply_hints


def test_dpr_hint_applies_to_sized_requests_without_explicit_dpr() -> None:
    hinted = apply_hints(parse_options("width=100"), {"dpr": "1.5"})
    assert hinted.options.dpr == 1.5
    assert hinted.vary == ("Sec-CH-DPR", "DPR")
    assert apply_hints(parse_options("width=100"), {"sec-ch-dpr": "9"}).options.dpr == 2.0  # the documented max
    assert apply_hints(parse_options("width=100,dpr=1"), {"dpr": "2"}).options.dpr == 1.0
    assert apply_hints(parse_options("blur=3"), {"dpr": "2"}).vary == ()


IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
PIXEL = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile Safari/537.36"
DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"


def _auto(options: str, headers: dict[str, str]) -> tuple[object, float | None]:
    hinted = apply_hints(parse_options(options), headers).options
    return hinted.width, hinted.dpr


def test_width_auto_rounds_the_width_hints_up_to_a_breakpoint() -> None:
    """Cloudflare, optimization/make-responsive-images.mdx and P/width.mdx: width=auto picks one of
    the breakpoints (default 320;768;960;1200) from the client hints; wbreakpoints replaces them."""
    assert _auto("width=auto", {"sec-ch-width": "321.5", "dpr": "2"}) == (768, None)  # already device pixels
    assert _auto("width=auto", {"width": "320"}) == (320, None)
    assert _auto("width=auto", {"width": "5000"}) == (1200, None)  # beyond them all: the largest
    assert _auto("width=auto", {"viewport-width": "400", "dpr": "2"}) == (960, None)  # 800 device pixels
    assert _auto("width=auto", {"sec-ch-viewport-width": "300"}) == (320, None)
    assert _auto("width=auto,wbreakpoints=500;1000;2000", {"width": "900"}) == (1000, None)


def test_width_auto_without_hints_uses_the_device_class() -> None:
    """Cloudflare, P/width.mdx and make-responsive-images.mdx: without client hints, width=auto
    uses the User-Agent's device class: wmobile (768) for mobile devices, wdesktop (1200) else."""
    assert _auto("width=auto", {"user-agent": IPHONE}) == (768, None)
    assert _auto("width=auto", {"user-agent": PIXEL}) == (768, None)
    assert _auto("width=auto", {"user-agent": DESKTOP}) == (1200, None)
    assert _auto("width=auto", {}) == (1200, None)
    assert _auto("width=auto", {"width": "garbage", "user-agent": IPHONE}) == (768, None)
    assert _auto("width=auto", {"sec-ch-ua-mobile": "?1", "user-agent": DESKTOP}) == (768, None)
    assert _auto("width=auto", {"sec-ch-ua-mobile": "?0", "user-agent": IPHONE}) == (1200, None)
    assert _auto("width=auto,wmobile=500,wdesktop=1500", {"user-agent": IPHONE}) == (500, None)
    assert _auto("width=auto,wmobile=500,wdesktop=1500", {"user-agent": DESKTOP}) == (1500, None)
    assert _auto("width=auto,dpr=2", {"user-agent": DESKTOP}) == (1200, 2.0)  # an explicit dpr still applies


def test_width_auto_varies_on_what_chose_it_and_keys_on_the_width_only() -> None:
    hinted = apply_hints(parse_options("width=auto,wmobile=500"), {"user-agent": IPHONE})
    assert {"Sec-CH-Width", "Viewport-Width", "User-Agent", "Sec-CH-UA-Mobile"} <= set(hinted.vary)
    assert hinted.options.canonical() == "width=500"  # the spent sub-options leave the cache key


def test_slow_connection_hints() -> None:
    options = parse_options("quality=90,scq=30")
    for headers in ({"save-data": "on"}, {"ect": "2g"}, {"rtt": "300"}, {"downlink": "1.5"}):
        assert apply_hints(options, headers).options.quality == 30
    for headers in ({"save-data": "off"}, {"ect": "4g"}, {"rtt": "50"}, {"downlink": "20"}, {}):
        assert apply_hints(options, headers).options.quality == 90
    assert "Save-Data" in apply_hints(options, {}).vary
