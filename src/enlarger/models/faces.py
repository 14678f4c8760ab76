"""Face detection (boxes only) for ``gravity=face``, and the documented face crop.

Detection only: the detectors return rectangles and scores. Nothing here recognises, embeds,
stores or logs anything about a face.

The detector is MediaPipe's BlazeFace full-range model (Apache-2.0), converted from its
``.tflite`` file to ONNX by ``scripts/convert_blazeface.py`` and shipped inside the package, so
``gravity=face`` works out of the box. ``face_model`` (a path) loads another BlazeFace-format ONNX
(the short-range one, which ``scripts/fetch_models.py`` converts for the
benchmark, or a re-trained one). Decoders for YuNet, SCRFD and RetinaFace were dropped:
no weights could be had from a package registry to run them against, and an unverified box decoder
fails silently (docs/models.md).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyvips

from enlarger.errors import FeatureUnavailableError
from enlarger.models import runtime
from enlarger.settings import Settings

#: Longest side of the copy the detector sees (the documented 1024 px limit).
INFERENCE_SIDE = 1024
DATA = Path(__file__).resolve().parent / "data"
DEFAULT_MODEL = DATA / "blazeface_full_range.onnx"

Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class Box:
    """A detected face: corners in pixels of the image that was analysed, and a 0–1 score."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float = 1.0

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    def scaled(self, factor: float) -> Box:
        return Box(self.x0 * factor, self.y0 * factor, self.x1 * factor, self.y1 * factor, self.score)


class FaceDetector(Protocol):
    """Anything that finds faces in an RGB ``uint8`` array of shape (height, width, 3)."""

    def detect(self, rgb: Array) -> list[Box]: ...


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    w = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
    h = max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
    inter = w * h
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union > 0 else 0.0


_MAX_CANDIDATES = 200


def weighted_nms(boxes: list[Box], threshold: float = 0.3) -> list[Box]:
    """MediaPipe's weighted non-maximum suppression: overlapping boxes are averaged by score.

    Only the ``_MAX_CANDIDATES`` best-scoring boxes take part: the pairing is quadratic, and a
    hostile image lighting up every anchor must not turn it into seconds of Python.
    """
    remaining = sorted(boxes, key=lambda b: b.score, reverse=True)[:_MAX_CANDIDATES]
    kept: list[Box] = []
    while remaining:
        best = remaining[0]
        group = [b for b in remaining if iou(best, b) > threshold]
        remaining = [b for b in remaining if iou(best, b) <= threshold]
        total = sum(b.score for b in group)
        kept.append(
            Box(
                sum(b.x0 * b.score for b in group) / total,
                sum(b.y0 * b.score for b in group) / total,
                sum(b.x1 * b.score for b in group) / total,
                sum(b.y1 * b.score for b in group) / total,
                best.score,
            )
        )
    return kept


def _sigmoid(x: Array) -> Array:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(x, -50.0, 50.0))))


def _letterbox(rgb: Array, side: int) -> tuple[Array, float, float, float]:
    """``rgb`` resized into a ``side``² square, centred, aspect kept; returns (square, scale, pad x, pad y)."""
    h, w = rgb.shape[:2]
    scale = side / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    image = pyvips.Image.new_from_array(np.ascontiguousarray(rgb)).copy(interpretation="srgb")
    resized = image.resize(nw / w, vscale=nh / h, kernel="linear").numpy()
    square = np.zeros((side, side, 3), np.float32)
    px, py = (side - nw) // 2, (side - nh) // 2
    square[py : py + nh, px : px + nw] = resized[:nh, :nw, :3]
    return square, scale, float(px), float(py)


