"""The ESRGAN models behind upscale=generate: conversion, tiling, quality, limits (fetched models)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pyvips

from enlarger import deadline
from enlarger.errors import FeatureUnavailableError, InputTooLargeError, TransformTimeoutError
from enlarger.models import runtime, upscale
from enlarger.pipeline import transform
from enlarger.settings import Settings
from tests.imaging import decode
from tests.models import tfjs_reference
from tests.models.labelled import FACES, MODELS, U2NETP, require
from tests.models.quality import degrade, psnr, ssim

#: the converter folds the "rrdn" (thick) models' 0–1 range into the graph; "rdn" work in 0–255
RANGES = {"slim": 255.0, "medium": 255.0, "thick": 1.0}


def _model_file(size: str, scale: int) -> Path:
    return require(MODELS / f"esrgan-{size}-x{scale}.onnx")


def _settings(size: str = "slim", **overrides: object) -> Settings:
    paths = ",".join(str(_model_file(size, scale)) for scale in (2, 4))
    return Settings(upscale_model=paths, **overrides)  # type: ignore[arg-type]


def _photo(side: int, offset: tuple[int, int] = (150, 60)) -> pyvips.Image:
    """A ``side``² crop of the astronaut photo around the face."""
    image = pyvips.Image.new_from_file(str(require(FACES / "astronaut.png")))
    return image.crop(offset[0], offset[1], side, side).copy_memory()


@pytest.mark.parametrize("size", ["slim", "medium", "thick"])
@pytest.mark.parametrize("scale", [2, 4])
def test_the_converted_model_computes_what_the_tfjs_model_does(size: str, scale: int) -> None:
    (model,) = upscale.models(Settings(upscale_model=str(_model_file(size, scale))))
    assert model.scale == scale
    rgb = np.asarray(_photo(20, (200, 100)).numpy(), dtype=np.uint8)[:, :18]  # not square: catches axis mix-ups
    converted = model.session.run(np.ascontiguousarray(rgb.astype(np.float32).transpose(2, 0, 1)[None]))[0][0]
    folder = require(MODELS / "tfjs" / f"esrgan-{size}-x{scale}")
    expected = tfjs_reference.run(folder, rgb * RANGES[size] / 255.0) * 255.0 / RANGES[size]
    assert converted.transpose(1, 2, 0).shape == expected.shape == (20 * scale, 18 * scale, 3)
    assert float(np.abs(converted.transpose(1, 2, 0) - expected).max()) < 0.01  # of 255; measured ≤ 1.4e-4
    assert float(np.abs(expected - np.repeat(np.repeat(rgb, scale, 0), scale, 1)).mean()) < 20  # a real picture


def test_models_are_sorted_by_factor_and_chosen_by_the_enlargement() -> None:
    found = upscale.models(Settings(upscale_model=f"{_model_file('slim', 4)}, {_model_file('slim', 2)}"))
    assert [m.scale for m in found] == [2, 4]
    assert upscale.choose(found, 1.2).scale == 2
    assert upscale.choose(found, 2.0).scale == 2
    assert upscale.choose(found, 2.01).scale == 4
    assert upscale.choose(found, 7.0).scale == 4  # the largest; resampling does the rest


@pytest.mark.parametrize("size", ["slim", "thick"])
def test_tiles_join_without_seams(size: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(size)
    model = upscale.models(settings)[0]
    rgb = np.asarray(_photo(112).numpy(), dtype=np.uint8)[:, :100]
    whole = model.session.run(np.ascontiguousarray(rgb.astype(np.float32).transpose(2, 0, 1)[None]))[0][0]
    expected = np.clip(whole.transpose(1, 2, 0) + 0.5, 0, 255).astype(np.uint8)
    monkeypatch.setattr(upscale, "TILE", 40)  # 3 × 3 tiles on this crop
    tiled = upscale.enlarge(rgb, model, settings)
    assert tiled.shape == expected.shape == (224, 200, 3)
    assert int(np.abs(tiled.astype(int) - expected).max()) <= 1


def test_generate_is_closer_to_the_original_than_interpolate() -> None:
    truth = _photo(256)
    for factor in (2, 4):
        small = bytes(degrade(truth, factor).pngsave_buffer())
        options = "width=256,height=256,fit=contain,format=png"
        interpolated = decode(transform(small, options, settings=_settings()).data)
        generated = decode(transform(small, options + ",upscale=generate", settings=_settings()).data)
        assert (generated.width, generated.height, generated.bands) == (256, 256, 3)
        # measured on this crop: +2.3 dB (×2) and +0.55 dB (×4) with the slim model
        assert psnr(generated, truth) > psnr(interpolated, truth) + (1.5 if factor == 2 else 0.2)
        assert ssim(generated, truth) > ssim(interpolated, truth)


def test_an_enlargement_between_factors_is_finished_by_resampling() -> None:
    small = bytes(degrade(_photo(240), 4).pngsave_buffer())  # 60², to 150² (2.5×: the 4× model, then shrunk)
    out = decode(transform(small, "width=150,fit=contain,upscale=generate,format=png", settings=_settings()).data)
    interpolated = decode(transform(small, "width=150,fit=contain,format=png", settings=_settings()).data)
    assert (out.width, out.height) == (150, 150)
    difference = np.abs(np.asarray(out.numpy(), dtype=int) - np.asarray(interpolated.numpy(), dtype=int))
    assert 1 < float(difference.mean()) < 15  # the model's picture, at the same place (measured 5.1)


def test_the_pixel_budget_is_checked_before_the_model_runs() -> None:
    small = bytes(_photo(100).pngsave_buffer())
    tight = _settings(upscale_max_output_pixels=100 * 100 * 4 - 1)
    with pytest.raises(InputTooLargeError, match="upscale_max_output_pixels") as raised:
        transform(small, "width=200,fit=contain,upscale=generate", settings=tight)
    assert raised.value.status == 403 and "40,000 pixels (2× of 100×100)" in raised.value.message
    enough = _settings(upscale_max_output_pixels=100 * 100 * 4)
    assert transform(small, "width=200,fit=contain,upscale=generate", settings=enough).width == 200


def test_a_model_without_a_scale_is_refused() -> None:
    with pytest.raises(FeatureUnavailableError, match="'scale'"):
        upscale.models(Settings(upscale_model=str(require(U2NETP))))


def test_the_deadline_stops_the_model_between_tiles(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first tile runs to its end inside the limit; the limit then passes before the second
    tile starts, and no further tile runs: the check between tiles stopped the work."""
    small = bytes(_photo(100).pngsave_buffer())
    monkeypatch.setattr(upscale, "TILE", 40)  # 3 × 3 tiles on the 100² source
    started: list[int] = []
    finished: list[int] = []
    real_run = runtime.Session.run

    def run_then_outlive_the_limit(session: runtime.Session, feed: Any) -> Any:
        started.append(1)
        result = real_run(session, feed)
        finished.append(1)
        limit = deadline.current()
        assert limit is not None
        while not limit.expired():  # after the tile, not inside it: only the check between tiles can stop it
            time.sleep(0.01)
        return result

    monkeypatch.setattr(runtime.Session, "run", run_then_outlive_the_limit)
    with pytest.raises(TransformTimeoutError, match="longer than the limit"):
        transform(small, "width=400,fit=contain,upscale=generate", settings=_settings(), timeout=5)
    assert (len(started), len(finished)) == (1, 1)  # one whole tile, then stopped before the second of nine
