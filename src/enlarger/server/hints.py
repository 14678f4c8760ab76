"""Client hints (DPR, Width, Viewport-Width, Save-Data and the network hints) → options.

A hint only acts where the options leave room for it — ``width=auto``, no explicit ``dpr``,
a ``slow-connection-quality`` — and only the hints that can act are added to ``Vary``, so
caches do not fragment on headers that changed nothing.

``width=auto`` follows Cloudflare's make-responsive-images page: the width the client asks for
(Sec-CH-Width/Width, else Viewport-Width × DPR, in device pixels) is rounded up to the next of
``wbreakpoints`` (the largest when it is beyond them all); without such hints the device class
decides, ``wmobile`` for phones and tablets (Sec-CH-UA-Mobile, else the User-Agent) and
``wdesktop`` for everything else.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from enlarger.options import MAX_DPR, Options

ACCEPT_CH = "DPR, Sec-CH-DPR, Width, Sec-CH-Width, Viewport-Width, Sec-CH-Viewport-Width, Save-Data, ECT, RTT, Downlink"
_DPR = ("sec-ch-dpr", "dpr")
_WIDTH = ("sec-ch-width", "width")
_VIEWPORT = ("sec-ch-viewport-width", "viewport-width")
_SLOW = ("save-data", "ect", "rtt", "downlink")
_DEVICE = ("sec-ch-ua-mobile", "user-agent")
#: User-Agent words of phones and tablets (the usual "Mobi" rule, plus tablets that omit it)
_MOBILE_AGENT = re.compile(r"Mobi|Android|iPhone|iPad|iPod|Windows Phone|BlackBerry|Opera Mini|Silk/", re.I)
_CANONICAL = {
    "sec-ch-dpr": "Sec-CH-DPR",
    "dpr": "DPR",
    "sec-ch-width": "Sec-CH-Width",
    "width": "Width",
    "sec-ch-viewport-width": "Sec-CH-Viewport-Width",
    "viewport-width": "Viewport-Width",
    "save-data": "Save-Data",
    "ect": "ECT",
    "rtt": "RTT",
    "downlink": "Downlink",
    "sec-ch-ua-mobile": "Sec-CH-UA-Mobile",
    "user-agent": "User-Agent",
}


@dataclass(frozen=True)
class Hinted:
    options: Options
    vary: tuple[str, ...]


def _number(headers: Mapping[str, str], names: tuple[str, ...]) -> float | None:
    for name in names:
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            value = float(raw.strip())
        except ValueError:
            continue
        if math.isfinite(value) and value > 0:
            return value
    return None


def _slow_connection(headers: Mapping[str, str]) -> bool:
    """Save-Data: on, an ECT of slow-2g/2g/3g, RTT above 150 ms or downlink below 5 Mbit/s."""
    if headers.get("save-data", "").strip().lower() == "on":
        return True
    if headers.get("ect", "").strip().lower() in ("slow-2g", "2g", "3g"):
        return True
    rtt, downlink = _number(headers, ("rtt",)), _number(headers, ("downlink",))
    return (rtt is not None and rtt > 150) or (downlink is not None and downlink < 5)


def is_mobile(headers: Mapping[str, str]) -> bool:
    """The device class: Sec-CH-UA-Mobile when the client sends it, else the User-Agent's words."""
    hint = headers.get("sec-ch-ua-mobile")
    if hint is not None:
        return hint.strip() == "?1"
    return bool(_MOBILE_AGENT.search(headers.get("user-agent", "")))


def auto_width(options: Options, headers: Mapping[str, str]) -> int | None:
    """The breakpoint ``width=auto`` picks from the width hints (device pixels); None without hints."""
    wanted = _number(headers, _WIDTH)
    if wanted is None and (viewport := _number(headers, _VIEWPORT)) is not None:
        wanted = viewport * (_number(headers, _DPR) or 1.0)
    if wanted is None:
        return None
    points = options.wbreakpoints
    return next((p for p in points if p >= wanted), points[-1])


def apply_hints(options: Options, headers: Mapping[str, str]) -> Hinted:
    """The options with hints applied, and the hint headers the response varies on."""
    changes: dict[str, Any] = {}
    vary: list[str] = []
    sized = options.width is not None or options.height is not None
    if options.dpr is None and sized:
        vary += _DPR
        dpr = _number(headers, _DPR)
        if dpr is not None:
            changes["dpr"] = min(MAX_DPR, max(1.0, dpr))
    if options.width == "auto":
        vary += _WIDTH + _VIEWPORT + _DPR + _DEVICE
        width = auto_width(options, headers)
        if width is not None:  # a breakpoint in device pixels: no dpr on top of it
            changes["width"], changes["dpr"] = width, None
        else:  # the device class's width; an explicit dpr still multiplies it, a DPR hint does not
            changes["width"] = options.wmobile if is_mobile(headers) else options.wdesktop
            changes["dpr"] = options.dpr
        changes.update(wbreakpoints=None, wmobile=None, wdesktop=None)  # spent: out of the cache key
    if options.slow_connection_quality is not None:
        vary += _SLOW
        if _slow_connection(headers):
            changes["quality"] = options.slow_connection_quality
    hinted = options.replace(**changes) if changes else options
    return Hinted(hinted, tuple(_CANONICAL[name] for name in dict.fromkeys(vary)))
