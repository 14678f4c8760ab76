"""The on-disk source cache: bounded by bytes, least recently used first, whole entries only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from enlarger.cache import TOUCH_SECONDS, cache_key
from enlarger.source_cache import Head, SourceCache, Tally


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class Count:
    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1) -> None:
        self.value += amount

    def set(self, value: float) -> None:
        self.value = value


def head_of(body: bytes, tag: str = "v1") -> Head:
    return Head(f"url:x:etag:{tag}", f'"{tag}"', None, len(body))


BODY = bytes(range(256)) * 40  # 10 KiB
ENTRY = len(BODY) + 200  # a body and its head, roughly


def entry_file(root: Path, key: str) -> Path:
    name = cache_key(key)
    return root / name[:2] / name


def test_a_stored_body_is_served_for_its_identity_only(tmp_path: Path) -> None:
    cache = SourceCache(tmp_path, 10 * ENTRY)
    cache.put("url:a", head_of(BODY), BODY)
    assert cache.get("url:a", "url:x:etag:v1") == BODY
    assert cache.get("url:a", "url:x:etag:v2") is None  # the source changed: these bytes are not it
    assert cache.get("url:b", "url:x:etag:v1") is None
    assert cache.head("url:a") == head_of(BODY)
    assert cache.head("url:b") is None


def test_a_source_stored_again_is_counted_once(tmp_path: Path) -> None:
    cache = SourceCache(tmp_path, 10 * ENTRY)
    cache.put("url:a", head_of(BODY), BODY)
    once = cache.total_bytes
    cache.put("url:a", head_of(BODY[::-1], "v2"), BODY[::-1])  # the origin changed it: replaced
    assert len(cache) == 1 and cache.total_bytes == once
    assert cache.get("url:a", "url:x:etag:v2") == BODY[::-1]


def test_least_recently_used_entries_go_first(tmp_path: Path) -> None:
    evictions = Count()
    cache = SourceCache(tmp_path, 2 * ENTRY, tally=Tally(evictions=evictions))
    cache.put("url:a", head_of(BODY), BODY)
    cache.put("url:b", head_of(BODY), BODY)
    assert cache.get("url:a", "url:x:etag:v1") == BODY  # a is now the most recent
    cache.put("url:c", head_of(BODY), BODY)
    assert cache.head("url:b") is None
    assert cache.get("url:a", "url:x:etag:v1") == BODY
    assert cache.get("url:c", "url:x:etag:v1") == BODY
    assert evictions.value == 1
    assert cache.total_bytes <= 2 * ENTRY


def test_a_body_larger_than_the_bound_is_not_stored(tmp_path: Path) -> None:
    cache = SourceCache(tmp_path, ENTRY // 2)
    cache.put("url:a", head_of(BODY), BODY)
    assert cache.head("url:a") is None and cache.total_bytes == 0


def test_a_truncated_entry_is_never_served(tmp_path: Path) -> None:
    cache = SourceCache(tmp_path, 10 * ENTRY)
    cache.put("url:a", head_of(BODY), BODY)
    path = entry_file(tmp_path, "url:a")
    path.write_bytes(path.read_bytes()[:-1])  # a disk that lost the last byte
    assert cache.get("url:a", "url:x:etag:v1") is None
    assert not path.exists() and cache.total_bytes == 0


def test_a_restart_keeps_the_entries_and_their_order(tmp_path: Path) -> None:
    clock = Clock()
    cache = SourceCache(tmp_path, 2 * ENTRY, clock=clock)
    cache.put("url:a", head_of(BODY), BODY)
    clock.now += 1
    cache.put("url:b", head_of(BODY), BODY)
    clock.now += TOUCH_SECONDS
    cache.get("url:a", "url:x:etag:v1")  # its file's mtime is refreshed: a survives b after a restart
    os.utime(entry_file(tmp_path, "url:b"), (clock.now - 10, clock.now - 10))
    os.utime(entry_file(tmp_path, "url:a"), (clock.now, clock.now))
    leftover = entry_file(tmp_path, "url:a").parent / ".999999999.crashed"
    leftover.write_bytes(b"half an entry")
    again = SourceCache(tmp_path, 2 * ENTRY, clock=clock)
    assert len(again) == 2 and again.total_bytes == cache.total_bytes
    assert not leftover.exists()  # a crash's temp file is removed at start
    again.put("url:c", head_of(BODY), BODY)
    assert again.head("url:b") is None
    assert again.get("url:a", "url:x:etag:v1") == BODY


@pytest.mark.parametrize("count", [2, 3])
def test_processes_sharing_the_directory_bound_their_own_shard(tmp_path: Path, count: int) -> None:
    writer = SourceCache(tmp_path, 100 * ENTRY)
    for number in range(12):
        writer.put(f"url:{number}", head_of(BODY), BODY)
    shards = [SourceCache(tmp_path, 100 * ENTRY, shard=(index, count)) for index in range(count)]
    assert sum(len(shard) for shard in shards) == 12  # each file adopted by exactly one process
    assert shards[-1].get("url:0", "url:x:etag:v1") == BODY  # and every process reads every file


def test_the_tally_counts_hits_and_bytes(tmp_path: Path) -> None:
    hits, stored = Count(), Count()
    cache = SourceCache(tmp_path, 10 * ENTRY, tally=Tally(hits=hits, stored_bytes=stored))
    cache.put("url:a", head_of(BODY), BODY)
    cache.get("url:a", "url:x:etag:v1")
    cache.get("url:a", "url:x:etag:v2")
    assert hits.value == 1
    assert stored.value == cache.total_bytes > len(BODY)
    cache.discard("url:a")
    assert stored.value == 0


def test_a_failing_disk_stores_nothing_and_raises_nothing(tmp_path: Path) -> None:
    cache = SourceCache(tmp_path, 10 * ENTRY)
    entry_file(tmp_path, "url:a").parent.write_bytes(b"a file where the entry's folder goes")
    cache.put("url:a", head_of(BODY), BODY)  # the fetch that produced BODY still serves it
    assert cache.head("url:a") is None and cache.get("url:a", "url:x:etag:v1") is None
    assert cache.total_bytes == 0
