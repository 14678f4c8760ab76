"""Original bytes of remote sources on disk, so each original crosses the network once (issue 26).

Without it every output cache miss of an HTTP source downloaded the whole original again: the
source's identity was remembered (``Sources``), its bytes were not, so ten widths of a 5 MB photo
cost 50 MB of origin traffic. Here each fetched original is kept with what it takes to revalidate
it (ETag, Last-Modified) and the identity the output cache keys on; a conditional request answered
304 then serves the kept bytes, a changed source replaces them.

Entries are files like :mod:`enlarger.cache`'s: a small JSON head, then the body, written to a
temp file and renamed into place, so a reader sees a whole entry or none; the head records the
body's length and a body of any other length is never served (a disk that lost the end of a file
makes a miss, not a truncated image). Recency is the file's mtime (touched at most once a minute),
so the least-recently-used order survives a restart; the total is bounded in bytes. Several
server processes share the directory the way they share the output cache: each indexes and
bounds the entries it wrote (its ``shard`` of the bound), every process reads every file.

Keys are the caller's text (a URL for remote sources); whatever separates tenants must be part of
it. The cache knows nothing of fetching or of the address policy: :class:`enlarger.sources.Sources`
only serves bytes from here for a source it has located (allowed, fetched or revalidated) itself.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from enlarger.cache import FileIndex, cache_key

_HEAD = 4  # bytes of big-endian head length
logger = logging.getLogger("enlarger.source_cache")


class Counter(Protocol):
    def inc(self, amount: float = 1) -> None: ...


class Gauge(Protocol):
    def set(self, value: float) -> None: ...


class _Uncounted:
    def inc(self, amount: float = 1) -> None:
        pass

    def set(self, value: float) -> None:
        pass


_UNCOUNTED = _Uncounted()


@dataclass(frozen=True)
class Tally:
    """Where the cache reports what it did; the server passes its Prometheus series."""

    hits: Counter = _UNCOUNTED  # bodies served from disk instead of the origin
    misses: Counter = _UNCOUNTED  # bodies that had to be downloaded (and were stored)
    revalidations: Counter = _UNCOUNTED  # conditional requests the origin answered 304
    evictions: Counter = _UNCOUNTED  # entries removed to stay within the bound
    stored_bytes: Gauge = _UNCOUNTED  # bytes of the entries this process bounds


@dataclass(frozen=True)
class Head:
    """What is known of a stored original without reading its body."""

    identity: str  # the output cache's key part for these bytes (``sources._identity_of``)
    etag: str | None
    last_modified: str | None
    size: int  # the body's length: a body of another length is damaged and never served


class SourceCache:
    """Original bytes by key, evicted least-recently-used past ``max_bytes`` (of whole files).

    ``shard`` is (index, count) when ``count`` processes share ``root``: ``max_bytes`` is then
    this process's part of the bound, and only existing files of shard ``index`` are adopted.
    Methods block on the disk: call them from a worker thread.
    """

    def __init__(
        self,
        root: Path,
        max_bytes: int,
        *,
        tally: Tally | None = None,
        clock: Callable[[], float] = time.time,
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        self._root = root
        self.tally = tally or Tally()
        self._clock = clock  # wall-clock seconds, like the mtimes it is compared with
        self._lock = threading.Lock()
        self._files = FileIndex(max_bytes)
        root.mkdir(parents=True, exist_ok=True)
        self._files.adopt(root, shard)
        self._evict()
        self.tally.stored_bytes.set(self._files.total)

    @property
    def total_bytes(self) -> int:
        return self._files.total

    def __len__(self) -> int:
        return len(self._files)

    def head(self, key: str) -> Head | None:
        """The stored entry's validators and identity (its body is not read); None when absent."""
        try:
            with self._path(cache_key(key)).open("rb") as handle:
                return _head(handle.read(int.from_bytes(handle.read(_HEAD), "big")))
        except OSError:  # absent, or unreadable: the origin is asked as if it were absent
            return None

    def get(self, key: str, identity: str) -> bytes | None:
        """The stored body if it is whole and has ``identity``; None otherwise (a miss)."""
        name = cache_key(key)
        path = self._path(name)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError:  # a failing disk makes a miss, not a failed request
            logger.warning("the source cache could not read %s", path, exc_info=True)
            return None
        head_len = int.from_bytes(raw[:_HEAD], "big")
        head = _head(raw[_HEAD : _HEAD + head_len])
        body = raw[_HEAD + head_len :]
        if head is None or len(body) != head.size:  # damaged: never served, and removed
            self._remove(name)
            return None
        if head.identity != identity:
            return None
        with self._lock:
            touch = self._files.used(name, self._clock())
        if touch:
            with contextlib.suppress(FileNotFoundError):  # evicted meanwhile elsewhere: the bytes read are whole
                os.utime(path)
        self.tally.hits.inc()
        return body

    def put(self, key: str, head: Head, body: bytes) -> None:
        """Store ``body`` under ``key`` (replacing what was there), atomically; too large: not stored."""
        assert head.size == len(body)
        encoded = json.dumps(asdict(head)).encode()
        size = _HEAD + len(encoded) + len(body)
        if size > self._files.max_bytes:
            return
        name = cache_key(key)
        path = self._path(name)
        try:
            self._write(path, encoded, body)
        except OSError:  # a full or failing disk: the source was fetched all the same, serve it
            logger.warning("the source cache could not store %s", path, exc_info=True)
            return
        with self._lock:
            self._files.add(name, size, self._clock())
            self._evict()
            self.tally.stored_bytes.set(self._files.total)

    @staticmethod
    def _write(path: Path, encoded: bytes, body: bytes) -> None:
        """Head and body to a temp file beside ``path``, then renamed over it (atomic)."""
        path.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{os.getpid()}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(len(encoded).to_bytes(_HEAD, "big"))
                handle.write(encoded)
                handle.write(body)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def discard(self, key: str) -> None:
        """Remove ``key``'s entry (unknown keys are ignored)."""
        self._remove(cache_key(key))

    def _remove(self, name: str) -> None:
        with self._lock:
            self._files.forget(name)
            self._path(name).unlink(missing_ok=True)
            self.tally.stored_bytes.set(self._files.total)

    def _path(self, name: str) -> Path:
        return self._root / name[:2] / name

    def _evict(self) -> None:
        for name in self._files.evict():
            self._path(name).unlink(missing_ok=True)
            self.tally.evictions.inc()


def _head(encoded: bytes) -> Head | None:
    """The JSON head, or None when it is damaged (or written by another version)."""
    try:
        return Head(**json.loads(encoded))
    except (ValueError, TypeError):
        return None
