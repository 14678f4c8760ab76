"""An on-disk cache of transformed outputs: size-bounded, least-recently-used, restart-safe.

Each entry is one file (a small JSON head, then the body) written atomically, so a crash never
leaves a torn entry. Recency is the file's mtime (touched on every hit), which is what lets the
LRU order survive restarts without a separate index. Hits read one file and decode nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path

_HEAD = 4  # bytes of big-endian head length


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


class DiskCache:
    """Outputs keyed by :func:`cache_key`, evicted least-recently-used past ``max_bytes``."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self._root = root
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._sizes: OrderedDict[str, int] = OrderedDict()
        self._total = 0
        root.mkdir(parents=True, exist_ok=True)
        self._load_index()

    @property
    def total_bytes(self) -> int:
        return self._total

    def __len__(self) -> int:
        return len(self._sizes)

    def _path(self, key: str) -> Path:
        return self._root / key[:2] / key

    def _load_index(self) -> None:
        found: list[tuple[float, str, int]] = []
        for path in self._root.glob("??/*"):
            if path.name.startswith("."):
                path.unlink(missing_ok=True)  # a temp file left by a crash mid-write
                continue
            stat = path.stat()
            found.append((stat.st_mtime, path.name, stat.st_size))
        for _, key, size in sorted(found):
            self._sizes[key] = size
            self._total += size
        self._evict()

    def get(self, key: str) -> Entry | None:
        path = self._path(key)
        try:
            raw = path.read_bytes()
            os.utime(path)
        except FileNotFoundError:
            with self._lock:
                self._forget(key)
            return None
        with self._lock:
            if key in self._sizes:
                self._sizes.move_to_end(key)
        head_len = int.from_bytes(raw[:_HEAD], "big")
        head = json.loads(raw[_HEAD : _HEAD + head_len])
        return Entry(body=raw[_HEAD + head_len :], **head)

    def put(self, key: str, entry: Entry) -> None:
        head = asdict(entry)
        del head["body"]
        encoded = json.dumps(head).encode()
        blob = len(encoded).to_bytes(_HEAD, "big") + encoded + entry.body
        if len(blob) > self._max_bytes:
            return
        path = self._path(key)
        path.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".")
        with os.fdopen(fd, "wb") as handle:
            handle.write(blob)
        os.replace(tmp, path)
        with self._lock:
            self._forget(key)
            self._sizes[key] = len(blob)
            self._total += len(blob)
            self._evict()

    def _forget(self, key: str) -> None:
        size = self._sizes.pop(key, None)
        if size is not None:
            self._total -= size

    def _evict(self) -> None:
        while self._total > self._max_bytes and self._sizes:
            key, size = self._sizes.popitem(last=False)
            self._total -= size
            self._path(key).unlink(missing_ok=True)
