"""The upscale=generate step: when it runs, what it hands on, and its errors (a stand-in model).

The stand-in enlarges by repeating pixels and counts its calls, so these tests check the
plumbing (trim, alpha, grey, frames, the final resampling) without model files; the real models
are tested in tests/models/test_upscale.py.
"""

from __future__ import annotations

import dataclasses
from typing import Any, cast

import numpy as np
import pytest

from enlarger.errors import FeatureUnavailableError, OptionError
from enlarger.models import runtime, upscale
from enlarger.options import parse_options
from enlarger.pipeline import transform
from enlarger.settings import Settings
from tests.imaging import BLUE, GREEN, RED, animation, coloured_frames, decode, gradient, near, pixel, quadrants, save

NO_MODEL = Settings()
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20" fill="red"/></svg>'


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, int]]:
    """Install a stand-in 2× and 4× model; returns the (height, width, factor) of every run."""
    seen: list[tuple[int, int, int]] = []
    session = cast(runtime.Session, None)

    def enlarge(rgb: np.ndarray[Any, Any], model: upscale.Model, settings: Settings) -> Any:
        seen.append((rgb.shape[0], rgb.shape[1], model.scale))
        return np.repeat(np.repeat(rgb, model.scale, axis=0), model.scale, axis=1)

    monkeypatch.setattr(upscale, "models", lambda settings: [upscale.Model(session, 2), upscale.Model(session, 4)])
    monkeypatch.setattr(upscale, "enlarge", enlarge)
    return seen


@pytest.mark.parametrize(
    "options",
    [
        "width=100",  # shrinking
        "width=640",  # fit=scale-down (the default) never enlarges
        "width=640,height=480,fit=scale-down",
        "width=100,height=100,fit=cover",
        "width=320,height=240,fit=contain",  # the source size: not an enlargement
        "width=160,fit=crop",
    ],
)
def test_without_an_enlargement_generate_changes_nothing_and_needs_no_model(options: str) -> None:
    source = save(gradient(320, 240), "jpeg")
    direct = dataclasses.replace(NO_MODEL, decode_cache_bytes=0)  # both decoded, neither from a decoded copy
    generated = transform(source, options + ",upscale=generate", settings=direct)
    assert generated.data == transform(source, options, settings=direct).data


def test_vectors_enlarge_without_the_model() -> None:
    options = "width=400,fit=contain,format=png"
    assert transform(SVG, options + ",upscale=generate").data == transform(SVG, options).data


def test_an_enlargement_without_a_model_is_a_clear_501() -> None:
    with pytest.raises(FeatureUnavailableError) as raised:
        transform(save(gradient(64, 48), "png"), "width=200,fit=contain,upscale=generate", settings=NO_MODEL)
    assert raised.value.status == 501
    assert "upscale_model" in raised.value.message and "ENLARGER_UPSCALE_MODEL" in raised.value.message


def test_the_option_is_validated_and_only_generate_is_in_the_canonical_form() -> None:
    assert parse_options("upscale=interpolate").canonical() == ""
    assert parse_options("width=10,upscale=generate").canonical() == "upscale=generate,width=10"
    with pytest.raises(OptionError, match=r"interpolate \| generate"):
        parse_options("upscale=magic")


def test_the_model_runs_once_with_the_smallest_factor_then_resampling_finishes(
    calls: list[tuple[int, int, int]],
) -> None:
    out = transform(save(quadrants(40, 20), "png"), "width=70,fit=contain,upscale=generate,format=png")
    assert calls == [(20, 40, 2)]  # 1.75×: the 2× model on the source, then shrunk to 70×35
    image = decode(out.data)
    assert (image.width, image.height) == (70, 35)
    assert near(pixel(image, 5, 5), RED) and near(pixel(image, 64, 5), GREEN) and near(pixel(image, 5, 30), BLUE)


def test_a_large_enlargement_uses_the_largest_factor(calls: list[tuple[int, int, int]]) -> None:
    out = transform(save(quadrants(40, 20), "png"), "width=400,fit=contain,upscale=generate,format=png")
    assert calls == [(20, 40, 4)] and (out.width, out.height) == (400, 200)


def test_the_trim_area_alone_goes_through_the_model(calls: list[tuple[int, int, int]]) -> None:
    source = save(quadrants(40, 20), "png")  # trim to the green quarter, then enlarge 4×
    out = transform(source, "trim=0;0;10;20,width=80,fit=contain,upscale=generate,format=png")
    assert calls == [(10, 20, 4)]
    image = decode(out.data)
    assert (image.width, image.height) == (80, 40)
    assert near(pixel(image, 5, 5), GREEN) and near(pixel(image, 75, 35), GREEN)


def test_alpha_and_grey_are_kept(calls: list[tuple[int, int, int]]) -> None:
    see_through = quadrants(20, 10).bandjoin(128).copy(interpretation="srgb")
    rgba = decode(transform(save(see_through, "png"), "width=40,fit=contain,upscale=generate").data)
    assert (rgba.width, rgba.bands) == (40, 4) and pixel(rgba, 20, 10)[3] == 128
    grey = gradient(20, 10).colourspace("b-w")
    out = decode(transform(save(grey, "png"), "width=40,fit=contain,upscale=generate,format=png").data)
    assert (out.width, out.bands) == (40, 1)


def test_every_frame_of_an_animation_is_enlarged(calls: list[tuple[int, int, int]]) -> None:
    gif = animation(coloured_frames(16, 8, [RED, GREEN, BLUE]))
    out = decode(transform(gif, "width=32,fit=contain,upscale=generate").data)
    assert calls == [(8, 16, 2)] * 3
    assert (out.width, out.get("page-height"), out.height) == (32, 16, 48)
    assert near(pixel(out, 16, 8 + 16), GREEN, 20)
