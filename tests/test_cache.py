"""The disk cache: round trips, LRU eviction by size, order surviving restarts, crash leftovers,
the in-memory layer of hot entries and the rationed mtime touches."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from enlarger.cache import TOUCH_SECONDS, DiskCache, Entry, cache_key

PAST = 1_000_000_000.0  # an mtime long before any touch


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def entry(size: int, tag: int = 0) -> Entry:
    return Entry(bytes([tag]) * size, "image/webp", "webp", 10, 20)


def file_of(root: Path, key: str) -> Path:
    return root / key[:2] / key


def hot_cache(root: Path, max_bytes: int = 100_000, memory_bytes: int = 100_000) -> DiskCache:
    """A cache whose clock never moves, so no hit touches a file unless a test says so."""
    return DiskCache(root, max_bytes, memory_bytes=memory_bytes, clock=Clock())


def test_round_trip(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, 10_000)
    key = cache_key("a", "b")
    assert cache.get(key) is None
    cache.put(key, entry(100, 7))
    assert cache.get(key) == entry(100, 7)
    assert len(cache) == 1 and cache.total_bytes > 100


def test_an_entry_written_again_is_counted_once(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, 10_000)
    key = cache_key("a")
    cache.put(key, entry(1000))
    once = cache.total_bytes
    cache.put(key, entry(1000, 1))  # made again (after a purge elsewhere, or a race): replaces it
    assert len(cache) == 1 and cache.total_bytes == once
    assert cache.get(key) == entry(1000, 1)


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


def test_hot_entries_are_served_from_memory_without_reading_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = hot_cache(tmp_path)
    key = cache_key("hot")
    cache.put(key, entry(100, 3))
    file_of(tmp_path, key).unlink()  # only memory can answer now
    monkeypatch.setattr(Path, "read_bytes", lambda _self: pytest.fail("a hot hit read a file"))
    assert cache.get(key) == entry(100, 3)


def test_entries_read_from_disk_become_hot(tmp_path: Path) -> None:
    cache = hot_cache(tmp_path, memory_bytes=1500)  # room for one body
    cold, other = cache_key("cold"), cache_key("other")
    cache.put(cold, entry(1000, 1))
    cache.put(other, entry(1000, 2))  # pushes cold out of memory; it stays on disk
    assert cache.get(cold) == entry(1000, 1)  # from disk, and hot from now on
    file_of(tmp_path, cold).unlink()
    file_of(tmp_path, other).unlink()
    assert cache.get(cold) == entry(1000, 1)
    assert cache.get(other) is None


def test_memory_holds_at_most_memory_bytes_of_bodies(tmp_path: Path) -> None:
    cache = hot_cache(tmp_path, memory_bytes=2500)
    keys = [cache_key(str(i)) for i in range(3)]
    for i, key in enumerate(keys):
        cache.put(key, entry(1000, i))
    big = cache_key("big")
    cache.put(big, entry(3000))  # larger than the memory bound: on disk only, evicts nothing hot
    for key in [*keys, big]:
        file_of(tmp_path, key).unlink()
    assert [cache.get(key) is not None for key in [*keys, big]] == [False, True, True, False]


def test_memory_off_keeps_nothing(tmp_path: Path) -> None:
    cache = hot_cache(tmp_path, memory_bytes=0)
    key = cache_key("cold")
    cache.put(key, entry(10))
    assert cache.get(key) == entry(10)
    file_of(tmp_path, key).unlink()
    assert cache.get(key) is None


def test_discard_removes_an_entry_from_memory_and_disk(tmp_path: Path) -> None:
    cache = hot_cache(tmp_path)
    key, kept = cache_key("purged"), cache_key("kept")
    cache.put(key, entry(100))
    cache.put(kept, entry(100))
    cache.discard(key)
    cache.discard(cache_key("never cached"))
    assert cache.get(key) is None
    assert not file_of(tmp_path, key).exists()
    assert len(cache) == 1 and cache.get(kept) == entry(100)
    reopened = DiskCache(tmp_path, 100_000)
    assert reopened.get(key) is None and len(reopened) == 1


def test_evicted_entries_leave_memory_too(tmp_path: Path) -> None:
    cache = hot_cache(tmp_path, max_bytes=2_500)  # two entries fit on disk, all in memory
    keys = [cache_key(str(i)) for i in range(3)]
    for key in keys:
        cache.put(key, entry(1000))
    assert not file_of(tmp_path, keys[0]).exists()
    assert cache.get(keys[0]) is None
    assert cache.get(keys[1]) is not None and cache.get(keys[2]) is not None


@pytest.mark.parametrize("memory_bytes", [0, 100_000])
def test_the_file_mtime_is_touched_at_most_once_per_interval(tmp_path: Path, memory_bytes: int) -> None:
    clock = Clock()
    cache = DiskCache(tmp_path, 100_000, memory_bytes=memory_bytes, clock=clock)
    key = cache_key("touched")
    cache.put(key, entry(100))
    path = file_of(tmp_path, key)
    os.utime(path, (PAST, PAST))
    clock.now += TOUCH_SECONDS / 2
    assert cache.get(key) is not None
    assert path.stat().st_mtime == PAST  # put counts as a touch: too soon for another
    clock.now += TOUCH_SECONDS / 2
    assert cache.get(key) is not None
    assert path.stat().st_mtime > PAST  # one interval after the put: touched
    os.utime(path, (PAST, PAST))
    clock.now += TOUCH_SECONDS / 2
    assert cache.get(key) is not None
    assert path.stat().st_mtime == PAST  # half an interval after that touch: not again


def test_a_hot_entry_whose_file_vanished_is_dropped_at_its_next_touch(tmp_path: Path) -> None:
    clock = Clock()
    cache = DiskCache(tmp_path, 100_000, memory_bytes=100_000, clock=clock)
    key = cache_key("vanished")
    cache.put(key, entry(100))
    file_of(tmp_path, key).unlink()
    clock.now += TOUCH_SECONDS
    assert cache.get(key) is None
    assert len(cache) == 0 and cache.total_bytes == 0


# --- several processes sharing one directory (each DiskCache below stands for one process)


def test_a_claim_is_exclusive_until_released(tmp_path: Path) -> None:
    first, second = DiskCache(tmp_path, 10_000), DiskCache(tmp_path, 10_000)
    key = cache_key("busy")
    claim = first.claim(key)
    assert claim is not None
    assert second.claim(key) is None and first.claim(key) is None  # one holder, whoever asks
    assert second.claim(cache_key("other")) is not None  # other keys are free
    claim.release()
    assert not (tmp_path / ".locks" / key).exists()  # lock files do not pile up
    again = second.claim(key)
    assert again is not None
    again.release()


def test_a_claim_on_a_lock_file_unlinked_meanwhile_is_refused(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, 10_000)
    key = cache_key("raced")
    holder = cache.claim(key)
    assert holder is not None
    stale = os.open(tmp_path / ".locks" / key, os.O_RDWR)  # a claimant that opened the old file
    holder.release()  # unlinks, then unlocks
    newer = cache.claim(key)  # a fresh file: not the one the stale claimant holds open
    assert newer is not None
    import fcntl

    fcntl.flock(stale, fcntl.LOCK_EX | fcntl.LOCK_NB)  # it can lock its old inode...
    assert os.fstat(stale).st_ino != os.stat(tmp_path / ".locks" / key).st_ino  # ...which Claim rejects
    os.close(stale)
    newer.release()


def test_shards_adopt_disjoint_files_and_bound_only_their_own(tmp_path: Path) -> None:
    keys = [cache_key(f"k{i}") for i in range(20)]
    writer = DiskCache(tmp_path, 1_000_000)
    for key in keys:
        writer.put(key, entry(100))
    shards = [DiskCache(tmp_path, 1_000_000, shard=(i, 2)) for i in range(2)]
    assert len(shards[0]) + len(shards[1]) == len(keys) and min(len(shards[0]), len(shards[1])) > 0
    size = writer.total_bytes // len(keys)  # one entry's file
    small = DiskCache(tmp_path, 3 * size, shard=(0, 2))  # room for 3 entries of shard 0: the rest of it goes
    assert len(small) == 3
    left = [k for k in keys if file_of(tmp_path, k).exists()]
    assert len(left) == 3 + len(shards[1])  # shard 1's files were not touched


def test_another_process_entry_is_read_and_kept_hot(tmp_path: Path) -> None:
    writer, reader = DiskCache(tmp_path, 10_000), hot_cache(tmp_path)
    key = cache_key("theirs")
    writer.put(key, entry(50, tag=7))
    assert len(reader) == 0  # written after the reader started: not in its index
    got = reader.get(key)
    assert got is not None and got.body == bytes([7]) * 50
    file_of(tmp_path, key).unlink()  # the writer evicts it
    again = reader.get(key)  # content-addressed: the hot copy is still right
    assert again is not None and again.body == got.body
    reader.discard(key)
    assert reader.get(key) is None


def test_temp_files_of_live_writers_survive_a_restart(tmp_path: Path) -> None:
    (tmp_path / "ab").mkdir()
    live = tmp_path / "ab" / f".{os.getpid()}.inprogress"
    dead = tmp_path / "ab" / ".999999999.leftover"  # above any pid_max
    live.write_bytes(b"being written")
    dead.write_bytes(b"half")
    DiskCache(tmp_path, 10_000)
    assert live.exists() and not dead.exists()


def test_a_claim_recreates_a_lock_folder_removed_under_it(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, 10_000)
    (tmp_path / ".locks").rmdir()
    claim = cache.claim(cache_key("after a cleanup"))
    assert claim is not None
    claim.release()


def test_a_fresh_entry_replaces_a_stale_one_read_concurrently(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read of the old file that finishes after the new entry was written must not put the old
    body back in memory, where every later hit would serve it (cache.py ``fresh``)."""
    key = cache_key("replaced")
    hot_cache(tmp_path).put(key, entry(100, 1))  # the stale entry, on disk only for the cache below
    cache = hot_cache(tmp_path)
    read_old, written = threading.Event(), threading.Event()
    real_read = cache._read

    def slow_read(wanted: str) -> Entry:
        found = real_read(wanted)
        read_old.set()
        assert written.wait(10)  # the new entry lands while this read is still in flight
        return found

    monkeypatch.setattr(cache, "_read", slow_read)
    results: list[Entry | None] = []
    reader = threading.Thread(target=lambda: results.append(cache.get(key)), daemon=True)
    reader.start()
    assert read_old.wait(10)
    cache.put(key, entry(100, 2))
    written.set()
    reader.join(10)
    assert results == [entry(100, 1)]  # the read in flight answers with what it read
    monkeypatch.setattr(cache, "_read", lambda _key: pytest.fail("a hot hit read a file"))
    assert cache.get(key) == entry(100, 2)  # memory holds the fresh entry, not the stale read


def test_a_fresh_entry_replaces_a_stale_one_already_hot(tmp_path: Path) -> None:
    cache = hot_cache(tmp_path)
    key = cache_key("rewritten")
    cache.put(key, entry(100, 1))
    assert cache.get(key) == entry(100, 1)
    cache.put(key, entry(100, 2))
    file_of(tmp_path, key).unlink()  # only memory can answer
    assert cache.get(key) == entry(100, 2)
