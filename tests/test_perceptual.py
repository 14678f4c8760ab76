"""SSIMULACRA2: our port against the PyPI port, and the properties a quality target relies on."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import pyvips
from ssimulacra2 import compute_ssimulacra2

import enlarger
from enlarger.perceptual import Reference, score
from tests.imaging import gradient, quadrants

SAMPLE = pyvips.Image.new_from_file(str(Path(enlarger.__file__).parent / "assets" / "sample.jpg"))


def _rgb(image: pyvips.Image) -> np.ndarray:
    return np.ndarray(buffer=image.write_to_memory(), dtype=np.uint8, shape=(image.height, image.width, 3))


def _jpeg(image: pyvips.Image, q: int) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(image.jpegsave_buffer(Q=q), "")


def _photo() -> pyvips.Image:
    return SAMPLE.crop(100, 50, 256, 200).copy_memory()


def test_identical_images_score_100() -> None:
    rgb = _rgb(_photo())
    assert score(rgb, rgb) == pytest.approx(100.0)


@pytest.mark.parametrize("q", [20, 50, 80, 95])
def test_agrees_with_the_pypi_port(q: int) -> None:
    original = _photo()
    distorted = _jpeg(original, q)
    theirs = compute_ssimulacra2(io.BytesIO(original.pngsave_buffer()), io.BytesIO(distorted.pngsave_buffer()))
    # the ports differ only in the blur's edges (libvips' copy-extend, SciPy's zero/mirror padding)
    assert score(_rgb(original), _rgb(distorted)) == pytest.approx(theirs, abs=3)


def test_lower_encoder_quality_scores_lower() -> None:
    original = _photo()
    reference = Reference(_rgb(original))
    scores = [reference.score(_rgb(_jpeg(original, q))) for q in (20, 40, 60, 80, 95)]
    assert scores == sorted(scores) and scores[0] < 60 < scores[-1]


def test_small_images_use_fewer_scales() -> None:
    # 20×12 has two scales of at least 8 pixels; blurring it still scores below an exact copy
    image = gradient(20, 12)
    blurred = image.gaussblur(1.5).cast("uchar")
    assert 0 < score(_rgb(image), _rgb(blurred)) < 100


def test_sizes_must_match() -> None:
    with pytest.raises(ValueError, match="sizes differ"):
        Reference(_rgb(quadrants(40, 20))).score(_rgb(quadrants(20, 40)))
