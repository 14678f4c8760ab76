"""The engine's value types: what a job asks for (:class:`Job`, :class:`Overlay`), what ``decide``
found from the header (:class:`Decision`), and what comes out (:class:`Result`).

They sit below :mod:`enlarger.pipeline` (which makes them) so that the modules reading them —
provenance describing a decision, the URL-form overlays and the binding building jobs — need not
import the orchestrator, and nothing imports it back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from enlarger import formats
from enlarger.codecs import Header
from enlarger.formats import Output
from enlarger.geometry import Plan
from enlarger.options import DrawOptions, Options


@dataclass(frozen=True)
class Readable:
    """Untrusted bytes made safe to read, once: their size checked (``max_input_bytes``), an SVG
    replaced by its sanitized form, the header probed. Made by ``pipeline.readable_input``; every
    engine entry (``decide``, ``image_placeholders``, ``transform_job``) takes one as it is, so an
    upload is sanitized and probed once however many of them read it."""

    data: bytes
    header: Header


@dataclass(frozen=True)
class Result:
    """An encoded output and what a server needs to describe it."""

    data: bytes
    format: Output
    width: int
    height: int
    frames: int = 1

    @property
    def media_type(self) -> str:
        return formats.media_type(self.format)


@dataclass(frozen=True)
class Overlay:
    """An image to draw on the base: its bytes (already loaded: the engine fetches nothing), the
    options that transform it first (any of :class:`Options`; its format is ignored), and where
    and how to draw it."""

    data: bytes
    options: Options = field(default_factory=Options)
    draw: DrawOptions = field(default_factory=DrawOptions)
    #: sizes relative to the base: fractions (above 0, at most 1) of the base's output inside its
    #: border, which replace ``options.width``/``height``. Only the engine knows that size (from the
    #: one ``decide`` of the job), so front doors pass fractions instead of deciding the base first.
    width: float | None = None
    height: float | None = None

    def __post_init__(self) -> None:
        for name, value in (("width", self.width), ("height", self.height)):
            if value is not None and not 0 < value <= 1:
                raise ValueError(f"an overlay's relative {name} is a fraction above 0 and at most 1, not {value}")

    def sized(self, inner: tuple[int, int]) -> Overlay:
        """This overlay with its relative sizes made pixels of ``inner`` (the base's output inside its border)."""
        pixels = {
            name: max(1, round(fraction * extent))
            for name, fraction, extent in (("width", self.width, inner[0]), ("height", self.height, inner[1]))
            if fraction is not None
        }
        return Overlay(self.data, self.options.replace(**pixels), self.draw) if pixels else self


@dataclass(frozen=True)
class Job:
    """What the engine makes one output from: a base image, its options, and overlays drawn on it
    in order (by the ``draw`` step, after the base's own geometry and colour steps)."""

    base: bytes
    options: Options = field(default_factory=Options)
    overlays: tuple[Overlay, ...] = ()


@dataclass(frozen=True)
class Decision:
    """Everything decided from the header alone: enough to answer ``format=json`` or a cache lookup."""

    options: Options
    header: Header
    format: Output
    all_frames: bool
    plan: Plan
    focal: tuple[float, float] | None = None  # where gravity=face found faces, in the crop step's frame
    untransformed: bool = False  # an animation too large to transform: its bytes are the output
