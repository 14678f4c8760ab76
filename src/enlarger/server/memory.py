"""Keep a long-running server's resident memory at its working set.

The soak (``bench/soak.py``, docs/performance.md) showed the resident size of a server under
mixed traffic climbing in steps long after every bounded cache was full — 266 → 381 MB in the
second half of ten minutes — while the live data did not grow. Two things held on to freed
memory:

- **libvips' operation cache** keeps the last 100 operations and, with them, the images and
  source buffers they were called on. A server's misses are all different calls, so the cache
  never hits; it only retains up to 100 past requests' inputs.
- **glibc's dynamic mmap threshold**: after a large buffer (a decoded photo) is freed, glibc
  raises the size above which it maps memory directly, so later buffers of that size come from
  the heap, where a freed block in the middle is never returned to the system. Fixing the
  threshold (at glibc's own starting value) keeps large buffers mapped: freed, they go back.

With both changed, the same load in-process stays flat (about 135 MB after every batch, where
it drifted between 190 and 370 MB). ``MALLOC_ARENA_MAX`` / ``MALLOC_MMAP_THRESHOLD_`` in the
environment still win: this sets only what the operator did not.
"""

from __future__ import annotations

import ctypes
import os
import sys

import pyvips

_M_MMAP_THRESHOLD = -3  # mallopt parameters, from glibc's malloc.h
_M_ARENA_MAX = -8
MMAP_THRESHOLD = 128 * 1024  # glibc's initial value; setting it stops the dynamic raise
ARENA_MAX = 2  # per-thread arenas otherwise multiply retained memory by the thread count


def tune_memory() -> None:
    """Turn libvips' operation cache off and pin glibc's malloc behaviour, for this whole process.

    Called by the server processes only (``enlarger serve`` and each worker), before their
    threads start.
    """
    pyvips.cache_set_max(0)
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl names it differently and has no arenas to tune)
        return
    if "MALLOC_ARENA_MAX" not in os.environ:
        libc.mallopt(_M_ARENA_MAX, ARENA_MAX)
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
