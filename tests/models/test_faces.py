"""Face detection and the documented face crop (zoom arithmetic, fallbacks, real photographs)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import pyvips

from enlarger import pipeline
from enlarger.models import faces
from enlarger.models.faces import Box, outer_box, zoom_area
from enlarger.options import parse_options
from enlarger.pipeline import transform
from enlarger.settings import Settings
from tests.imaging import decode, gradient, save
from tests.models.labelled import FACE_BOXES, FACES, require


def test_worked_example_of_the_post() -> None:
    # 2048² source, 1024² inference copy, a 100×500 outer box
    box = Box(462, 262, 562, 762)
    assert zoom_area((1024, 1024), box, 0.5)[2:] == (200, 1000)
    x, y, w, h = zoom_area((1024, 1024), box, 0.25)
    assert (w, h) == (400, 1024)  # the height is clamped to the image
    assert (w * 2, h * 2) == (800, 2048)  # scaled back to the original
    assert (x, y) == (312, 0)
    assert zoom_area((1024, 1024), box, 1.0) == (462, 262, 100, 500)


def test_zoom_area_stays_inside_the_image() -> None:
    x, y, w, h = zoom_area((1000, 800), Box(900, 700, 1000, 800), 0.5)
    assert (w, h) == (200, 200)
    assert (x, y) == (800, 600)


def test_outer_box_takes_each_edge_from_the_extreme_box() -> None:
    boxes = [Box(10, 50, 30, 80), Box(40, 20, 60, 40), Box(5, 60, 15, 90)]
    assert outer_box(boxes) == Box(5, 20, 60, 90)


class _Fixed:
    """A detector that reports the same boxes, in inference-copy pixels, and records what it saw."""

    def __init__(self, boxes: list[Box]) -> None:
        self.boxes = boxes
        self.seen: list[tuple[int, int]] = []

    def detect(self, rgb: np.ndarray[Any, Any]) -> list[Box]:
        self.seen.append((rgb.shape[1], rgb.shape[0]))
        return self.boxes


@pytest.fixture
def fixed(monkeypatch: pytest.MonkeyPatch) -> _Fixed:
    detector = _Fixed([Box(462, 262, 562, 762)])
    monkeypatch.setattr(faces, "detector", lambda settings: detector)
    return detector


def test_worked_example_end_to_end(fixed: _Fixed) -> None:
    source = save(gradient(2048, 2048), "png", compression=1)
    out = transform(source, "gravity=face,zoom=0.25,format=png")
    assert (out.width, out.height) == (800, 2048)
    assert fixed.seen == [(1024, 1024)]  # the detector saw the 1024 px inference copy
    out = transform(source, "gravity=face,zoom=0.5,format=png")
    assert (out.width, out.height) == (400, 2000)
    # the crop is centred on the box (centre 512, 512 in the copy): x from (512 - 100) × 2 = 824
    expected = gradient(2048, 2048).crop(824, 24, 400, 2000)
    got = decode(out.data)
    assert abs(got.avg() - expected.avg()) < 1.0


def test_fit_applies_after_the_face_crop(fixed: _Fixed) -> None:
    source = save(gradient(2048, 2048), "png", compression=1)
    out = transform(source, "gravity=face,zoom=0.5,width=100,height=100,fit=cover,format=png")
    assert (out.width, out.height) == (100, 100)
    decision = pipeline.decide(source, parse_options("gravity=face,zoom=0.5,width=100"), settings=Settings())
    assert decision.plan.trim is not None and decision.focal == pytest.approx((0.5, 0.5), abs=0.01)


def test_without_zoom_the_faces_are_the_focal_point(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faces, "detector", lambda settings: _Fixed([Box(800, 100, 900, 200)]))
    source = save(gradient(1000, 500), "png")
    out = decode(transform(source, "gravity=face,width=200,height=500,fit=cover,format=png").data)
    # the window is centred on x = 850: columns 750–949 (red = x × 255 / 999), not the centre's 400–599
    assert out.width == 200
    assert out.getpoint(0, 0)[0] == pytest.approx(750 * 255 / 999, abs=2)
    assert out.getpoint(199, 0)[0] == pytest.approx(949 * 255 / 999, abs=2)


def test_no_face_falls_back_to_saliency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faces, "detector", lambda settings: _Fixed([]))
    grey = pyvips.Image.black(600, 200, bands=3).copy(interpretation="srgb") + 128
    busy = grey.insert(gradient(80, 80), 500, 60).cast("uchar")
    out = decode(transform(save(busy, "png"), "gravity=face,zoom=0.5,width=200,height=200,fit=cover,format=png").data)
    assert (out.width, out.height) == (200, 200)
    assert out.crop(100, 60, 100, 80).deviate() > 10  # the busy square is inside the crop


@pytest.fixture(scope="module")
def detector_settings() -> Settings:
    return Settings()


@pytest.mark.parametrize("name", sorted(FACE_BOXES))
def test_real_faces_are_found(name: str, detector_settings: Settings) -> None:
    image = pyvips.Image.new_from_file(str(require(FACES / name)))
    boxes, scale = faces.detect(image, detector_settings)
    found = [b.scaled(1 / scale) for b in boxes]
    truth = [Box(*t) for t in FACE_BOXES[name]]
    matched = sum(any(faces.iou(f, t) >= 0.5 for f in found) for t in truth)
    false = sum(all(faces.iou(f, t) < 0.5 for t in truth) for f in found)
    assert false == 0
    assert matched >= len(truth) - 1  # BlazeFace full range misses at most one small face in the group


def test_face_crop_of_a_portrait(detector_settings: Settings) -> None:
    data = require(FACES / "astronaut.png").read_bytes()
    out = transform(data, "gravity=face,zoom=0.6,format=png", settings=detector_settings)
    # the face (≈95×100 px) at zoom 0.6 gives a ≈160×167 px area centred on it
    assert 140 <= out.width <= 185 and 145 <= out.height <= 190
    square = transform(data, "gravity=face,width=120,height=120,fit=cover,zoom=0.5", settings=detector_settings)
    assert (square.width, square.height) == (120, 120)
    # the crop is around the face: the face box centre maps near the output centre
    x0, y0, x1, y1 = FACE_BOXES["astronaut.png"][0]
    decision = pipeline.decide(data, parse_options("gravity=face,zoom=0.5"), settings=detector_settings)
    trim = decision.plan.trim
    assert trim is not None
    assert abs(trim.x + trim.width / 2 - (x0 + x1) / 2) < 8 and abs(trim.y + trim.height / 2 - (y0 + y1) / 2) < 8


def test_group_crop_holds_every_face(detector_settings: Settings) -> None:
    data = require(FACES / "t1.jpg").read_bytes()
    decision = pipeline.decide(data, parse_options("gravity=face,zoom=1"), settings=detector_settings)
    trim = decision.plan.trim
    assert trim is not None
    truth = FACE_BOXES["t1.jpg"]
    inside = [t for t in truth if trim.x <= t[0] + 10 and t[2] - 10 <= trim.x + trim.width]
    assert len(inside) >= 5  # the outer box spans (nearly) all six faces


@pytest.mark.parametrize(
    ("options", "looked"),
    [
        ("gravity=face,width=100,format=png", False),  # scale-down: nothing is cut away
        ("gravity=face,width=100,height=100,fit=contain,format=png", False),
        ("gravity=face,width=100,format=json", False),
        ("gravity=face,width=100,height=100,fit=cover,format=png", True),  # a crop around the faces
        ("gravity=face,zoom=0.5,format=png", True),  # a zoom on them
    ],
)
def test_faces_are_detected_only_when_a_crop_or_zoom_uses_them(fixed: _Fixed, options: str, looked: bool) -> None:
    transform(save(gradient(400, 200), "png"), options)
    assert bool(fixed.seen) is looked
