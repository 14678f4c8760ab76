"""Named qualities land near their perceptual target; the search runs once per source and options."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import pyvips

import enlarger
from enlarger import quality_search
from enlarger.errors import CorruptImageError
from enlarger.job import Job, Overlay
from enlarger.options import parse_options
from enlarger.perceptual import Reference
from enlarger.pipeline import transform, transform_job
from tests.imaging import animation, coloured_frames, decode, gradient, save, solid

SAMPLE = (Path(enlarger.__file__).parent / "assets" / "sample.jpg").read_bytes()  # a real 640×427 photo
#: the stated tolerance of the whole output against its target (the search itself stops within
#: quality_search.TOLERANCE on its sample; the rest of the image may differ a little from the tiles)
WHOLE_OUTPUT_TOLERANCE = 4.0


def _rgb(image: pyvips.Image) -> np.ndarray:
    image = image.extract_band(0, n=3) if image.bands > 3 else image
    return np.ndarray(buffer=image.write_to_memory(), dtype=np.uint8, shape=(image.height, image.width, 3))


def _noisy_photo() -> bytes:
    """Smooth colour fields plus sensor-like noise: hard for a fixed quality, like foliage."""
    noise = pyvips.Image.gaussnoise(400, 300, sigma=18, mean=0)
    base = gradient(400, 300)
    return save((base + noise.bandjoin([noise, noise])).cast("uchar").copy(interpretation="srgb"), "png")


@pytest.fixture(autouse=True)
def empty_memo() -> Iterator[None]:
    quality_search.MEMO._entries.clear()
    yield
    quality_search.MEMO._entries.clear()


@pytest.fixture
def searches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = quality_search.search

    def counted(*args: object, **kwargs: object) -> tuple[int, float]:
        answer = real(*args, **kwargs)  # type: ignore[arg-type]
        calls.append(answer[0])
        return answer

    monkeypatch.setattr(quality_search, "search", counted)
    return calls


CASES = [(fmt, level, "noisy") for fmt in ("jpeg", "webp", "avif") for level in quality_search.TARGETS]
# the real photo: where its targets are reachable (libvips switches JPEG and AVIF to full-resolution
# chroma at quality 90, a jump of 15 points on this saturated image that no quality falls into;
# WebP's chroma is always halved and tops out at 70 on it)
CASES += [("jpeg", "high", "sample"), ("jpeg", "low", "sample"), ("avif", "high", "sample")]


@pytest.mark.parametrize(("fmt", "level", "source"), CASES)
def test_named_quality_lands_near_its_target(fmt: str, level: str, source: str, searches: list[int]) -> None:
    data = SAMPLE if source == "sample" else _noisy_photo()
    reference = Reference(_rgb(decode(transform(data, "width=320,format=png").data)))
    out = transform(data, f"width=320,format={fmt},metadata=none,quality={level}")
    achieved = reference.score(_rgb(decode(out.data)))
    assert len(searches) == 1
    assert achieved == pytest.approx(quality_search.TARGETS[level], abs=WHOLE_OUTPUT_TOLERANCE)


def test_the_search_adapts_the_encoder_quality_to_the_image(searches: list[int]) -> None:
    transform(SAMPLE, "width=320,format=jpeg,quality=low")
    transform(_noisy_photo(), "width=320,format=jpeg,quality=low")
    smooth, noisy = searches
    assert smooth != noisy  # one fixed quality would have served both


def test_the_search_runs_once_per_source_and_options(searches: list[int]) -> None:
    first = transform(SAMPLE, "width=200,format=webp,quality=medium-high")
    again = transform(SAMPLE, "width=200,format=webp,quality=medium-high")
    assert first.data == again.data and len(searches) == 1
    transform(SAMPLE, "width=201,format=webp,quality=medium-high")  # other options: searched anew
    transform(save(gradient(300, 200), "jpeg"), "width=200,format=webp,quality=medium-high")  # other bytes
    assert len(searches) == 3


def test_the_search_runs_again_for_other_overlays_on_the_same_base(searches: list[int]) -> None:
    options = parse_options("width=200,format=webp,quality=medium-high")
    red, blue = save(solid(40, 20, (255, 0, 0)), "png"), save(solid(40, 20, (0, 0, 255)), "png")
    transform_job(Job(SAMPLE, options, (Overlay(red),)))
    transform_job(Job(SAMPLE, options, (Overlay(red),)))  # the same job: remembered
    transform_job(Job(SAMPLE, options, (Overlay(blue),)))  # another overlay: another picture
    assert len(searches) == 2


def _quantisation_tables(jpeg: bytes) -> bytes:
    """The DQT segments of a JPEG: they depend on its encoder quality alone."""
    tables, at = b"", 2
    while at < len(jpeg) and jpeg[at] == 0xFF and jpeg[at + 1] != 0xDA:
        length = int.from_bytes(jpeg[at + 2 : at + 4], "big")
        if jpeg[at + 1] == 0xDB:
            tables += jpeg[at : at + 2 + length]
        at += 2 + length
    return tables


def test_numeric_quality_keeps_its_meaning(searches: list[int]) -> None:
    out = transform(SAMPLE, "width=200,format=jpeg,quality=65")
    q65 = bytes(pyvips.Image.black(8, 8, bands=3).copy(interpretation="srgb").jpegsave_buffer(Q=65))
    assert _quantisation_tables(out.data) == _quantisation_tables(q65) != b""
    assert searches == []


def test_formats_without_an_encoder_quality_and_animations_keep_the_table(searches: list[int]) -> None:
    transform(SAMPLE, "width=100,format=png,quality=low")
    frames = animation(coloured_frames(30, 20, [(255, 0, 0), (0, 0, 255)]))
    assert transform(frames, "format=webp,quality=low").frames == 2
    assert searches == []


def test_a_truncated_source_is_refused_as_damaged_not_as_a_server_error() -> None:
    data = save(gradient(320, 240), "jpeg", Q=95)
    with pytest.raises(CorruptImageError, match="damaged or truncated"):
        transform(data[:975], "format=jpeg,quality=low")
