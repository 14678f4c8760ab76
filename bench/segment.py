"""Background removal accuracy and latency, and gravity=auto saliency against libvips' attention.

The labelled sets are built with exact ground truth: photographic cut-outs with alpha (Debian's
``tuxpaint-stamps-default``) composited at several scales and positions onto

* ``photos``: the wallpapers of ``mate-backgrounds`` as they are. Two of the four have a salient
  subject of their own (a water drop, a logo) that a salient-object model rightly segments too,
  which the ground truth counts as background: a hard, pessimistic set;
* ``studio``: what product photos look like: a plain light-grey seamless backdrop, or the same
  wallpapers defocused (Gaussian blur, σ = 2 % of the long side).

Prints each model's IoU and Dice (cut at 0.5), overall and per background, CPU latency per image
and the process memory; then, for a square crop of each ``photos`` composite, how much of the
subject each way of placing the crop keeps (centre, libvips attention, Enlarger's saliency),
against the best possible.

Run: ``.venv/bin/python scripts/fetch_models.py && .venv/bin/python bench/segment.py [--no-model]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyvips

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.models.labelled import CUTOUTS, ISNET, U2NETP, backgrounds, composite, iou_dice, require

from enlarger.models import runtime, segment
from enlarger.settings import Settings
from enlarger.steps.gravity import crop_origin, salient_origin

PLACEMENTS = ((0.45, (0.5, 0.5)), (0.6, (0.3, 0.6)), (0.35, (0.75, 0.35)))
SIZE = (960, 640)

#: (name, background group, image, ground truth)
Scene = tuple[str, str, pyvips.Image, np.ndarray[Any, Any]]


def attention_origin(image: pyvips.Image, crop: tuple[int, int]) -> tuple[int, int]:
    """libvips' attention crop: the baseline Enlarger's saliency is compared against."""
    cw, ch = crop
    if (cw, ch) == (image.width, image.height):
        return 0, 0
    _, opts = image.smartcrop(cw, ch, interesting="attention", attention_x=True, attention_y=True)
    cx, cy = int(opts["attention_x"]), int(opts["attention_y"])
    return (
        max(0, min(image.width - cw, round(cx - cw / 2))),
        max(0, min(image.height - ch, round(cy - ch / 2))),
    )


def studio_backdrop(size: tuple[int, int]) -> pyvips.Image:
    """A light-grey seamless backdrop: 235 at the top to 205 at the bottom, slight left-right falloff."""
    width, height = size
    y = pyvips.Image.xyz(width, height).extract_band(1) / max(height - 1, 1)
    x = pyvips.Image.xyz(width, height).extract_band(0) / max(width - 1, 1)
    grey = 235 - 30 * y - 12 * (x - 0.5) * (x - 0.5)
    return grey.bandjoin([grey, grey]).cast("uchar").copy(interpretation="srgb")


def labelled_set(kind: str = "photos") -> list[Scene]:
    photos = backgrounds()
    scenes = []
    for k, path in enumerate(sorted(require(CUTOUTS).glob("*.png"))):
        cutout = pyvips.Image.new_from_file(str(path))
        for j, (scale, position) in enumerate(PLACEMENTS):
            photo_path = photos[(k + j) % len(photos)]
            if kind == "photos":
                group, background = photo_path.stem, pyvips.Image.new_from_file(str(photo_path))
            elif j == 0:
                group, background = "grey backdrop", studio_backdrop(SIZE)
            else:
                canvas = pyvips.Image.new_from_file(str(photo_path)).thumbnail_image(
                    SIZE[0], height=SIZE[1], crop="centre"
                )
                group, background = f"{photo_path.stem} defocused", canvas.gaussblur(0.02 * max(SIZE))
            image, truth = composite(cutout, background, SIZE, scale, position)
            scenes.append((f"{path.stem}#{j}", group, image.copy_memory(), truth))
    return scenes


def segmentation(sets: dict[str, list[Scene]], settings: Settings) -> None:
    t = time.perf_counter()
    segment.check_available(settings)
    load = time.perf_counter() - t
    session = runtime.session(Path(settings.segment_model), settings)
    print(f"segment model: {settings.segment_model_kind} {Path(settings.segment_model).name}, {session.providers[0]}")
    times = []
    for kind, scenes in sets.items():
        groups: dict[str, list[tuple[float, float]]] = {}
        for _, group, image, truth in scenes:
            t = time.perf_counter()
            mask = segment.foreground_mask(image, settings)
            times.append(time.perf_counter() - t)
            groups.setdefault(group, []).append(iou_dice(np.asarray(mask.numpy(), np.float32) / 255.0, truth))
        scores = [score for values in groups.values() for score in values]
        ious, dices = [s[0] for s in scores], [s[1] for s in scores]
        print(
            f"  set {kind!r}, {len(scores)} composites: IoU mean {statistics.mean(ious):.3f} "
            f"(median {statistics.median(ious):.3f}, min {min(ious):.3f}), Dice mean {statistics.mean(dices):.3f}"
        )
        for group, values in sorted(groups.items()):
            iou = statistics.mean(v[0] for v in values)
            dice = statistics.mean(v[1] for v in values)
            print(f"    {group:<24} n={len(values):<3} IoU {iou:.3f}  Dice {dice:.3f}")
    memory = runtime.memory()
    print(f"  latency per image: median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms;")
    print(f"  model load {load * 1000:.0f} ms; process RSS {int(str(memory['process_rss_bytes'])) / 2**20:.0f} MiB")
    print("  post's anchors (DIS5K + Humans, GPU): BiRefNet IoU 0.87 / Dice 0.92, IS-Net 0.82 / 0.89")


def coverage(truth: np.ndarray[Any, Any], origin: tuple[int, int], side: int) -> float:
    x, y = origin
    return float(truth[y : y + side, x : x + side].sum() / max(truth.sum(), 1e-6))


def best_coverage(truth: np.ndarray[Any, Any], side: int) -> float:
    table = np.zeros((truth.shape[0] + 1, truth.shape[1] + 1))
    table[1:, 1:] = truth.cumsum(0).cumsum(1)
    sums = table[side:, side:] - table[:-side, side:] - table[side:, :-side] + table[:-side, :-side]
    return float(sums.max() / max(truth.sum(), 1e-6))


def saliency(scenes: list[Scene]) -> None:
    ways = {"centre": [], "attention (libvips)": [], "saliency (enlarger)": []}  # type: dict[str, list[float]]
    times: dict[str, list[float]] = {k: [] for k in ways}
    best = []
    for _, _, image, truth in scenes:
        side = min(image.width, image.height) // 2
        crop = (side, side)
        best.append(best_coverage(truth, side))
        for way, place in (
            ("centre", lambda im, c: crop_origin(None, (im.width, im.height), c)),
            ("attention (libvips)", attention_origin),
            ("saliency (enlarger)", salient_origin),
        ):
            t = time.perf_counter()
            origin = place(image, crop)
            times[way].append(time.perf_counter() - t)
            ways[way].append(coverage(truth, origin, side))
    print(f"\nsaliency: square crop of half the short side on {len(scenes)} composites; share of the subject kept")
    print(f"  best possible: mean {statistics.mean(best):.3f}")
    for way, values in ways.items():
        share = statistics.mean(v / b for v, b in zip(values, best, strict=True) if b > 0)
        hits = sum(v >= 0.8 * b for v, b in zip(values, best, strict=True)) / len(values)
        ms = statistics.median(times[way]) * 1000
        print(
            f"  {way:<22} mean {statistics.mean(values):.3f}  of best {share:.3f}  ≥80% of best {hits:.2f}  {ms:.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-model", action="store_true", help="saliency only")
    parser.add_argument("--model", default=str(ISNET), help="segmentation ONNX (default: models/isnet.onnx)")
    parser.add_argument("--kind", default="isnet", help="its adapter: isnet, u2net, u2netp")
    parser.add_argument("--u2netp", action="store_true", help="models/u2netp.onnx (kind u2netp)")
    args = parser.parse_args()
    model, kind = (str(U2NETP), "u2netp") if args.u2netp else (args.model, args.kind)
    sets = {"photos": labelled_set("photos"), "studio": labelled_set("studio")}
    if not args.no_model:
        segmentation(sets, Settings(segment_model=model, segment_model_kind=kind))
    saliency(sets["photos"])


if __name__ == "__main__":
    main()
