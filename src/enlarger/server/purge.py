"""Which cached outputs belong to which image or variant, so that changes purge them.

The output cache is keyed by content, not by name; this index remembers, per tag (an image or a
variant of an account), the cache keys produced for it, as empty marker files so it survives
restarts like the cache itself. Markers of entries the cache evicted on its own linger until
their tag is purged; purging a key that is already gone is harmless.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol


class Discarding(Protocol):
    def discard(self, key: str) -> None: ...


def image_tag(account_id: str, image_id: str) -> str:
    return f"image:{account_id}:{image_id}"


def variant_tag(account_id: str, variant_id: str) -> str:
    return f"variant:{account_id}:{variant_id}"


class PurgeIndex:
    def __init__(self, root: Path, cache: Discarding) -> None:
        self._root = root
        self._cache = cache
        root.mkdir(parents=True, exist_ok=True)

    def _dir(self, tag: str) -> Path:
        return self._root / hashlib.sha256(tag.encode()).hexdigest()

    def record(self, tags: Iterable[str], key: str) -> None:
        for tag in tags:
            directory = self._dir(tag)
            directory.mkdir(exist_ok=True)
            (directory / key).touch()

    def purge(self, tag: str) -> int:
        """Discard every output recorded under ``tag``; returns how many there were."""
        directory = self._dir(tag)
        if not directory.is_dir():
            return 0
        keys = os.listdir(directory)
        for key in keys:
            self._cache.discard(key)
            (directory / key).unlink(missing_ok=True)
        return len(keys)
