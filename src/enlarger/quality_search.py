"""Named qualities as perceptual targets: the encoder quality searched per image.

Cloudflare describes ``high``, ``medium-high``, ``medium-low`` and ``low`` as perceptual levels;
a fixed encoder quality per level is not one (a flat sky survives Q 50, foliage does not). Here
each level is a SSIMULACRA2 score (:data:`TARGETS`, see :mod:`enlarger.perceptual` for the
scale), and the encoder quality that reaches it is searched on a sample of the output itself:

- the sample is the whole output when it fits in 256×256, otherwise a 256×256 window at its
  centre, *at output scale* (a downscaled copy would score differently: shrinking sharpens
  texture per pixel and moved the scores by 10–30 points);
- at most :data:`MAX_ENCODES` encodes of the sample: the first at the level's fixed quality
  (``options.NAMED_QUALITY``, a good prior), then secant steps inside the bracket found so far; it stops as soon
  as a score is within :data:`TOLERANCE` of the target; out of encodes, it answers the
  interpolation inside the last bracket (not encoded: one encode fewer than checking it);
- the answer is remembered per (source digest, canonical options, format) in a bounded LRU, so
  the search runs once per source and options (outputs are cached by the server as well).

Numeric qualities are untouched. PNG, GIF and animations keep the fixed table (their qualities
are palette sizes, or the frames would need scoring one by one), and so do outputs above
:data:`MAX_SEARCH_PIXELS`, which would be held in memory for the search.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import pyvips
from numpy.typing import NDArray

from enlarger.perceptual import Reference

#: SSIMULACRA2 target of each named level: the median score its former fixed JPEG quality (90,
#: 80, 65, 50) reached on the 16 corpus photos at 640 px (``bench/quality.py --calibrate``: 90.1,
#: 80.4, 72.7, 65.6), so a level keeps its meaning on average and loses its spread.
TARGETS: dict[str, float] = {"high": 90.0, "medium-high": 80.0, "medium-low": 72.0, "low": 65.0}
TOLERANCE = 1.5  #: a score this close to the target ends the search
MAX_ENCODES = 5
MAX_SEARCH_PIXELS = 16_000_000  #: larger outputs keep the fixed table (the search holds the output in memory)
SEARCHED = frozenset({"jpeg", "webp", "avif", "jxl"})
_LOWEST, _HIGHEST = 10, 99  # WebP's 100 means lossless: never chosen by the search
_SAMPLE_SIDE, _ALIGN = 256, 64
_MEMO_SIZE = 4096

Encoder = Callable[[pyvips.Image, int], bytes]
Decoder = Callable[[bytes], pyvips.Image]


def _rgb(image: pyvips.Image) -> NDArray[np.uint8]:
    """H×W×3 uint8 (alpha flattened on mid-grey, as SSIMULACRA2's own tools compare, grey spread)."""
    if image.hasalpha():
        image = image.flatten(background=[128] * (image.bands - 1))
    if image.bands == 1:
        image = image.bandjoin([image, image])
    image = image.cast("uchar")
    return np.ndarray(buffer=image.write_to_memory(), dtype=np.uint8, shape=(image.height, image.width, 3))


def sample(image: pyvips.Image) -> pyvips.Image:
    """The part of an (evaluated) output the search encodes: itself when small, else its centre.

    One contiguous window of at most 256×256, its corner on a multiple of 64 pixels so the
    encoders' blocks (JPEG's 8/16, AV1's 64) fall where they fall in the whole output. (A mosaic
    of tiles from several places was tried: its seams are edges both images share, which the
    metric's coarse scales count as agreement, so mosaics scored ~9 points above their image.)
    """
    if image.width <= _SAMPLE_SIDE and image.height <= _SAMPLE_SIDE:
        return image
    width, height = min(_SAMPLE_SIDE, image.width), min(_SAMPLE_SIDE, image.height)
    x = (image.width - width) // 2 // _ALIGN * _ALIGN
    y = (image.height - height) // 2 // _ALIGN * _ALIGN
    return image.crop(x, y, width, height).copy_memory()


def search(image: pyvips.Image, target: float, prior: int, encode: Encoder, decode: Decoder) -> tuple[int, float]:
    """The lowest encoder quality whose output of ``image`` scores about ``target``, and its score."""
    original = sample(image)
    reference = Reference(_rgb(original))
    tried: dict[int, float] = {}

    def score(quality: int) -> float:
        tried[quality] = reference.score(_rgb(decode(encode(original, quality))))
        return tried[quality]

    low: tuple[int, float] | None = None  # best quality known to score below the target
    high: tuple[int, float] | None = None  # best quality known to reach it
    quality = prior
    for _ in range(MAX_ENCODES):
        achieved = score(quality)
        if abs(achieved - target) <= TOLERANCE:
            break
        if achieved < target:
            low = (quality, achieved) if low is None or quality > low[0] else low
        else:
            high = (quality, achieved) if high is None or quality < high[0] else high
        step = _next(low, high, target)
        if step is None or step in tried:
            break
        quality = step
    close = [q for q, s in tried.items() if abs(s - target) <= TOLERANCE]
    if close:
        best = min(close)
        return best, tried[best]
    if low is not None and high is not None:  # out of encodes inside a bracket: its interpolation
        guess = _next(low, high, target)
        if guess is not None:
            return guess, target
        return high
    best = max(tried) if low is not None else min(tried)  # the target lies beyond what was tried
    return best, tried[best]


def _next(low: tuple[int, float] | None, high: tuple[int, float] | None, target: float) -> int | None:
    """The next quality to try: interpolated inside the bracket, else a step sized by the miss."""
    if low is not None and high is not None:
        if high[0] - low[0] <= 1:
            return None
        (q0, s0), (q1, s1) = low, high
        guess = q0 + (target - s0) * (q1 - q0) / max(s1 - s0, 1e-6)
        return int(min(max(round(guess), q0 + 1), q1 - 1))
    if low is not None:  # everything tried is below the target: go up
        q, s = low
        return None if q >= _HIGHEST else min(_HIGHEST, q + int(min(30, max(4, 2 * (target - s)))))
    assert high is not None  # everything tried reaches it: go down
    q, s = high
    return None if q <= _LOWEST else max(_LOWEST, q - int(min(30, max(4, 2 * (s - target)))))


class Memo:
    """A bounded, thread-safe LRU of search answers: (source digest, options, format) → quality."""

    def __init__(self, size: int = _MEMO_SIZE) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[str, str, str], int] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str]) -> int | None:
        with self._lock:
            quality = self._entries.get(key)
            if quality is not None:
                self._entries.move_to_end(key)
            return quality

    def put(self, key: tuple[str, str, str], quality: int) -> None:
        with self._lock:
            self._entries[key] = quality
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


MEMO = Memo()


def source_digest(data: bytes) -> str:
    """The identity of a source's bytes, for the memo (BLAKE2b: ~1 GB/s, a 10 MB source in ~10 ms)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()
