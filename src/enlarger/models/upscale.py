"""Super-resolution for ``upscale=generate``: an ESRGAN-class model enlarges by its factor (2×, 4×).

The models are ONNX files listed in ``upscale_model`` (``scripts/convert_esrgan.py`` makes them
from UpscalerJS's TensorFlow.js packages; their contract: NCHW float32 RGB in 0–255 in and out,
the factor in the metadata key ``scale``). They run through :mod:`enlarger.models.runtime`
(CPU by default, CUDA when present) in tiles: a tile of at most ``TILE``² source pixels plus
``CONTEXT`` pixels of its neighbours on each side, of which only the centre is kept. So memory per
run stays bounded whatever the image size, the seams are invisible (the context covers what the
convolutions see), each tile holds an inference slot only while it runs (other requests'
models interleave), and the deadline is checked between tiles, so a long enlargement stops
within one tile's time of its limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from enlarger import deadline
from enlarger.errors import FeatureUnavailableError, InputTooLargeError
from enlarger.models import runtime
from enlarger.settings import Settings

Array = np.ndarray[Any, Any]
#: source pixels per tile side, and neighbouring pixels seen on each side (measured: tiled output
#: differs from one whole-image run by at most one level in 255 with 16, tests/models/test_upscale.py)
TILE = 192
CONTEXT = 16


@dataclass(frozen=True)
class Model:
    """One loaded super-resolution model and its integer factor."""

    session: runtime.Session
    scale: int


def models(settings: Settings) -> list[Model]:
    """The configured models, smallest factor first; a clear 501 when there are none or one is unusable."""
    paths = [p.strip() for p in settings.upscale_model.split(",") if p.strip()]
    if not paths:
        raise FeatureUnavailableError(
            "upscale=generate needs a super-resolution model: set upscale_model (ENLARGER_UPSCALE_MODEL) "
            "to an ONNX file such as models/esrgan-medium-x4.onnx (see scripts/fetch_models.py)"
        )
    found = [Model(session, _scale(session)) for session in (runtime.session(Path(p), settings) for p in paths)]
    return sorted(found, key=lambda m: m.scale)


def _scale(session: runtime.Session) -> int:
    meta = session.inner.get_modelmeta().custom_metadata_map
    try:
        scale = int(meta["scale"])
    except (KeyError, ValueError):
        scale = 0
    if scale < 2:
        raise FeatureUnavailableError(
            f"the upscale model {session.path} has no integer 'scale' of at least 2 in its metadata "
            "(convert it with scripts/convert_esrgan.py)"
        )
    return scale


def choose(available: list[Model], ratio: float) -> Model:
    """The model for an enlargement by ``ratio``: the smallest factor that reaches it, else the largest
    (resampling does the rest, as Cloudflare's "2× or 4×, then bicubic"). One pass only: a second
    pass over a model's own output costs the square of the pixels for a picture the models were
    not trained on."""
    return next((m for m in available if m.scale >= ratio), available[-1])


def check_budget(model: Model, size: tuple[int, int], frames: int, settings: Settings) -> None:
    """Refuse (413) before any work when the model would produce more than ``upscale_max_output_pixels``."""
    produced = size[0] * size[1] * model.scale**2 * frames
    if produced > settings.upscale_max_output_pixels:
        shown = f"{size[0]}×{size[1]}" + (f" × {frames} frames" if frames > 1 else "")
        raise InputTooLargeError(
            f"upscale=generate would make the model produce {produced:,} pixels ({model.scale}× of {shown}); "
            f"the limit is {settings.upscale_max_output_pixels:,} (upscale_max_output_pixels); "
            "upscale=interpolate has no such limit"
        )


def _spans(length: int) -> list[tuple[int, int, int, int]]:
    """Per tile along one axis: (core start, core end, context start, context end)."""
    spans = []
    for start in range(0, length, TILE):
        end = min(start + TILE, length)
        spans.append((start, end, max(0, start - CONTEXT), min(length, end + CONTEXT)))
    return spans


def enlarge(rgb: Array, model: Model, settings: Settings) -> Array:
    """``rgb`` (H × W × 3 ``uint8``) enlarged ``model.scale`` times by the model, tile by tile."""
    height, width = rgb.shape[:2]
    f = model.scale
    out = np.empty((height * f, width * f, 3), np.uint8)
    for y0, y1, cy0, cy1 in _spans(height):
        for x0, x1, cx0, cx1 in _spans(width):
            deadline.check()  # between tiles; a tile itself is terminated by the runtime (enlarger.deadline)
            tile = rgb[cy0:cy1, cx0:cx1].astype(np.float32).transpose(2, 0, 1)[None]
            with runtime.inference_slot(settings):
                result = model.session.run(np.ascontiguousarray(tile))[0][0]
            core = result[:, (y0 - cy0) * f : (y1 - cy0) * f, (x0 - cx0) * f : (x1 - cx0) * f]
            out[y0 * f : y1 * f, x0 * f : x1 * f] = np.clip(core.transpose(1, 2, 0) + 0.5, 0, 255).astype(np.uint8)
    return out


def ratio_needed(source: tuple[int, int], target: tuple[int, int]) -> float:
    """How many times larger the target is than the source, on its most enlarged axis."""
    return max(target[0] / source[0], target[1] / source[1])
