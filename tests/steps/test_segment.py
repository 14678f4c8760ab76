"""The segment step with a stand-in mask: alpha, existing alpha, order with background and border."""

from __future__ import annotations

import pytest
import pyvips

from enlarger.errors import FeatureUnavailableError
from enlarger.pipeline import transform
from enlarger.settings import Settings
from enlarger.steps import segment as segment_step
from enlarger.steps.segment import cut_out
from tests.imaging import decode, gradient, save, solid


def _left_half(frame: pyvips.Image, settings: Settings) -> pyvips.Image:
    """A stand-in model: the left half is foreground."""
    mask = pyvips.Image.black(frame.width, frame.height)
    return mask.draw_rect(255, 0, 0, frame.width // 2, frame.height, fill=True).cast("uchar")


@pytest.fixture
def half(monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setattr(segment_step, "foreground_mask", _left_half)
    monkeypatch.setattr("enlarger.pipeline.check_available", lambda settings: None)
    return Settings(segment_model="stand-in.onnx")


def test_cut_out_multiplies_an_existing_alpha() -> None:
    frame = solid(4, 2, (10, 20, 30, 128))
    mask = pyvips.Image.black(4, 2).draw_rect(255, 0, 0, 2, 2, fill=True).cast("uchar")
    out = cut_out(frame, mask)
    assert out.bands == 4
    assert out.getpoint(0, 0)[3] == 128 and out.getpoint(3, 0)[3] == 0


def test_mask_becomes_alpha_after_resize(half: Settings) -> None:
    out = decode(transform(save(gradient(200, 100), "png"), "width=100,segment=foreground", settings=half).data)
    assert (out.width, out.height, out.bands) == (100, 50, 4)
    assert out.getpoint(10, 10)[3] == 255 and out.getpoint(90, 10)[3] == 0


def test_background_then_border_follow_segment(half: Settings) -> None:
    opts = "segment=foreground,background=red,border.color=blue,border.width=3,format=png"
    out = decode(transform(save(gradient(100, 50), "jpeg"), opts, settings=half).data)
    assert (out.width, out.height) == (106, 56)
    assert out.getpoint(90, 25)[:3] == [255, 0, 0]  # the removed half is filled
    assert out.getpoint(1, 1)[:3] == [0, 0, 255]  # the border is outside, untouched by the mask


def test_explicit_jpeg_is_flattened_on_white(half: Settings) -> None:
    out = decode(transform(save(gradient(100, 50), "png"), "segment=foreground,format=jpeg", settings=half).data)
    assert out.bands == 3 and min(out.getpoint(90, 25)) > 240


def test_no_model_configured_is_a_501_never_a_no_op() -> None:
    with pytest.raises(FeatureUnavailableError, match="segment_model") as info:
        transform(save(gradient(20, 10), "png"), "segment=foreground")
    assert info.value.status == 501