class BlazeFace:
    """MediaPipe BlazeFace (short range 128², full range 192²) through onnxruntime."""

    def __init__(self, session: runtime.Session, min_score: float) -> None:
        self.session = session
        self.side = int(session.input_shape[1])
        if self.side == 128:  # short range: 4 layers, strides 8,16,16,16, two anchors per cell
            strides, per_cell = [8, 16, 16, 16], 2
        elif self.side == 192:  # full range: one layer, stride 4, one anchor per cell
            strides, per_cell = [4], 1
        else:
            raise FeatureUnavailableError(f"unsupported BlazeFace input size {self.side}")
        self.anchors = self._anchors(strides, per_cell)
        self.min_score = min_score

    def _anchors(self, strides: list[int], per_cell: int) -> Array:
        centres: list[tuple[float, float]] = []
        previous = None
        for stride in strides:
            if stride == previous:
                continue  # layers with the same stride share a grid (MediaPipe's SsdAnchorsCalculator)
            repeats = strides.count(stride) * per_cell
            cells = math.ceil(self.side / stride)
            for y in range(cells):
                for x in range(cells):
                    centres.extend([((x + 0.5) / cells, (y + 0.5) / cells)] * repeats)
            previous = stride
        return np.array(centres, np.float32)

    def detect(self, rgb: Array) -> list[Box]:
        """Faces on the whole image and, when it is much larger than the model's input, on four
        overlapping quarter tiles too (small faces vanish when a 1024 px copy shrinks to 192 px)."""
        h, w = rgb.shape[:2]
        boxes = self._detect(rgb)
        if max(w, h) > 3 * self.side:
            tw, th = math.ceil(w * 0.6), math.ceil(h * 0.6)
            for x, y in ((0, 0), (w - tw, 0), (0, h - th), (w - tw, h - th)):
                tile = self._detect(np.ascontiguousarray(rgb[y : y + th, x : x + tw]))
                boxes.extend(Box(b.x0 + x, b.y0 + y, b.x1 + x, b.y1 + y, b.score) for b in tile)
        return _clip(weighted_nms(boxes), w, h)

    def _detect(self, rgb: Array) -> list[Box]:
        square, scale, px, py = _letterbox(rgb, self.side)
        feed = (square / 127.5 - 1.0)[None].astype(np.float32)
        outputs = self.session.run(feed)
        regressors, scores = (outputs[0], outputs[1]) if outputs[0].shape[-1] == 16 else (outputs[1], outputs[0])
        raw, prob = regressors[0], _sigmoid(scores[0, :, 0])
        keep = np.nonzero(prob >= self.min_score)[0]
        boxes = []
        for i in keep:
            cx = raw[i, 0] / self.side + self.anchors[i, 0]
            cy = raw[i, 1] / self.side + self.anchors[i, 1]
            w, h = raw[i, 2] / self.side, raw[i, 3] / self.side
            x0, y0 = ((cx - w / 2) * self.side - px) / scale, ((cy - h / 2) * self.side - py) / scale
            x1, y1 = ((cx + w / 2) * self.side - px) / scale, ((cy + h / 2) * self.side - py) / scale
            boxes.append(Box(float(x0), float(y0), float(x1), float(y1), float(prob[i])))
        return weighted_nms(boxes)


def _clip(boxes: list[Box], width: int, height: int) -> list[Box]:
    out = []
    for b in boxes:
        clipped = Box(max(0.0, b.x0), max(0.0, b.y0), min(float(width), b.x1), min(float(height), b.y1), b.score)
        if clipped.width > 1 and clipped.height > 1:
            out.append(clipped)
    return out


ADAPTERS: dict[str, type[BlazeFace]] = {"blazeface": BlazeFace}

_DETECTORS: dict[tuple[str, str, float, str, int], FaceDetector] = {}
_LOCK = threading.Lock()


def detector(settings: Settings) -> FaceDetector:
    """The process-wide detector chosen by ``face_model`` / ``face_model_kind``."""
    path = Path(settings.face_model) if settings.face_model else DEFAULT_MODEL
    kind = settings.face_model_kind if settings.face_model else "blazeface"
    key = (str(path), kind, settings.face_min_score, settings.inference_device, settings.inference_threads)
    with _LOCK:
        found = _DETECTORS.get(key)
    if found is not None:
        return found
    made = ADAPTERS[kind](runtime.session(path, settings), settings.face_min_score)
    with _LOCK:
        return _DETECTORS.setdefault(key, made)


def inference_copy(image: pyvips.Image, side: int = INFERENCE_SIDE) -> tuple[Array, float]:
    """An RGB ``uint8`` array no larger than ``side`` on its long side (aspect kept), and its scale."""
    scale = min(1.0, side / max(image.width, image.height))
    if scale < 1.0:
        image = image.resize(scale, kernel="linear")
    if image.hasalpha():
        image = image.flatten(background=[255] * (image.bands - 1))
    if image.bands < 3:
        image = image.colourspace("srgb")
    return image.extract_band(0, n=3).cast("uchar").numpy(), scale


def detect(image: pyvips.Image, settings: Settings) -> tuple[list[Box], float]:
    """Faces in ``image`` in pixels of its inference copy, and that copy's scale (≤ 1)."""
    rgb, scale = inference_copy(image)
    found = detector(settings)
    with runtime.inference_slot(settings):
        return found.detect(rgb), scale


def outer_box(boxes: list[Box]) -> Box:
    """The box around all ``boxes``: left-most x, top-most y, right-most x, bottom-most y."""
    return Box(min(b.x0 for b in boxes), min(b.y0 for b in boxes), max(b.x1 for b in boxes), max(b.y1 for b in boxes))


def zoom_area(size: tuple[float, float], box: Box, zoom: float) -> tuple[float, float, float, float]:
    """The documented crop around ``box`` in an image of ``size``: (1 ÷ zoom) × the box, at most the
    image, centred on the box's centre and shifted to stay inside. Returns (x, y, width, height)."""
    width, height = size
    w = min(width, box.width / zoom) if zoom > 0 else width
    h = min(height, box.height / zoom) if zoom > 0 else height
    cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
    x = min(max(0.0, cx - w / 2), width - w)
    y = min(max(0.0, cy - h / 2), height - h)
    return x, y, w, h
