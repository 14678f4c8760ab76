"""An on-disk cache of transformed outputs: size-bounded, least-recently-used, restart-safe.

Each entry is one file (a small JSON head, then the body) written atomically, so a crash never
leaves a torn entry. Recency is the file's mtime, which is what lets the LRU order survive
restarts without a separate index; it is touched at most once a minute per entry, because a
restart only needs the order roughly right and a syscall per hit is not free.

In front of the files sits a byte-bounded in-memory LRU of hot entries: a hot hit decodes
nothing and reads nothing. Whatever leaves the disk through this process (eviction,
:meth:`DiskCache.discard`) leaves its memory with it.

Several server processes can share one cache directory (``enlarger serve --processes N``). Each
process indexes and bounds only the entries *it* wrote (its ``shard`` of the size bound; at start
it adopts the existing files whose key falls in its shard), so the shards together stay within
the bound without any shared index. Every process reads every file: a hit on another process's
entry reads its file and keeps it hot here too. An entry another process evicted or purged is a
miss (its file is gone); a copy in this process's memory is still right, because keys are
content-addressed. :meth:`DiskCache.claim` is the cross-process lock that lets one process
produce a key while the others wait for its file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

_HEAD = 4  # bytes of big-endian head length
_LOCKS = ".locks"  # per-key lock files of productions in progress (not matched by the ``??`` entry folders)
TOUCH_SECONDS = 60.0  # an entry's file mtime (its recency after a restart) is refreshed at most this often


@dataclass(frozen=True)
class Entry:
    """A cached response body and what is needed to answer with it."""

    body: bytes
    media_type: str
    format: str
    width: int
    height: int


def cache_key(*parts: str) -> str:
    """A fixed-length key for the parts that decide an output (hex SHA-256)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def shard_of(key: str, count: int) -> int:
    """Which of ``count`` processes adopts ``key``'s file at start (a stable spread over the keys)."""
    return int(key[:8], 16) % count


def abandoned(name: str) -> bool:
    """Whether a temp file (``.<pid>.<random>``) belongs to no running writer: a crash leftover.

    Another live process may be writing its own temp file right now; only the dead's are removed.
    """
    pid_text = name[1:].partition(".")[0]
    if not pid_text.isdigit():
        return True
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


def stored_entries(root: Path, shard: tuple[int, int]) -> list[tuple[float, str, int]]:
    """The entries (mtime, name, size) under ``root``'s two-character shards that this process
    bounds, oldest first, so an LRU index rebuilt at start keeps the order it had; temp files a
    crashed writer left are removed on the way."""
    found: list[tuple[float, str, int]] = []
    index, count = shard
    for path in root.glob("??/*"):
        if path.name.startswith("."):
            if abandoned(path.name):
                path.unlink(missing_ok=True)  # a temp file left by a crash mid-write
            continue
        if count > 1 and shard_of(path.name, count) != index:
            continue  # another process's to bound
        try:
            stat = path.stat()
        except FileNotFoundError:  # evicted by another process meanwhile
            continue
        found.append((stat.st_mtime, path.name, stat.st_size))
    return sorted(found)


