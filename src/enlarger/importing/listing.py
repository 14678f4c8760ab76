"""What every import source provides: a listing in pages and one object's bytes at a time.

A page carries the cursor to continue after it, so a listing interrupted by a crash resumes where
its last recorded page ended. The kinds of source (``sources_s3``, ``sources_urls``,
``sources_api``) implement :class:`Source`; ``sources.open_source`` picks one for a job.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from enlarger.importing.jobs import Item, Listed

PAGE = 1000  # objects listed (and inserted) per batch


@dataclass(frozen=True)
class ListingPage:
    entries: list[Listed]
    cursor: str | None  # where the listing continues after this page
    last: bool


class Source(Protocol):
    def pages(self, cursor: str | None) -> AsyncIterator[ListingPage]:
        """The listing from ``cursor`` on (None: from the start), a page at a time."""

    async def read(self, item: Item) -> bytes:
        """One object's bytes, at most the upload limit (larger: InputTooLargeError)."""

    async def aclose(self) -> None: ...
