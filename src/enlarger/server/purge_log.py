"""Purges that reach every replica: each change's purge is logged in the catalog, and every replica
follows the log, purging its own disk cache by the logged tags.

The writer purges its own disk (and the shared result tier) at once; the others follow within
``purge_poll_seconds``. The id of the last entry applied is kept beside the cache (it survives
restarts like the cache does), so a replica that was down applies what it missed, as long as the
entries are younger than ``purge_log_retention_seconds``. A replica without that file starts at the
newest entry. One process per data directory follows (they share the disk cache).

Ids are taken in insert order but become visible in commit order, and PostgreSQL's sequences jump
ahead after a crash or failover: a gap in ids may still fill (a commit in flight) or never will.
Purges are idempotent and their order does not matter, so every entry is applied as soon as it is
seen; only the saved position waits at a gap, up to ``_GAP_WAIT``, so that an entry committed into
it later is applied too.
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
#: ids are taken at insert and seen at commit, so the position stays before a gap younger than this
#: (entries past it are applied meanwhile); an older gap is a rolled-back transaction, a sequence that
#: jumped (a PostgreSQL crash) or a pruned entry, and the position moves past it
_GAP_WAIT = timedelta(seconds=10)


class PurgeFollower:
    def __init__(self, catalog: Catalog, index: PurgeIndex, state: Path, poll: float, retention: float) -> None:
        self._catalog = catalog
        self._index = index
        self._state = state
        self._poll = poll
        self._retention = retention
        self._last: int | None = None  # every entry up to this id is applied (the saved position)
        self._ahead: set[int] = set()  # entries past a gap the position waits at, applied already
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
        applied, waiting, before = 0, False, self._last
        for entry_id, tags, at in self._catalog.purges_after(self._last):
            if entry_id not in self._ahead:
                for tag in tags:
                    self._index.purge(tag)
                self._ahead.add(entry_id)
                applied += 1
            if not waiting and (entry_id == self._last + 1 or datetime.now(UTC) - at >= _GAP_WAIT):
                self._last = entry_id
            else:
                waiting = True  # an earlier id may still be committing (PostgreSQL): keep the position
        self._ahead = {entry_id for entry_id in self._ahead if entry_id > self._last}
        if self._last != before:
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
