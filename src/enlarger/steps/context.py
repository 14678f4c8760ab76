"""What every step may read besides the image and the options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from enlarger.codecs import Header
from enlarger.geometry import Plan
from enlarger.settings import Settings

if TYPE_CHECKING:
    from enlarger.steps.draw import Layer


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
