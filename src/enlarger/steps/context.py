"""What every step may read besides the image and the options."""

from __future__ import annotations

from dataclasses import dataclass

import pyvips

from enlarger.codecs import Header
from enlarger.geometry import Plan
from enlarger.options import DrawOptions
from enlarger.settings import Settings


@dataclass(frozen=True)
class Layer:
    """An overlay ready to draw: one sRGB + alpha frame, and where and how to draw it (``steps/draw.py``)."""

    image: pyvips.Image
    draw: DrawOptions


@dataclass(frozen=True)
class Context:
    header: Header
    plan: Plan
    settings: Settings
    output_format: str
    animated: bool
    #: where ``gravity=face`` found the faces (0–1 of the frame the crop step sees), if it did
    focal: tuple[float, float] | None = None
    #: overlays for the ``draw`` step, decoded and transformed before the steps run
    overlays: tuple[Layer, ...] = ()
