"""Background removal accuracy and latency, and gravity=auto saliency against libvips' attention.

The labelled set is built with exact ground truth: photographic cut-outs with alpha (Debian's
``tuxpaint-stamps-default``) composited onto photographs (``mate-backgrounds``) at several scales
and positions. Prints the IS-Net mask's IoU and Dice (cut at 0.5), CPU latency per image and the
process memory; then, for a square crop of each composite, how much of the subject each way of
placing the crop keeps (centre, libvips attention, Enlarger's saliency), against the best possible.

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

from tests.models.labelled import CUTOUTS, ISNET, backgrounds, composite, iou_dice, require

from enlarger.models import runtime, segment
from enlarger.settings import Settings
from enlarger.steps.gravity import attention_origin, crop_origin, salient_origin

PLACEMENTS = ((0.45, (0.5, 0.5)), (0.6, (0.3, 0.6)), (0.35, (0.75, 0.35)))

Scene = tuple[str, pyvips.Image, np.ndarray[Any, Any]]


def labelled_set() -> list[Scene]:
    photos = backgrounds()
    scenes = []
    for k, path in enumerate(sorted(require(CUTOUTS).glob("*.png"))):
        cutout = pyvips.Image.new_from_file(str(path))
        for j, (scale, position) in enumerate(PLACEMENTS):
            photo = pyvips.Image.new_from_file(str(photos[(k + j) % len(photos)]))
            image, truth = composite(cutout, photo, (960, 640), scale, position)
            scenes.append((f"{path.stem}#{j}", image.copy_memory(), truth))
    return scenes


def segmentation(scenes: list[Scene], settings: Settings) -> None:
    t = time.perf_counter()
    segment.check_available(settings)
    load = time.perf_counter() - t
    ious, dices, times = [], [], []
    for _, image, truth in scenes:
        t = time.perf_counter()
        mask = segment.foreground_mask(image, settings)
        times.append(time.perf_counter() - t)
        iou, dice = iou_dice(np.asarray(mask.numpy(), np.float32) / 255.0, truth)
        ious.append(iou)
        dices.append(dice)
    session = runtime.session(Path(settings.segment_model), settings)
    memory = runtime.memory()
    print(f"segment model: {settings.segment_model_kind} {Path(settings.segment_model).name}, {session.providers[0]}")
    print(f"  composites: {len(scenes)}  IoU mean {statistics.mean(ious):.3f} (min {min(ious):.3f})")
    print(f"  Dice mean {statistics.mean(dices):.3f} (min {min(dices):.3f})")
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
    for _, image, truth in scenes:
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
    parser.add_argument("--kind", default="isnet", help="its adapter: isnet, u2net, u2netp, birefnet")
    args = parser.parse_args()
    scenes = labelled_set()
    if not args.no_model:
        segmentation(scenes, Settings(segment_model=args.model, segment_model_kind=args.kind))
    saliency(scenes)


if __name__ == "__main__":
    main()
