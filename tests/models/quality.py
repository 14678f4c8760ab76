"""Full-reference image quality for the upscaling tests and benchmark: PSNR and SSIM.

Ground truth for super-resolution is a photograph itself: crops of real photos (from
``scripts/fetch_models.py``) are shrunk by 2× or 4× with bicubic resampling (how DIV2K-trained
models such as ESRGAN expect their input to have been made) and enlarged back.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyvips
from numpy.lib.stride_tricks import sliding_window_view

from tests.models.labelled import MODELS

Array = np.ndarray[Any, Any]
SIDE = 384  # ground-truth crop side: divisible by 2 and 4
SHAVE = 4  # border pixels left out of the scores (each method pads its edges differently)

#: (photo under models/testdata, crop centre as fractions): a face, fabric and metal, a grey portrait,
#: a group, leaves, a painting (the two flat-colour wallpapers are left out: graphics, not photos)
CROPS: tuple[tuple[str, tuple[float, float]], ...] = (
    ("faces/astronaut.png", (0.45, 0.3)),
    ("faces/astronaut.png", (0.5, 0.75)),
    ("faces/camera.png", (0.5, 0.4)),
    ("faces/t1.jpg", (0.3, 0.55)),
    ("faces/t1.jpg", (0.75, 0.4)),
    ("backgrounds/Blinds.jpg", (0.5, 0.5)),
    ("backgrounds/Elephants.jpg", (0.5, 0.5)),
)


def photo_crops() -> list[tuple[str, pyvips.Image]]:
    """Ground-truth crops (``SIDE``², 8-bit, sRGB or grey) of the fetched photos, named."""
    crops = []
    for name, (fx, fy) in CROPS:
        path = MODELS / "testdata" / name
        image = pyvips.Image.new_from_file(str(path))
        image = image.extract_band(0, n=min(3, image.bands))
        x = min(max(0, round(fx * image.width - SIDE / 2)), image.width - SIDE)
        y = min(max(0, round(fy * image.height - SIDE / 2)), image.height - SIDE)
        crops.append((f"{path.stem}@{fx:g},{fy:g}", image.crop(x, y, SIDE, SIDE).copy_memory()))
    return crops


def degrade(image: pyvips.Image, factor: int) -> pyvips.Image:
    """The low-resolution input: ``image`` shrunk ``factor`` times, bicubic."""
    return image.resize(1 / factor, kernel="cubic").cast("uchar")


def _pixels(image: pyvips.Image) -> Array:
    array = np.asarray(image.numpy(), dtype=np.float64)
    array = array.reshape(image.height, image.width, image.bands)
    return array[SHAVE:-SHAVE, SHAVE:-SHAVE]


def psnr(result: pyvips.Image, truth: pyvips.Image) -> float:
    """Peak signal-to-noise ratio in dB over every band (higher is closer)."""
    mse = float(np.mean((_pixels(result) - _pixels(truth)) ** 2))
    return float(10 * np.log10(255.0**2 / max(mse, 1e-10)))


def _luma(image: pyvips.Image) -> Array:
    pixels = _pixels(image)
    if pixels.shape[2] == 1:
        return pixels[:, :, 0]
    return pixels[:, :, 0] * 0.299 + pixels[:, :, 1] * 0.587 + pixels[:, :, 2] * 0.114


def _blur(x: Array) -> Array:
    taps = np.exp(-0.5 * (np.arange(-5, 6) / 1.5) ** 2)
    taps /= taps.sum()
    x = sliding_window_view(x, 11, axis=0) @ taps
    return sliding_window_view(x, 11, axis=1) @ taps


def ssim(result: pyvips.Image, truth: pyvips.Image) -> float:
    """Mean structural similarity of the luma (Wang et al. 2004: 11-tap Gaussian σ 1.5, K = 0.01, 0.03)."""
    a, b = _luma(result), _luma(truth)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = _blur(a), _blur(b)
    var_a, var_b = _blur(a * a) - mu_a**2, _blur(b * b) - mu_b**2
    cov = _blur(a * b) - mu_a * mu_b
    index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(index.mean())
