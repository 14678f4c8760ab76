"""CSS colour parsing for ``background``, ``border.color`` and ``trim.border.color``.

Cloudflare accepts "any CSS color using CSS4 modern syntax", so we accept named colours,
hex (3, 4, 6, 8 digits), ``rgb()``/``rgba()`` and ``hsl()``/``hsla()`` with either comma or
space syntax, percentages and ``/ alpha``. Everything becomes one RGBA tuple so the cache key is
the same however the user spelled the colour.
"""

from __future__ import annotations

import colorsys
import math
import re
from typing import NamedTuple

import webcolors


class Color(NamedTuple):
    """An sRGB colour with alpha, each channel 0–255."""

    r: int
    g: int
    b: int
    a: int = 255

    @property
    def opaque(self) -> bool:
        return self.a == 255

    def css(self) -> str:
        """Canonical spelling: ``#rrggbb``, or ``#rrggbbaa`` when not opaque."""
        base = f"#{self.r:02x}{self.g:02x}{self.b:02x}"
        return base if self.opaque else f"{base}{self.a:02x}"

    def rgb(self) -> list[float]:
        return [float(self.r), float(self.g), float(self.b)]

    def rgba(self) -> list[float]:
        return [float(self.r), float(self.g), float(self.b), float(self.a)]


WHITE = Color(255, 255, 255)
BLACK = Color(0, 0, 0)
TRANSPARENT = Color(0, 0, 0, 0)

_FUNC = re.compile(r"^(rgba?|hsla?)\((.*)\)$")
_HEX = re.compile(r"^#([0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$")


# CSS Color 4 names that webcolors (CSS3) does not know
_CSS4_NAMES = {"rebeccapurple": "663399"}


def _clamp(value: float) -> int:
    """0–255, halves rounded up as browsers do, so every spelling of a colour gives one tuple."""
    if not math.isfinite(value):
        raise ValueError(value)
    return max(0, min(255, math.floor(value + 0.5)))


def _channel(token: str) -> int:
    if token.endswith("%"):
        return _clamp(float(token[:-1]) * 255 / 100)
    return _clamp(float(token))


def _alpha(token: str) -> int:
    if token.endswith("%"):
        return _clamp(float(token[:-1]) * 255 / 100)
    value = float(token)
    # CSS alpha is 0–1; Cloudflare's examples also show 0–100 ("rgba(255 255 0 100)").
    return _clamp(value * 255 if value <= 1 else value * 255 / 100)


def _hue(token: str) -> float:
    if token.endswith("deg"):
        token = token[:-3]
    return (float(token) % 360) / 360


def _percent(token: str) -> float:
    return max(0.0, min(1.0, float(token.rstrip("%")) / 100))


def _split_args(body: str) -> tuple[list[str], str | None]:
    alpha: str | None = None
    if "/" in body:
        body, alpha = (part.strip() for part in body.split("/", 1))
    parts = [p for p in re.split(r"[\s,]+", body.strip()) if p]
    return parts, alpha


def _from_function(name: str, body: str) -> Color:
    parts, alpha = _split_args(body)
    if alpha is None and len(parts) == 4:
        alpha = parts.pop()
    if len(parts) != 3:
        raise ValueError("expects three components")
    a = _alpha(alpha) if alpha is not None else 255
    if name.startswith("rgb"):
        return Color(_channel(parts[0]), _channel(parts[1]), _channel(parts[2]), a)
    r, g, b = colorsys.hls_to_rgb(_hue(parts[0]), _percent(parts[2]), _percent(parts[1]))
    return Color(_clamp(r * 255), _clamp(g * 255), _clamp(b * 255), a)


def _from_hex(digits: str) -> Color:
    if len(digits) in (3, 4):
        digits = "".join(c * 2 for c in digits)
    values = [int(digits[i : i + 2], 16) for i in range(0, len(digits), 2)]
    return Color(*values)


def parse_color(text: str) -> Color:
    """Parse a CSS colour; raises ``ValueError`` with no detail (the caller names the option)."""
    value = text.strip().lower()
    if value == "transparent":
        return TRANSPARENT
    if match := _HEX.match(value):
        return _from_hex(match.group(1))
    if match := _FUNC.match(value):
        try:
            return _from_function(match.group(1), match.group(2))
        except (ValueError, IndexError) as exc:
            raise ValueError(text) from exc
    try:
        return _from_hex(_CSS4_NAMES.get(value) or webcolors.name_to_hex(value)[1:])
    except ValueError as exc:
        raise ValueError(text) from exc


COLOR_HELP = "a CSS colour: a name (red), #rgb, #rrggbb, #rrggbbaa, rgb()/rgba() or hsl()/hsla()"
