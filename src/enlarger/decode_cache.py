"""Decoded copies of recently used sources: a burst of outputs of one source decodes it once (issue 26).

A page's ``srcset`` and ``format=auto`` ask for one source at many widths and in several formats
within minutes. Each is a distinct output (a miss of the output cache), and each decoded the
whole original again: for PNG, WebP, AVIF and HEIC, which have no useful shrink-on-load, at full
resolution every time (a 12-megapixel WebP costs about 0.5 s of CPU to decode, its resize from
memory 10–50 ms). This cache keeps a *copy*: decoded, oriented, 8-bit sRGB, reduced by a power of
two, held in libvips memory (not in Python objects), in a least-recently-used map bounded by
bytes (``decode_cache_bytes``), and makes later outputs from it when it holds enough pixels.

When a copy is used (:func:`usable`, :meth:`DecodeCache.serves`): it is the full-resolution image,
or it holds at least :data:`MARGIN` times the pixels the decoder would produce for the output on
each axis (``Plan.load_size``: the whole oriented frame at output scale, so a crop, zoom, trim or
face region that needs more pixels asks for more, and ``dpr`` is already in it). A Lanczos-3 resize
from twice the size keeps SSIMULACRA2 within 0.3 of the direct decode (docs/performance.md;
``tests/test_decode_cache.py`` holds it there). Never for an enlargement, an animation, a vector
or ``metadata=keep`` (nor for ``upscale=generate``, which replaces the decoder): those take the
direct path, as do sources whose copy would not fit the bound.

Admission: the first time a source is asked for, it takes the direct path and is only remembered
(with the largest size asked); the second time, a copy is decoded at the smallest power-of-two
level that serves outputs up to :data:`HEADROOM` times the largest size asked so far, and later
outputs come from it. A source asked for once (every request a new original) so costs nothing
but a dictionary entry, and a burst decodes at most twice (once directly, once for the copy; a
later, larger request decodes a larger copy). Concurrent misses of one source wait for the one
copy being decoded and use it when it suffices.

Keys: the caller's source identity when it has one (the output cache's: a file's stat, an
origin's strong ETag or content hash, a hosted image's account and content hash, so tenants never
share an entry), else the SHA-256 of the bytes. Either way a changed source has another key and
is decoded anew. One cache per process (the server's processes each have their own, with their
share of the bound); thread-safe. A copy is shared between requests, so it carries no request's
libvips signal handler (see :func:`_decoded`, :func:`_operation_cache_off`). A copy evicted while
an output is being made from it stays alive until that output is done (libvips reference counts
it), so memory can exceed the bound by the copies in use, at most one per running transformation.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import pyvips

from enlarger import codecs, deadline
from enlarger.geometry import Size
from enlarger.job import Decision
from enlarger.settings import Settings

#: A copy serves an output when it has at least this many times its load size on each axis
MARGIN = 2.0
#: A new copy serves outputs up to this many times the largest load size asked of the source so far
HEADROOM = 2.0
#: Sources remembered as asked for once (a key and a size each, about 200 bytes)
REMEMBERED = 10_000


@dataclass(frozen=True)
class Stats:
    """What the cache did since the process started, and what it holds now."""

    hits: int  # outputs made from a copy in memory
    misses: int  # outputs a copy could have served that were decoded (directly, or into a new copy)
    copies: int  # copies decoded
    bytes: int  # bytes of pixels held
    entries: int  # copies held


@dataclass(frozen=True)
class _Copy:
    image: pyvips.Image  # in memory: oriented, 8-bit sRGB or grey, with or without alpha
    full: bool  # the full-resolution image (serves every size up to the original)
    nbytes: int


def serves(copy_size: Size, full: bool, need: Size) -> bool:
    """Whether a copy of ``copy_size`` (``full``: at the original's resolution) has the pixels an
    output decoded at ``need`` (its load size, never above the original's) is made from."""
    return full or (copy_size[0] >= MARGIN * need[0] and copy_size[1] >= MARGIN * need[1])


def level(oriented: Size, largest: Size) -> Size:
    """The copy's size: the original divided by the largest power of two that still serves outputs
    up to :data:`HEADROOM` × ``largest`` (rounded up, as libjpeg's DCT scaling rounds, so a JPEG
    copy is decoded at exactly that scale)."""
    want_w, want_h = (MARGIN * HEADROOM * side for side in largest)
    divisor = 1
    while math.ceil(oriented[0] / (divisor * 2)) >= want_w and math.ceil(oriented[1] / (divisor * 2)) >= want_h:
        divisor *= 2
    return Size(math.ceil(oriented[0] / divisor), math.ceil(oriented[1] / divisor))


class DecodeCache:
    """Copies by source key, least recently used first, within ``max_bytes`` of pixels."""

    def __init__(self, max_bytes: int, *, remembered: int = REMEMBERED) -> None:
        self._max_bytes = max_bytes
        self._remembered = remembered
        self._lock = threading.Lock()
        self._copies: OrderedDict[str, _Copy] = OrderedDict()
        self._largest: OrderedDict[str, Size] = OrderedDict()  # key → largest load size asked so far
        self._building: dict[str, threading.Lock] = {}  # key → held while its copy is decoded
        self._bytes = 0
        self._hits = self._misses = self._built = 0

    def bound(self, max_bytes: int) -> None:
        """Hold at most ``max_bytes`` from now on (0: nothing, and nothing remembered)."""
        if max_bytes == self._max_bytes:  # every call asks; a changed bound is rare
            return
        with self._lock:
            self._max_bytes = max_bytes
            self._evict()
            if not max_bytes:
                self._largest.clear()

    def clear(self) -> None:
        """Start again: no copy, no source seen, counts at zero."""
        with self._lock:
            self._copies.clear()
            self._largest.clear()
            self._bytes = self._hits = self._misses = self._built = 0

    def stats(self) -> Stats:
        with self._lock:
            return Stats(self._hits, self._misses, self._built, self._bytes, len(self._copies))

    def copy_for(
        self, key: str, need: Size, oriented: Size, bands: int, decode: Callable[[Size], pyvips.Image]
    ) -> pyvips.Image | None:
        """A copy of source ``key`` that serves an output loaded at ``need``, or ``None``: decode directly.

        ``decode(size)`` makes a copy (evaluated, in memory) of the ``oriented`` original at
        ``size``; ``bands`` estimates its bytes before it is decoded. Runs ``decode`` at most once
        per source at a time: a concurrent caller waits for it (within its time limit).
        """
        with self._lock:
            found = self._serving(key, need)
            if found is not None:
                return found
            largest = self._largest.get(key)
            if largest is None and key not in self._copies:  # asked for once so far: remember only
                self._remember(key, need)
                self._misses += 1
                return None
            largest = Size(max(need[0], largest[0]), max(need[1], largest[1])) if largest else need
            self._remember(key, largest)
            size = level(oriented, largest)
            if size[0] * size[1] * bands > self._max_bytes:
                self._misses += 1
                return None  # it would not fit: every output of it decodes directly
            building = self._building.setdefault(key, threading.Lock())
        self._wait_for(building)
        try:
            with self._lock:
                found = self._serving(key, need)  # decoded by the caller we waited for
                if found is not None:
                    return found
                self._misses += 1
            image = decode(size)
            copy = _Copy(image, size == oriented, image.width * image.height * image.bands)
            with self._lock:
                self._built += 1
                self._keep(key, copy)
            return image
        finally:
            building.release()
            with self._lock:
                if self._building.get(key) is building:
                    del self._building[key]

    @staticmethod
    def _wait_for(building: threading.Lock) -> None:
        current = deadline.current()
        if current is None:
            building.acquire()
        elif not building.acquire(timeout=max(0.0, current.remaining())):
            current.check()  # the limit passed while another request decoded the copy
            building.acquire()  # (a clock's rounding): wait for it after all

    def _serving(self, key: str, need: Size) -> pyvips.Image | None:
        copy = self._copies.get(key)
        if copy is None or not serves(Size(copy.image.width, copy.image.height), copy.full, need):
            return None
        self._copies.move_to_end(key)
        self._hits += 1
        return copy.image

    def _remember(self, key: str, largest: Size) -> None:
        self._largest[key] = largest
        self._largest.move_to_end(key)
        while len(self._largest) > self._remembered:
            self._largest.popitem(last=False)

    def _keep(self, key: str, copy: _Copy) -> None:
        old = self._copies.pop(key, None)
        if old is not None:
            self._bytes -= old.nbytes
        if copy.nbytes > self._max_bytes:
            return
        self._copies[key] = copy
        self._bytes += copy.nbytes
        self._evict()

    def _evict(self) -> None:
        while self._bytes > self._max_bytes and self._copies:
            _, oldest = self._copies.popitem(last=False)
            self._bytes -= oldest.nbytes


#: The process's cache; its bound follows the ``decode_cache_bytes`` of the settings each call is made with.
CACHE = DecodeCache(Settings.decode_cache_bytes)


def usable(decision: Decision, settings: Settings) -> bool:
    """Whether a copy may stand in for decoding the source of ``decision``: a still raster, reduced
    (or at its own size), whose output keeps no metadata beyond the copyright notice (the copy
    carries the decoded fields, but ``metadata=keep`` is left to the direct path)."""
    header, need = decision.header, decision.plan.load_size
    if not settings.decode_cache_bytes or header.vector or header.animated or decision.all_frames:
        return False
    if decision.options.metadata == "keep":
        return False
    return need[0] <= header.width and need[1] <= header.height  # an enlargement (upscale too) decodes directly


def load(data: bytes, decision: Decision, settings: Settings, source_id: str | None) -> pyvips.Image | None:
    """The source of ``decision`` at its load size made from a copy, or ``None``: decode it directly.

    ``source_id`` is the caller's identity of ``data`` (what its output cache keys on); without one
    the bytes' SHA-256 is the key.
    """
    CACHE.bound(settings.decode_cache_bytes)
    if not usable(decision, settings):
        return None
    _operation_cache_off()
    key = f"id:{source_id}" if source_id is not None else "sha256:" + hashlib.sha256(data).hexdigest()
    header, need = decision.header, decision.plan.load_size
    bands = 4 if header.has_alpha else 3
    copy = CACHE.copy_for(
        key, need, Size(header.width, header.height), bands, lambda size: _decoded(data, header, size)
    )
    if copy is None:
        return None
    if (copy.width, copy.height) == need:  # a node of this request's own: the copy itself is shared, and
        return copy.copy()  # the steps and the time limit attach to what they are handed (see _decoded)
    return copy.thumbnail_image(need[0], height=need[1], size="force", no_rotate=True)


_OPERATION_CACHE_OFF = False


def _operation_cache_off() -> None:
    """Turn libvips' operation cache off (for the process, as the server always does) before a copy
    is used: it would hand two requests the *same* output image of an operation on the shared copy,
    and with it the first request's time-limit signal handler, called after that request is gone
    (which aborted the process)."""
    global _OPERATION_CACHE_OFF
    if not _OPERATION_CACHE_OFF:
        pyvips.cache_set_max(0)
        _OPERATION_CACHE_OFF = True


def _decoded(data: bytes, header: codecs.Header, size: Size) -> pyvips.Image:
    """The copy: ``data`` decoded at ``size`` (JPEG by DCT scaling to exactly that power of two), in memory.

    Decoded under the time limit of the request that makes it: the kill flag the limit sets goes on
    the lazy decode, not on the copy in memory the later requests share (libvips' progress signal,
    which the limit once used, is handed down to every image made from one and so could not be)."""
    return deadline.watch(codecs.load(data, header, size, all_frames=False, shrink_margin=1.0)).copy_memory()
