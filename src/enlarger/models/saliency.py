"""Saliency for ``gravity=auto``: where the eye goes, from colour, luminance and texture.

A small copy (long side :data:`SIDE`) is turned into a saliency map that adds three cues, each
normalised to 0–1: global colour/luminance rarity (CIELAB distance from the image's mean colour),
centre–surround contrast (distance from a heavily blurred copy, so a busy background does not win
by being unusual as a whole) and texture (gradient energy). A mild centre prior breaks ties. A crop
window is then placed where it holds the most saliency (a summed-area table makes every position
cost O(1)). ``bench/segment.py`` measures it against libvips' attention on composites with exact
ground truth (how much of the real subject each crop keeps).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyvips

SIDE = 128

Array = np.ndarray[Any, Any]


def _normalised(values: Array) -> Array:
    top = float(np.percentile(values, 99.5))
    low = float(values.min())
    if top - low <= 1e-6:
        return np.zeros_like(values)
    return np.asarray(np.clip((values - low) / (top - low), 0.0, 1.0))


def saliency_map(image: pyvips.Image, side: int = SIDE) -> Array:
    """A float32 saliency map of ``image`` (long side ``side``), 0 = dull, larger = more salient."""
    scale = min(1.0, side / max(image.width, image.height))
    small = image.resize(scale, kernel="linear") if scale < 1.0 else image
    if small.hasalpha():
        small = small.flatten(background=[255] * (small.bands - 1))
    if small.bands < 3:
        small = small.colourspace("srgb")
    lab_image = small.extract_band(0, n=3).copy(interpretation="srgb").colourspace("lab")
    lab = np.asarray(lab_image.gaussblur(0.8).numpy(), dtype=np.float32)
    surround = np.asarray(lab_image.gaussblur(max(2.0, max(lab.shape[:2]) / 8)).numpy(), dtype=np.float32)
    rarity = np.sqrt(((lab - lab.reshape(-1, 3).mean(0)) ** 2).sum(-1))
    contrast = np.sqrt(((lab - surround) ** 2).sum(-1))
    gy, gx = np.gradient(lab[:, :, 0])
    texture = np.asarray(
        pyvips.Image.new_from_array(np.sqrt(gx * gx + gy * gy).astype(np.float32)).gaussblur(1.5).numpy()
    )
    h, w = rarity.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    prior = np.exp(-(((xx - w / 2) / w) ** 2 + ((yy - h / 2) / h) ** 2) / (2 * 0.3**2))
    combined = 0.35 * _normalised(rarity) + 0.4 * _normalised(contrast) + 0.25 * _normalised(texture)
    return np.asarray((combined * (0.6 + 0.4 * prior)).astype(np.float32))


def best_window(saliency: Array, window: tuple[int, int]) -> tuple[int, int]:
    """Top-left of the ``window`` (width, height, in map pixels) holding the most saliency;
    among equal windows the one nearest the centre."""
    h, w = saliency.shape
    ww, wh = max(1, min(w, window[0])), max(1, min(h, window[1]))
    table = np.zeros((h + 1, w + 1), np.float64)
    table[1:, 1:] = saliency.cumsum(0).cumsum(1)
    sums = table[wh:, ww:] - table[:-wh, ww:] - table[wh:, :-ww] + table[:-wh, :-ww]
    best = sums.max()
    if best <= 0:
        return (w - ww) // 2, (h - wh) // 2
    ys, xs = np.nonzero(sums >= best * (1 - 1e-6))
    centre = np.array([(w - ww) / 2, (h - wh) / 2])
    pick = int(np.argmin((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2))
    return int(xs[pick]), int(ys[pick])


def salient_origin(image: pyvips.Image, crop: tuple[int, int]) -> tuple[int, int]:
    """Top-left (in ``image`` pixels) of the ``crop`` window that keeps the most salient area."""
    cw, ch = crop
    if cw >= image.width and ch >= image.height:
        return 0, 0
    saliency = saliency_map(image)
    h, w = saliency.shape
    sx, sy = w / image.width, h / image.height
    x, y = best_window(saliency, (round(cw * sx), round(ch * sy)))
    return (
        int(max(0, min(image.width - cw, round(x / sx)))),
        int(max(0, min(image.height - ch, round(y / sy)))),
    )
