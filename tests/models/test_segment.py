"""segment=foreground with real IS-Net and U²-Netp models on composites with exact ground truth."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import pyvips

from enlarger.errors import FeatureUnavailableError, InputTooLargeError
from enlarger.models import runtime, segment
from enlarger.pipeline import transform
from enlarger.server.metrics import Metrics
from enlarger.settings import Settings
from tests.imaging import animation, coloured_frames, decode, save
from tests.models.labelled import CUTOUTS, ISNET, U2NETP, backgrounds, composite, iou_dice, require


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


def test_the_model_is_loaded_once_and_reported_on_metrics(
    isnet: Settings, scene: tuple[bytes, np.ndarray[Any, Any]]
) -> None:
    first = runtime.session(ISNET, isnet)
    assert runtime.session(ISNET, isnet) is first
    report = runtime.memory()
    assert int(str(report["model_file_bytes"])) >= ISNET.stat().st_size
    assert int(str(report["process_rss_bytes"])) > 0
    runs, _ = runtime.latency().get(ISNET.name, (0, 0.0))
    # no subject at all: nothing becomes foreground (stretching the output to 0–1, as DIS's demo
    # code does, turned ~5 % of a blank image opaque)
    blank = segment.predict((pyvips.Image.black(128, 96, bands=3) + 235).cast("uchar"), isnet)
    assert float(blank.max()) < 0.2
    assert runtime.latency()[ISNET.name][0] == runs + 1
    text = Metrics().render().decode()
    assert f'enlarger_model_runs_total{{model="{ISNET.name}"}} {runs + 1}.0' in text
    assert "enlarger_models_loaded " in text and "enlarger_process_rss_bytes " in text


def test_u2netp_adapter(scene: tuple[bytes, np.ndarray[Any, Any]]) -> None:
    settings = Settings(segment_model=str(require(U2NETP)), segment_model_kind="u2netp")
    data, truth = scene
    alpha = decode(transform(data, "segment=foreground", settings=settings).data).extract_band(3).numpy() / 255.0
    iou, dice = iou_dice(alpha, truth)
    assert iou > 0.93 and dice > 0.96  # measured 0.979 / 0.989 (IS-Net: 0.986 / 0.993)


def test_long_animations_are_refused_before_any_model_runs() -> None:
    frames = animation(coloured_frames(40, 30, [(255, 0, 0), (0, 255, 0), (0, 0, 255)]))
    settings = Settings(segment_model="/nonexistent.onnx", segment_max_frames=2)
    with pytest.raises(InputTooLargeError, match=r"3 frames, the limit is 2 \(segment_max_frames; use anim=false"):
        transform(frames, "segment=foreground", settings=settings)
    with pytest.raises(FeatureUnavailableError):  # anim=false: one frame, so past the check (no model here)
        transform(frames, "segment=foreground,anim=false", settings=settings)


def test_missing_model_file_is_a_clear_error(tmp_path: Any) -> None:
    settings = Settings(segment_model=str(tmp_path / "absent.onnx"))
    with pytest.raises(FeatureUnavailableError, match=r"absent\.onnx does not exist"):
        segment.check_available(settings)
