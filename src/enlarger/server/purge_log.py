"""Purges that reach every replica: each change's purge is logged in the catalog, and every replica
follows the log, purging its own disk cache by the logged tags.

The writer purges its own disk (and the shared result tier) at once; the others follow within
``purge_poll_seconds``. The id of the last entry applied is kept beside the cache (it survives
restarts like the cache does), so a replica that was down applies what it missed, as long as the
entries are younger than ``purge_log_retention_seconds``. A replica without that file starts at the
newest entry. One process per data directory follows (they share the disk cache). Ids are taken in
insert order but become visible in commit order: a gap is waited for up to ``_GAP_WAIT``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio

from enlarger.catalog.store import Catalog
from enlarger.server.purge import PurgeIndex

logger = logging.getLogger("enlarger.server")
_PRUNE_EVERY = 3600.0  # seconds between prunes of old entries
#: ids are taken at insert and seen at commit, so a gap younger than this is waited for; an older
#: gap is a rolled-back transaction (or a pruned entry) and is skipped
_GAP_WAIT = timedelta(seconds=10)


class PurgeFollower:
    def __init__(self, catalog: Catalog, index: PurgeIndex, state: Path, poll: float, retention: float) -> None:
        self._catalog = catalog
        self._index = index
        self._state = state
        self._poll = poll
        self._retention = retention
        self._last: int | None = None
        self._pruned = float("-inf")

    def _load(self) -> int:
        try:
            return int(self._state.read_text())
        except (FileNotFoundError, ValueError):
            return self._catalog.last_purge()

    def _save(self, last: int) -> None:
        partial = self._state.with_name(self._state.name + ".partial")
        partial.write_text(str(last))
        os.replace(partial, self._state)

    def step(self) -> int:
        """Apply the entries logged since the last applied one (and prune old ones hourly); returns how many."""
        if self._last is None:
            self._last = self._load()
            self._save(self._last)
        if time.monotonic() - self._pruned >= _PRUNE_EVERY:
            self._catalog.prune_purges(datetime.now(UTC) - timedelta(seconds=self._retention))
            self._pruned = time.monotonic()
        applied = 0
        for entry_id, tags, at in self._catalog.purges_after(self._last):
            if entry_id != self._last + 1 and datetime.now(UTC) - at < _GAP_WAIT:
                break  # an earlier id may still be committing (PostgreSQL): read again at the next poll
            for tag in tags:
                self._index.purge(tag)
            self._last = entry_id
            applied += 1
        if applied:
            self._save(self._last)
        return applied

    async def run(self) -> None:
        """Follow the log until cancelled; a catalog outage is logged and retried at the next poll."""
        while True:
            try:
                await anyio.to_thread.run_sync(self.step)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("could not follow the purge log (retried in %ss)", self._poll, exc_info=True)
            await asyncio.sleep(self._poll)
