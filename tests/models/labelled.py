"""Labelled data for the model tests and benchmarks, with exact or hand-checked ground truth.

The files come from ``scripts/fetch_models.py`` (into the git-ignored ``models/``). Tests that
need them skip when they are absent, unless ``ENLARGER_REQUIRE_MODELS`` is set (CI sets it, so
there they must run).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pyvips

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
ISNET = MODELS / "isnet.onnx"
U2NETP = MODELS / "u2netp.onnx"
FACES = MODELS / "testdata" / "faces"
CUTOUTS = MODELS / "testdata" / "cutouts"
BACKGROUNDS = MODELS / "testdata" / "backgrounds"

#: face boxes (x0, y0, x1, y1) in source pixels, drawn by hand and checked on screen
FACE_BOXES: dict[str, list[tuple[int, int, int, int]]] = {
    "astronaut.png": [(180, 72, 275, 172)],
    "camera.png": [(200, 112, 272, 205)],
    "t1.jpg": [
        (52, 275, 168, 391),
        (267, 168, 372, 273),
        (456, 286, 568, 398),
        (733, 364, 828, 459),
        (868, 72, 1000, 204),
        (1128, 295, 1222, 388),
    ],
}


def require(path: Path) -> Path:
    """``path``, or skip the test when it is missing (fail instead under ENLARGER_REQUIRE_MODELS)."""
    if not path.exists():
        message = f"{path.relative_to(ROOT)} is missing: run scripts/fetch_models.py"
        if os.environ.get("ENLARGER_REQUIRE_MODELS"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def backgrounds() -> list[Path]:
    """Distinct background photos (one size of each)."""
    return sorted(p for p in BACKGROUNDS.glob("*.jpg") if "_" not in p.stem or not p.stem.split("_")[-1][0].isdigit())


def composite(
    cutout: pyvips.Image, background: pyvips.Image, size: tuple[int, int], scale: float, position: tuple[float, float]
) -> tuple[pyvips.Image, np.ndarray[Any, Any]]:
    """``cutout`` (RGBA) over ``background`` filling ``size``; the cut-out's long side is ``scale`` × the
    canvas' short side, its centre at ``position`` (fractions). Returns (RGB image, ground-truth mask 0–1)."""
    width, height = size
    canvas = background.thumbnail_image(width, height=height, crop="centre").extract_band(0, n=3)
    factor = scale * min(width, height) / max(cutout.width, cutout.height)
    piece = cutout.resize(factor, kernel="linear")
    x = round(position[0] * width - piece.width / 2)
    y = round(position[1] * height - piece.height / 2)
    x, y = max(0, min(width - piece.width, x)), max(0, min(height - piece.height, y))
    image = canvas.composite2(piece, "over", x=x, y=y).extract_band(0, n=3).cast("uchar").copy(interpretation="srgb")
    alpha = pyvips.Image.black(width, height).insert(piece.extract_band(3), x, y)
    return image, np.asarray(alpha.numpy(), dtype=np.float32) / 255.0


def iou_dice(predicted: np.ndarray[Any, Any], truth: np.ndarray[Any, Any]) -> tuple[float, float]:
    """IoU and Dice of two masks (0–1 values, cut at 0.5)."""
    p, g = predicted >= 0.5, truth >= 0.5
    inter, union, total = (p & g).sum(), (p | g).sum(), p.sum() + g.sum()
    return (float(inter / union) if union else 1.0), (float(2 * inter / total) if total else 1.0)
