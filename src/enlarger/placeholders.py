"""Placeholders a front end shows before an image arrives: BlurHash, ThumbHash, dominant colour.

All three are computed from one small copy of the *transformed* image (at most
:data:`SIDE` pixels on its longest side, made by the engine with shrink-on-load: see
:func:`enlarger.pipeline.placeholders`), so a placeholder matches the crop a client asked for,
never the original's framing, and costs a few milliseconds whatever the source's size.

- BlurHash (https://blurha.sh), from a copy of at most :data:`BLURHASH_SIDE` pixels (the hash
  keeps 4×3 cosine terms: more pixels change nothing visible and cost time). Transparent areas
  are flattened on white first: BlurHash has no alpha.
- ThumbHash (https://evanw.github.io/thumbhash/), from the whole ≤ 100 px copy, alpha included.

Both encoders are our own NumPy ports of the reference encoders (Wolt's ``C/encode.c``; evanw's
``rust/src/lib.rs``), a few dozen lines each: the PyPI packages are pure-Python loops (ThumbHash:
about 90 ms for 100×100), pin an old Pillow, or go through an API Pillow 14 removes (Wolt's
``blurhash-python`` reads pixels with ``Image.getdata``). The tests check both byte for byte
against those packages and decode the hashes back with their decoders.
- The dominant colour: the alpha-weighted mean of the most populated cell of a 8×8×8 RGB grid,
  so a photo of a red car on grey tarmac says grey, where the plain average would be a muddy mix.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np
import pyvips
from numpy.typing import NDArray

SIDE = 100  #: longest side of the copy the placeholders are computed from (ThumbHash's own limit)
BLURHASH_SIDE = 32  #: longest side of the copy fed to the BlurHash encoder
_GRID_BITS = 3  #: bits per channel of the dominant-colour grid (8 levels: 512 cells)

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class Placeholders:
    """The three placeholders of one image, as the JSON answers and image records carry them."""

    blurhash: str
    thumbhash: str  #: base64 (standard alphabet, padded), as the reference's examples write it
    dominant_color: str  #: ``#rrggbb``

    def as_dict(self) -> dict[str, str]:
        return {"blurhash": self.blurhash, "thumbhash": self.thumbhash, "dominant_color": self.dominant_color}


def compute(image: pyvips.Image) -> Placeholders:
    """The placeholders of ``image``: 8-bit sRGB or grey, with or without alpha, one frame.

    ``image`` should already be small (the engine hands over at most :data:`SIDE` pixels a side);
    a larger one is shrunk here first.
    """
    if max(image.width, image.height) > SIDE:
        image = image.thumbnail_image(SIDE, height=SIDE)
    rgba = _rgba(image)
    return Placeholders(
        blurhash=_blurhash(image),
        thumbhash=base64.b64encode(thumbhash(rgba)).decode("ascii"),
        dominant_color=dominant_color(rgba),
    )


def _rgba(image: pyvips.Image) -> NDArray[np.uint8]:
    """``image`` as an H×W×4 uint8 array (grey spread to RGB, opaque alpha added when absent)."""
    if image.bands < 3:  # grey or grey + alpha
        grey = image[0]
        image = grey.bandjoin([grey, grey, *([image[1]] if image.bands == 2 else [])])
    if image.bands == 3:
        image = image.bandjoin(255)
    image = image.cast("uchar")
    return np.ndarray(buffer=image.write_to_memory(), dtype=np.uint8, shape=(image.height, image.width, 4))


def _blurhash(image: pyvips.Image) -> str:
    """BlurHash with 4×3 components (3×4 for portrait images), from a ≤ 32 px copy flattened on white."""
    if image.hasalpha():
        image = image.flatten(background=[255] * (image.bands - 1))
    if image.bands < 3:
        image = image.colourspace("srgb")
    small = image.thumbnail_image(BLURHASH_SIDE, height=BLURHASH_SIDE).cast("uchar")
    rgb = np.ndarray(buffer=small.write_to_memory(), dtype=np.uint8, shape=(small.height, small.width, 3))
    return blurhash(rgb, *((4, 3) if small.width >= small.height else (3, 4)))


_BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"


def _base83(value: int, length: int) -> str:
    return "".join(_BASE83[(value // 83 ** (length - 1 - i)) % 83] for i in range(length))


def _to_linear(srgb: NDArray[np.uint8]) -> Floats:
    v = srgb.astype(np.float64) / 255.0
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _to_srgb(linear: float) -> int:
    v = min(1.0, max(0.0, linear))
    return int(v * 12.92 * 255 + 0.5) if v <= 0.0031308 else int((1.055 * v ** (1 / 2.4) - 0.055) * 255 + 0.5)


def blurhash(rgb: NDArray[np.uint8], x_components: int = 4, y_components: int = 3) -> str:
    """The BlurHash of an H×W×3 sRGB image (the reference encoder's arithmetic, in NumPy)."""
    h, w, _ = rgb.shape
    linear = _to_linear(rgb)
    factors = []
    for j in range(y_components):  # the reference's order: rows of components, x fastest
        fy = np.cos(np.pi * j * np.arange(h) / h)
        for i in range(x_components):
            fx = np.cos(np.pi * i * np.arange(w) / w)
            weight = (1.0 if i == j == 0 else 2.0) / (w * h)
            factors.append(np.einsum("y,x,yxc->c", fy, fx, linear) * weight)
    dc, ac = factors[0], np.array(factors[1:]).reshape(-1, 3)
    text = _base83((x_components - 1) + (y_components - 1) * 9, 1)
    if len(ac):
        quantised = int(max(0, min(82, np.floor(float(np.abs(ac).max()) * 166 - 0.5))))
        maximum = (quantised + 1) / 166
    else:
        quantised, maximum = 0, 1.0
    text += _base83(quantised, 1)
    text += _base83((_to_srgb(dc[0]) << 16) + (_to_srgb(dc[1]) << 8) + _to_srgb(dc[2]), 4)
    for r, g, b in ac:
        q = [int(max(0, min(18, np.floor(np.copysign(abs(v / maximum) ** 0.5, v) * 9 + 9.5)))) for v in (r, g, b)]
        text += _base83(q[0] * 19 * 19 + q[1] * 19 + q[2], 2)
    return text


def _round(value: float) -> int:
    """JavaScript's ``Math.round`` (halves up), as the reference encoders round (values here are ≥ 0)."""
    return int(np.floor(value + 0.5))


def _encode_channel(channel: Floats, nx: int, ny: int) -> tuple[float, list[float], float]:
    """DC term, AC terms normalised to 0–1, and their scale: the reference's triangular DCT."""
    h, w = channel.shape
    dc, ac = 0.0, []
    for cy in range(ny):
        fy = np.cos(np.pi / h * cy * (np.arange(h) + 0.5))
        cx = 0
        while cx * ny < nx * (ny - cy):
            fx = np.cos(np.pi / w * cx * (np.arange(w) + 0.5))
            f = float(fy @ channel @ fx) / (w * h)
            if cx or cy:
                ac.append(f)
            else:
                dc = f
            cx += 1
    scale = max((abs(f) for f in ac), default=0.0)
    if scale > 0:
        ac = [0.5 + 0.5 / scale * f for f in ac]
    return dc, ac, scale


def thumbhash(rgba: NDArray[np.uint8]) -> bytes:
    """The ThumbHash of an H×W×4 sRGB image of at most 100×100 pixels (RGB not premultiplied)."""
    h, w, _ = rgba.shape
    if w > SIDE or h > SIDE:
        raise ValueError(f"{w}×{h} does not fit in {SIDE}×{SIDE}")
    pixels = rgba.astype(np.float64) / 255.0
    alpha = pixels[..., 3]
    total = float(alpha.sum())
    avg = (pixels[..., :3] * alpha[..., None]).sum(axis=(0, 1)) / total if total > 0 else np.zeros(3)
    has_alpha = total < w * h
    l_limit = 5 if has_alpha else 7
    lx = max(1, _round(l_limit * w / max(w, h)))
    ly = max(1, _round(l_limit * h / max(w, h)))
    # composite atop the average colour, then RGB → LPQ (luminance, yellow–blue, red–green)
    rgb = avg * (1.0 - alpha[..., None]) + alpha[..., None] * pixels[..., :3]
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    l_dc, l_ac, l_scale = _encode_channel((r + g + b) / 3, max(3, lx), max(3, ly))
    p_dc, p_ac, p_scale = _encode_channel((r + g) / 2 - b, 3, 3)
    q_dc, q_ac, q_scale = _encode_channel(r - g, 3, 3)
    a_dc, a_ac, a_scale = _encode_channel(alpha, 5, 5) if has_alpha else (1.0, [], 1.0)
    landscape = w > h
    header24 = (
        _round(63 * l_dc)
        | _round(31.5 + 31.5 * p_dc) << 6
        | _round(31.5 + 31.5 * q_dc) << 12
        | _round(31 * l_scale) << 18
        | int(has_alpha) << 23
    )
    header16 = (ly if landscape else lx) | _round(63 * p_scale) << 3 | _round(63 * q_scale) << 9 | int(landscape) << 15
    out = bytearray([header24 & 255, (header24 >> 8) & 255, header24 >> 16, header16 & 255, header16 >> 8])
    if has_alpha:
        out.append(_round(15 * a_dc) | _round(15 * a_scale) << 4)
    nibbles = [_round(15 * f) for f in (*l_ac, *p_ac, *q_ac, *a_ac)]
    for i in range(0, len(nibbles), 2):
        out.append(nibbles[i] | (nibbles[i + 1] << 4 if i + 1 < len(nibbles) else 0))
    return bytes(out)


def dominant_color(rgba: NDArray[np.uint8]) -> str:
    """``#rrggbb``: the alpha-weighted mean colour of the most populated cell of an 8×8×8 RGB grid."""
    pixels = rgba.reshape(-1, 4).astype(np.float64)
    weight = pixels[:, 3] / 255.0
    if weight.sum() == 0:  # fully transparent: every pixel counts alike
        weight = np.ones_like(weight)
    cells = (rgba.reshape(-1, 4)[:, :3] >> (8 - _GRID_BITS)).astype(np.int64)
    index = (cells[:, 0] << (2 * _GRID_BITS)) | (cells[:, 1] << _GRID_BITS) | cells[:, 2]
    counts = np.bincount(index, weights=weight, minlength=1 << (3 * _GRID_BITS))
    chosen = index == int(np.argmax(counts))
    mean = (pixels[chosen, :3] * weight[chosen, None]).sum(axis=0) / weight[chosen].sum()
    red, green, blue = (int(np.clip(_round(float(v)), 0, 255)) for v in mean)
    return f"#{red:02x}{green:02x}{blue:02x}"
