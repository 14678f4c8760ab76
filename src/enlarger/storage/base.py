"""The storage interface every backend implements.

Blobs are immutable and written whole: ``put`` returns only once the bytes are durable, and a
reader never sees a partial blob. Keys are chosen by the caller (random per upload), so a write
never replaces bytes someone may still be reading.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class BlobMissingError(LookupError):
    """The key has no blob (deleted, or never written)."""


@dataclass(frozen=True)
class BlobInfo:
    key: str
    size: int
    modified: datetime


class Storage(Protocol):
    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically and durably."""

    def get(self, key: str) -> bytes:
        """The blob's bytes; :class:`BlobMissingError` if there is none."""

    def delete(self, key: str) -> None:
        """Remove the blob; deleting a missing blob is not an error."""

    def list(self) -> Iterator[BlobInfo]:
        """Every stored blob (for orphan cleanup)."""
