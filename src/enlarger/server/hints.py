"""Client hints (DPR, Width, Viewport-Width, Save-Data and the network hints) → options.

A hint only acts where the options leave room for it — ``width=auto``, no explicit ``dpr``,
a ``slow-connection-quality`` — and only the hints that can act are added to ``Vary``, so
caches do not fragment on headers that changed nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from enlarger.options import MAX_DIMENSION, Options

ACCEPT_CH = "DPR, Sec-CH-DPR, Width, Sec-CH-Width, Viewport-Width, Sec-CH-Viewport-Width, Save-Data, ECT, RTT, Downlink"
_DPR = ("sec-ch-dpr", "dpr")
_WIDTH = ("sec-ch-width", "width")
_VIEWPORT = ("sec-ch-viewport-width", "viewport-width")
_SLOW = ("save-data", "ect", "rtt", "downlink")
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


def apply_hints(options: Options, headers: Mapping[str, str]) -> Hinted:
    """The options with hints applied, and the hint headers the response varies on."""
    changes: dict[str, Any] = {}
    vary: list[str] = []
    sized = options.width is not None or options.height is not None
    if options.dpr is None and sized:
        vary += _DPR
        dpr = _number(headers, _DPR)
        if dpr is not None:
            changes["dpr"] = min(4.0, max(1.0, dpr))
    if options.width == "auto":
        vary += _WIDTH + _VIEWPORT + _DPR
        width = _number(headers, _WIDTH)
        if width is not None:  # already in device pixels
            changes["width"], changes["dpr"] = min(MAX_DIMENSION, math.ceil(width)), None
        elif (viewport := _number(headers, _VIEWPORT)) is not None:
            changes["width"] = min(MAX_DIMENSION, math.ceil(viewport))
    if options.slow_connection_quality is not None:
        vary += _SLOW
        if _slow_connection(headers):
            changes["quality"] = options.slow_connection_quality
    hinted = options.replace(**changes) if changes else options
    return Hinted(hinted, tuple(_CANONICAL[name] for name in dict.fromkeys(vary)))
