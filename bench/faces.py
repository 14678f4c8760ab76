"""Face detection accuracy and latency, and what gravity=face crops keep, on a labelled set.

The set: the hand-labelled photos of ``tests/models/labelled.py`` (astronaut, cameraman, a group of
six), each also pasted at two scales and two positions onto background photos (boxes move with it,
exactly), plus negatives (the backgrounds alone and animal/object cut-outs composited on them).
Prints precision and recall (IoU ≥ 0.5) per detector and score threshold, CPU latency per image,
and for portraits how well ``gravity=face`` centres a 1:1 crop compared with ``gravity=auto``.

Run: ``.venv/bin/python scripts/fetch_models.py && .venv/bin/python bench/faces.py``
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import pyvips

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.models.labelled import CUTOUTS, FACE_BOXES, FACES, MODELS, backgrounds, composite, require

from enlarger import pipeline
from enlarger.models import faces
from enlarger.models.faces import Box
from enlarger.options import parse_options
from enlarger.settings import Settings

Sample = tuple[str, pyvips.Image, list[Box]]
SHORT_RANGE = MODELS / "blazeface_short_range.onnx"  # see scripts/fetch_models.py


def labelled_set() -> list[Sample]:
    samples: list[Sample] = []
    photos = [path for path in backgrounds()]
    for name, boxes in FACE_BOXES.items():
        image = pyvips.Image.new_from_file(str(require(FACES / name))).colourspace("srgb").extract_band(0, n=3)
        truth = [Box(*b) for b in boxes]
        samples.append((name, image, truth))
        for k, (scale, (px, py)) in enumerate([(0.5, (40, 60)), (0.8, (300, 120))]):
            bg = pyvips.Image.new_from_file(str(photos[k % len(photos)]))
            canvas = bg.thumbnail_image(1600, height=1000, crop="centre").extract_band(0, n=3)
            small = image.resize(scale)
            placed = canvas.insert(small, px, py)
            sx, sy = small.width / image.width, small.height / image.height
            moved = [Box(b.x0 * sx + px, b.y0 * sy + py, b.x1 * sx + px, b.y1 * sy + py) for b in truth]
            samples.append((f"{name}@{scale}", placed, moved))
    for photo in photos:
        samples.append((photo.name, pyvips.Image.new_from_file(str(photo)).thumbnail_image(1600), []))
    for k, cut in enumerate(sorted(CUTOUTS.glob("*.png"))):
        bg = pyvips.Image.new_from_file(str(photos[k % len(photos)]))
        image, _ = composite(pyvips.Image.new_from_file(str(cut)), bg, (800, 600), 0.6, (0.5, 0.5))
        samples.append((cut.name, image, []))
    return samples


def score(samples: list[Sample], settings: Settings) -> tuple[float, float, float, int, int]:
    tp = fp = fn = 0
    latencies = []
    for _, image, truth in samples:
        t = time.perf_counter()
        boxes, scale = faces.detect(image, settings)
        latencies.append(time.perf_counter() - t)
        found = [b.scaled(1 / scale) for b in boxes]
        hit = [any(faces.iou(f, g) >= 0.5 for f in found) for g in truth]
        tp += sum(hit)
        fn += len(truth) - sum(hit)
        fp += sum(all(faces.iou(f, g) < 0.5 for g in truth) for f in found)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, statistics.median(latencies) * 1000, tp + fn, fp


def crop_outcome(settings: Settings) -> None:
    print("\ncrop outcome on portraits: 1:1 cover crop, distance of the faces' centre from the crop centre")
    print(f"{'photo':<16}{'gravity':<10}{'offset (of side)':>18}{'faces kept':>12}")
    for name, boxes in FACE_BOXES.items():
        data = require(FACES / name).read_bytes()
        outer = faces.outer_box([Box(*b) for b in boxes])
        for gravity in ("face", "auto", "0.5x0.5"):
            opts = parse_options(f"gravity={gravity},width=300,height=300,fit=cover,zoom=0.6")
            decision = pipeline.decide(data, opts, settings=settings)
            plan = decision.plan
            trim = plan.trim
            ox, oy = (trim.x, trim.y) if trim else (0, 0)
            sx = plan.load_size[0] / plan.oriented[0]  # source → decoded pixels; the trim is cut from those
            crop = plan.crop or plan.resized
            rw, rh = plan.resized
            fx, fy = decision.focal or (0.5, 0.5)
            if gravity == "auto":
                image = pyvips.Image.new_from_buffer(data, "").thumbnail_image(rw, height=rh, size="force")
                if image.bands < 3:
                    image = image.colourspace("srgb")
                from enlarger.steps.gravity import salient_origin

                x, y = salient_origin(image, crop)
            else:
                from enlarger.steps.gravity import crop_origin

                x, y = crop_origin((fx, fy), (rw, rh), crop)
            k = plan.trimmed[0] / trim.width if trim else 1.0  # a trimmed area is then resized

            def at(value: float, origin: int, start: int, k: float = k, sx: float = sx) -> float:
                return (value * sx - origin) * k - start

            cx = at((outer.x0 + outer.x1) / 2, ox, x)
            cy = at((outer.y0 + outer.y1) / 2, oy, y)
            offset = ((cx / crop[0] - 0.5) ** 2 + (cy / crop[1] - 0.5) ** 2) ** 0.5
            kept = sum(
                at(b[0], ox, x) >= 0
                and at(b[2], ox, x) <= crop[0]
                and at(b[1], oy, y) >= 0
                and at(b[3], oy, y) <= crop[1]
                for b in boxes
            )
            print(f"{name:<16}{gravity:<10}{offset:>18.3f}{kept:>9}/{len(boxes)}")


def main() -> None:
    samples = labelled_set()
    n_faces = sum(len(t) for _, _, t in samples)
    print(f"labelled set: {len(samples)} images, {n_faces} faces, {sum(not t for _, _, t in samples)} without faces")
    print(f"{'detector':<28}{'min score':>10}{'precision':>11}{'recall':>8}{'F1':>7}{'false +':>9}{'median ms':>11}")
    detectors = [("blazeface full range", "")]
    if SHORT_RANGE.exists():  # not shipped: scripts/fetch_models.py converts it for this comparison
        detectors.append(("blazeface short range", str(SHORT_RANGE)))
    else:
        print(f"(no {SHORT_RANGE.name}: run scripts/fetch_models.py to compare the short-range model)")
    for label, model in detectors:
        for threshold in (0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7):
            settings = Settings(face_model=model, face_min_score=threshold)
            precision, recall, ms, _, fp = score(samples, settings)
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            print(f"{label:<28}{threshold:>10.2f}{precision:>11.3f}{recall:>8.3f}{f1:>7.3f}{fp:>9}{ms:>11.1f}")
    crop_outcome(Settings())


if __name__ == "__main__":
    main()
