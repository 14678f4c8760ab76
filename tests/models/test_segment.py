"""segment=foreground with a real IS-Net model on a composite with exact ground truth."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import pyvips

from enlarger.errors import FeatureUnavailableError
from enlarger.models import runtime, segment
from enlarger.pipeline import transform
from enlarger.settings import Settings
from tests.imaging import decode, save
from tests.models.labelled import CUTOUTS, ISNET, backgrounds, composite, iou_dice, require


@pytest.fixture(scope="module")
def isnet() -> Settings:
    return Settings(segment_model=str(require(ISNET)), segment_model_kind="isnet")


@pytest.fixture(scope="module")
def scene() -> tuple[bytes, np.ndarray[Any, Any]]:
    cutout = pyvips.Image.new_from_file(str(require(CUTOUTS / "animals-mammals-bears-european-bear.png")))
    photo = pyvips.Image.new_from_file(str(backgrounds()[1]))
    image, truth = composite(cutout, photo, (480, 360), 0.6, (0.4, 0.55))
    return save(image, "jpeg", Q=92), truth


def test_the_mask_becomes_alpha_matching_the_ground_truth(
    isnet: Settings, scene: tuple[bytes, np.ndarray[Any, Any]]
) -> None:
    data, truth = scene
    out = decode(transform(data, "segment=foreground", settings=isnet).data)
    assert out.bands == 4  # a JPEG source keeps its cut-out: PNG is chosen
    alpha = out.extract_band(3).numpy() / 255.0
    iou, dice = iou_dice(alpha, truth)
    assert iou > 0.9 and dice > 0.95
    soft = ((alpha > 0.02) & (alpha < 0.98)).mean()
    assert 0 < soft < 0.05  # soft (0–255) along the edges only


def test_background_fills_and_jpeg_flattens(isnet: Settings, scene: tuple[bytes, np.ndarray[Any, Any]]) -> None:
    data, truth = scene
    out = decode(transform(data, "segment=foreground,background=#ff00ff,format=jpeg", settings=isnet).data)
    assert out.bands == 3
    pixels = out.numpy().astype(np.float32)
    background = pixels[truth < 0.01]
    magenta = (np.abs(background - [255, 0, 255]).max(axis=1) < 40).mean()
    assert magenta > 0.95
    foreground = pixels[truth > 0.99]
    assert (np.abs(foreground - [255, 0, 255]).max(axis=1) < 40).mean() < 0.02


def test_the_model_is_loaded_once(isnet: Settings) -> None:
    first = runtime.session(ISNET, isnet)
    assert runtime.session(ISNET, isnet) is first
    report = runtime.memory()
    assert int(str(report["model_file_bytes"])) >= ISNET.stat().st_size
    assert int(str(report["process_rss_bytes"])) > 0


def test_missing_model_file_is_a_clear_error(tmp_path: Any) -> None:
    settings = Settings(segment_model=str(tmp_path / "absent.onnx"))
    with pytest.raises(FeatureUnavailableError, match=r"absent\.onnx does not exist"):
        segment.check_available(settings)
