"""The disk cache: round trips, LRU eviction by size, order surviving restarts, crash leftovers."""

from __future__ import annotations

import os
import time
from pathlib import Path

from enlarger.cache import DiskCache, Entry, cache_key


def entry(size: int, tag: int = 0) -> Entry:
    return Entry(bytes([tag]) * size, "image/webp", "webp", 10, 20)


def test_round_trip(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, 10_000)
    key = cache_key("a", "b")
    assert cache.get(key) is None
    cache.put(key, entry(100, 7))
    assert cache.get(key) == entry(100, 7)
    assert len(cache) == 1 and cache.total_bytes > 100


def test_keys_are_fixed_length_and_distinct() -> None:
    assert len(cache_key("x")) == 64
    assert cache_key("a", "bc") != cache_key("ab", "c")


def test_least_recently_used_entries_are_evicted(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, 3_500)
    keys = [cache_key(str(i)) for i in range(4)]
    for key in keys[:3]:
        cache.put(key, entry(1000))
    cache.get(keys[0])  # now the most recent
    cache.put(keys[3], entry(1000))
    assert cache.get(keys[1]) is None
    assert cache.get(keys[0]) is not None and cache.get(keys[2]) is not None and cache.get(keys[3]) is not None
    assert cache.total_bytes <= 3_500
    assert not (tmp_path / keys[1][:2] / keys[1]).exists()


def test_recency_survives_a_restart(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, 10_000)
    old, new = cache_key("old"), cache_key("new")
    cache.put(old, entry(1000))
    cache.put(new, entry(1000))
    past = time.time() - 100
    os.utime(tmp_path / old[:2] / old, (past, past))
    reopened = DiskCache(tmp_path, 1_500)  # room for one: the older entry goes
    assert reopened.get(old) is None
    assert reopened.get(new) == entry(1000)


def test_crash_leftovers_are_removed_and_oversize_entries_skipped(tmp_path: Path) -> None:
    (tmp_path / "ab").mkdir()
    (tmp_path / "ab" / ".tmp123").write_bytes(b"half")
    cache = DiskCache(tmp_path, 500)
    assert not (tmp_path / "ab" / ".tmp123").exists()
    cache.put(cache_key("big"), entry(1000))
    assert cache.get(cache_key("big")) is None and len(cache) == 0


def test_a_file_deleted_behind_the_cache_is_a_miss(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, 10_000)
    key = cache_key("gone")
    cache.put(key, entry(10))
    (tmp_path / key[:2] / key).unlink()
    assert cache.get(key) is None
    assert len(cache) == 0 and cache.total_bytes == 0
