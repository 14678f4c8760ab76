"""What a binding call describes, checked and typed: a tree of sources, transforms and draws.

A :class:`Node` is one image (bytes or text) and the steps applied to it in order: a
:class:`Transform` (the binding's ``.transform(options)``) or a :class:`Draw` (another node drawn on
it, ``.draw(child, options)``). The Python API and the wire protocol both build this tree, so both
accept exactly the same options with the same errors; :mod:`enlarger.binding.render` runs it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from enlarger.binding.text import TextSource, parsed
from enlarger.colors import Color
from enlarger.errors import OptionError
from enlarger.options import (
    DrawOptions,
    Options,
    boolean,
    color,
    parse_draw,
    parse_options,
    quality_number,
    quality_or_level,
)

#: ``.draw()`` options that transform the overlay itself first (``cf.image.draw``'s, offered on
#: ``.draw()`` too), besides those that place it (:class:`~enlarger.options.DrawOptions`)
OVERLAY_OWN = ("width", "height", "fit", "gravity", "background", "rotate")

#: ``.output({format})`` media types → the engine's format names (``rgb``/``rgba``: raw pixels)
OUTPUT_FORMATS: dict[str, str] = {
    "image/jpeg": "jpeg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/avif": "avif",
    "rgb": "rgb",
    "rgba": "rgba",
}
RAW_FORMATS = frozenset({"rgb", "rgba"})


@dataclass(frozen=True)
class Transform:
    options: Options


@dataclass(frozen=True)
class Draw:
    """``child`` drawn at ``place``, after its own ``size`` (pixels or 0–1 of the base) and ``own`` options."""

    child: Node
    place: DrawOptions
    own: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Node:
    source: bytes | TextSource
    steps: tuple[Transform | Draw, ...] = ()


@dataclass(frozen=True)
class Output:
    """``.output()``: ``format`` is the engine's name (or ``rgb``/``rgba``)."""

    format: str
    quality: int | None = None
    background: Color | None = None
    anim: bool = True

    @property
    def media_type(self) -> str:
        return next(media for media, name in OUTPUT_FORMATS.items() if name == self.format)


def transform_options(raw: Mapping[str, Any]) -> Options:
    """The binding's ``.transform()`` object as :class:`Options` (the Workers spellings included:
    ``trim.border: true``, ``gravity: {x, y, mode}``, ``gravity: "entropy"``)."""
    if not isinstance(raw, Mapping):
        raise OptionError("transform", raw, "an object of transformation options")
    values = dict(raw)
    trim = values.get("trim")
    if isinstance(trim, Mapping) and isinstance(trim.get("border"), bool):
        rest = {k: v for k, v in trim.items() if k != "border"}
        values["trim"] = "border" if trim["border"] and not rest else rest or None
    gravity = values.get("gravity")
    if isinstance(gravity, Mapping):
        values["gravity"] = {k: v for k, v in gravity.items() if k != "mode"}  # box placement: ours is one
    elif gravity == "entropy":
        values["gravity"] = "auto"  # the nearest we have: libvips' attention (saliency) crop
    options = parse_options(values)
    if options.draw is not None or any(str(name).lower().startswith("draw.") for name in values):
        raise OptionError("draw", options.draw, "overlays are drawn with .draw(image, options), not in .transform()")
    return options


def draw_options(raw: Mapping[str, Any] | None) -> tuple[DrawOptions, dict[str, object]]:
    """Split ``.draw()`` options into placement and the overlay's own transform (checked now)."""
    if raw is not None and not isinstance(raw, Mapping):
        raise OptionError("draw", raw, "an object of draw options")
    values = dict(raw or {})
    own = {k: values.pop(k) for k in OVERLAY_OWN if values.get(k) is not None}
    own_options(own)  # validates values now; fractions are resolved by the engine, from the base's plan
    return parse_draw(values), own


def own_options(own: Mapping[str, object]) -> tuple[Options, float | None, float | None]:
    """The overlay's own options, and its width and height when they are fractions (0–1) of the base:
    the engine resolves those (:class:`~enlarger.job.Overlay`), the rest are options now."""
    values = dict(own)
    relative: dict[str, float] = {}
    for name in ("width", "height"):
        value = values.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1:
            relative[name] = float(values.pop(name))  # type: ignore[arg-type]
    return transform_options(values), relative.get("width"), relative.get("height")


def output_options(format: object, quality: object = None, background: object = None, anim: object = None) -> Output:
    """``.output()``'s options; ``format`` is required (``image/png``…, or ``png``…)."""
    if not isinstance(format, str) or not format.strip() or format == "undefined":
        raise OptionError("format", format, f"an output format is required: {' | '.join(OUTPUT_FORMATS)}")
    name = format.strip().lower()
    name = OUTPUT_FORMATS.get(name, name if name in OUTPUT_FORMATS.values() else "")
    if not name:
        raise OptionError("format", format, " | ".join(OUTPUT_FORMATS))
    return Output(
        name,
        quality=parsed("quality", quality, lambda q: quality_number(quality_or_level(q)), "1–100", None),
        background=parsed("background", background, color, "a CSS colour", None),
        anim=parsed("anim", anim, boolean, "true | false", True),
    )


def recipe(node: Node, output: Output) -> str:
    """What a binding call makes, as text: the sources (by digest) and every parameter in order.
    Cloudflare bills the binding per unique transformation (the same sources and parameters count
    once a month; ``info()`` is free), and usage accounting counts it the same way."""
    return f"{_node_recipe(node)}\n{output!r}"


def _node_recipe(node: Node) -> str:
    source = node.source
    parts = [hashlib.sha256(source).hexdigest() if isinstance(source, bytes) else repr(source)]
    for step in node.steps:
        if isinstance(step, Transform):
            parts.append(f"t:{step.options.canonical()}")
        else:
            parts.append(f"d:{step.place!r}:{sorted(step.own.items())!r}:({_node_recipe(step.child)})")
    return " ".join(parts)