class Claim:
    """The exclusive right, across processes, to produce one key: an ``flock`` on its lock file.

    The file is unlinked before it is unlocked, so a later claimant creates a fresh one; a
    claimant that locked a file already unlinked notices (the path no longer names its inode)
    and tries again. A process that dies holding a claim loses it with its descriptors.
    """

    def __init__(self, path: Path, fd: int) -> None:
        self._path = path
        self._fd = fd

    @classmethod
    def attempt(cls, path: Path) -> Claim | None:
        """Take the claim on ``path`` if nobody holds it; never blocks."""
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:  # the lock folder was removed under a running server
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return cls(path, fd)
        except (BlockingIOError, FileNotFoundError):  # held elsewhere / unlinked by its last holder
            pass
        os.close(fd)
        return None

    def release(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()
        os.close(self._fd)


@dataclass
class Slot:
    """What an on-disk LRU index knows of one entry file."""

    size: int
    touched: float  # when its mtime was last set, in the cache clock's seconds


class FileIndex:
    """The least-recently-used order and byte total of a cache directory's entry files, and the
    names to evict past ``max_bytes``. Shared by the output and source caches; each holds its own
    lock around every call."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.total = 0
        self._slots: OrderedDict[str, Slot] = OrderedDict()

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, name: str) -> bool:
        return name in self._slots

    def adopt(self, root: Path, shard: tuple[int, int]) -> None:
        """Index the entry files already under ``root`` that this process bounds, oldest first."""
        for mtime, name, size in stored_entries(root, shard):
            self.add(name, size, mtime)

    def add(self, name: str, size: int, now: float) -> None:
        """Index ``name`` (replacing what it was) as the most recent entry."""
        self.forget(name)
        self._slots[name] = Slot(size, now)
        self.total += size

    def forget(self, name: str) -> None:
        slot = self._slots.pop(name, None)
        if slot is not None:
            self.total -= slot.size

    def used(self, name: str, now: float) -> bool:
        """Mark ``name`` most recent; True when its file's mtime is due for a refresh, so the order
        survives a restart."""
        slot = self._slots.get(name)
        if slot is None:
            return False
        self._slots.move_to_end(name)
        if now - slot.touched < TOUCH_SECONDS:
            return False
        slot.touched = now
        return True

    def evict(self) -> list[str]:
        """Drop the oldest entries until the total is within the bound; their names, for the caller
        to remove."""
        evicted = []
        while self.total > self.max_bytes and self._slots:
            name, slot = self._slots.popitem(last=False)
            self.total -= slot.size
            evicted.append(name)
        return evicted


class DiskCache:
    """Outputs keyed by :func:`cache_key`, evicted least-recently-used past ``max_bytes``.

    ``memory_bytes`` bounds the bodies kept in memory as well (0: none are). ``shard`` is
    (index, count) when ``count`` processes share ``root``: ``max_bytes`` is then this process's
    part of the bound, and only existing files of shard ``index`` are adopted at start.
    """

    def __init__(
        self,
        root: Path,
        max_bytes: int,
        *,
        memory_bytes: int = 0,
        clock: Callable[[], float] = time.time,
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        self._root = root
        self._memory_max = memory_bytes
        self._clock = clock  # wall-clock seconds, like the mtimes it is compared with
        self._lock = threading.Lock()
        self._files = FileIndex(max_bytes)
        self._memory: OrderedDict[str, Entry] = OrderedDict()
        self._memory_total = 0
        self._discards = 0  # bumped by every discard: a read racing one must not keep the entry hot
        root.mkdir(parents=True, exist_ok=True)
        (root / _LOCKS).mkdir(exist_ok=True)
        self._files.adopt(root, shard)
        self._evict()

    @property
    def total_bytes(self) -> int:
        return self._files.total

    def __len__(self) -> int:
        return len(self._files)

    def _path(self, key: str) -> Path:
        return self._root / key[:2] / key

    def get(self, key: str) -> Entry | None:
        """The entry for ``key``: from memory when it is hot, else from its file (then kept hot)."""
        with self._lock:
            entry = self._memory.get(key)
            if entry is not None:
                self._memory.move_to_end(key)
            touch = self._files.used(key, self._clock())
            discards = self._discards
        try:
            if entry is None:
                entry = self._read(key)
                self._keep_hot(key, entry, discards=discards)
            if touch:
                os.utime(self._path(key))
        except FileNotFoundError:  # deleted behind the cache's back
            self.discard(key)
            return None
        return entry

    def put(self, key: str, entry: Entry) -> None:
        head = asdict(entry)
        del head["body"]
        encoded = json.dumps(head).encode()
        blob = len(encoded).to_bytes(_HEAD, "big") + encoded + entry.body
        if len(blob) > self._files.max_bytes:
            return
        path = self._path(key)
        path.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{os.getpid()}.")
        with os.fdopen(fd, "wb") as handle:
            handle.write(blob)
        os.replace(tmp, path)
        with self._lock:
            self._drop_hot(key)
            self._files.add(key, len(blob), self._clock())
            self._evict()
        self._keep_hot(key, entry, fresh=True)  # just made because it was asked for: likely asked for again

    def discard(self, key: str) -> None:
        """Remove ``key`` from memory and disk (a purge); unknown keys are ignored."""
        with self._lock:
            self._discards += 1
            self._forget(key)
            self._path(key).unlink(missing_ok=True)

    def claim(self, key: str) -> Claim | None:
        """The right to produce ``key`` if no process (this one included) holds it; never blocks.

        Whoever gets it should look the key up again before producing: the previous holder may
        have just written it.
        """
        return Claim.attempt(self._root / _LOCKS / key)

    def _read(self, key: str) -> Entry:
        raw = self._path(key).read_bytes()
        head_len = int.from_bytes(raw[:_HEAD], "big")
        head = json.loads(raw[_HEAD : _HEAD + head_len])
        return Entry(body=raw[_HEAD + head_len :], **head)

    def _keep_hot(self, key: str, entry: Entry, *, fresh: bool = False, discards: int | None = None) -> None:
        """Hold ``entry`` in memory if it fits and has not left the disk through this process meanwhile.

        A ``fresh`` entry (just written) replaces whatever a concurrent read of the old file put
        there. A read entry (``discards``: the count when the read began) is kept unless a discard
        came in between; another process's entry (not in this process's index) is kept too.
        """
        size = len(entry.body)
        with self._lock:
            if fresh:
                self._drop_hot(key)
            elif discards != self._discards:
                return
            if not self._memory_max or size > self._memory_max or key in self._memory:
                return
            if fresh and key not in self._files:  # evicted already (larger than what is left)
                return
            self._memory[key] = entry
            self._memory_total += size
            while self._memory_total > self._memory_max:
                _, cold = self._memory.popitem(last=False)
                self._memory_total -= len(cold.body)

    def _forget(self, key: str) -> None:
        self._files.forget(key)
        self._drop_hot(key)

    def _drop_hot(self, key: str) -> None:
        entry = self._memory.pop(key, None)
        if entry is not None:
            self._memory_total -= len(entry.body)

    def _evict(self) -> None:
        for key in self._files.evict():
            self._drop_hot(key)
            self._path(key).unlink(missing_ok=True)
