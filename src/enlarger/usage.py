"""Usage accounting on the serving path: what each account stores, delivers and transforms, per day.

Delivery is the hot path, so it must not pay a database round trip per request:

- a transformation (image + canonical options, the unit Cloudflare bills) reaches the catalog
  once per key per UTC day and process; later requests that day hit an in-memory memo;
- deliveries are summed in memory and added to the catalog as increments every
  ``usage_flush_seconds`` (on a timer, idle or not; before any usage is read; at shutdown), so
  replicas add up.

The catalog side (per-day rows, the exact 30-day figure) is described in ``docs/usage.md``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import anyio
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from enlarger.catalog.store import Catalog
from enlarger.catalog.usage_store import WINDOW_DAYS, UsageDay, UsageStore
from enlarger.errors import TransformationQuotaError
from enlarger.options import Options
from enlarger.settings import Settings

FLUSH_SECONDS = 10.0
_MEMO_LIMIT = 200_000  # (account, key) pairs remembered per day; past it the memo starts again
logger = logging.getLogger("enlarger.usage")


def utc_today() -> date:
    return datetime.now(UTC).date()


def transformation_key(image_id: str, options: Options) -> str:
    """One billed transformation: the source image and its canonical options.

    ``format=auto`` stays ``auto`` here (the negotiated format is not part of it: counted once),
    while ``width=auto`` has already been replaced by the width client hints chose (each counts).
    """
    return hashlib.sha256(f"{image_id}\n{options.canonical()}".encode()).hexdigest()


class Usage:
    """The serving path's recorder, and the reader behind the stats API, /metrics and the dashboard."""

    def __init__(
        self,
        catalog: Catalog,
        settings: Settings,
        *,
        today: Callable[[], date] = utc_today,
        flush_seconds: float = FLUSH_SECONDS,
    ) -> None:
        self.store = UsageStore(catalog)
        self.settings = settings
        self.today = today
        self.flush_seconds = flush_seconds
        self._seen: set[tuple[str, str]] = set()
        self._seen_day: date | None = None
        self._pending: dict[tuple[str, date], tuple[int, int]] = {}
        self._last_flush = time.monotonic()
        self._tasks: set[asyncio.Task[None]] = set()
        self._flush_due = True  # no flush running or scheduled
        # what /metrics shows: this process's counters, and the last totals read from the catalog
        self.delivered_images: Counter[str] = Counter()
        self.delivered_bytes: Counter[str] = Counter()
        self.new_transformations: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.unique_30d: dict[str, int] = {}
        self.stored: dict[str, tuple[int, int]] = {}

    # --- recording (the serving path)
    async def transformation(self, account_id: str, image_id: str, options: Options) -> None:
        """Count a request for (image, options); raises TransformationQuotaError for a new one past the quota."""
        await self.unique(account_id, transformation_key(image_id, options))

    async def unique(self, account_id: str, key: str) -> None:
        """Count one use of the transformation ``key`` (a digest of what it makes: the unit billed);
        raises TransformationQuotaError for a new one past the quota."""
        day = self.today()
        if day != self._seen_day:
            self._seen.clear()
            self._seen_day = day
            self._spawn(self._prune(day))
        if (account_id, key) in self._seen:
            return
        try:
            window = await anyio.to_thread.run_sync(
                self.store.record_transformation, account_id, key, day, self.settings.transformation_quota
            )
        except TransformationQuotaError:
            self.refused[account_id] += 1
            raise
        if window is not None:
            self.new_transformations[account_id] += 1
            self.unique_30d[account_id] = window
        if len(self._seen) >= _MEMO_LIMIT:
            self._seen.clear()
        self._seen.add((account_id, key))

    def delivered(self, account_id: str, status: int, size: int) -> None:
        """Count one delivery (a 200 or 304 answer to a GET) of ``size`` body bytes."""
        if status not in (200, 304):
            return
        key = (account_id, self.today())
        images, total = self._pending.get(key, (0, 0))
        self._pending[key] = (images + 1, total + size)
        self.delivered_images[account_id] += 1
        self.delivered_bytes[account_id] += size
        if self._flush_due and time.monotonic() - self._last_flush >= self.flush_seconds:
            self._flush_due = False
            self._spawn(self.flush())

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Background work of the serving path, kept referenced until done (and awaited at close)."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        """Add the deliveries counted so far to the catalog; on failure they are kept for the next try."""
        pending, self._pending = self._pending, {}
        self._last_flush = time.monotonic()
        try:
            if pending:
                totals = await anyio.to_thread.run_sync(self._write, pending, self.today())
                for account_id, (stored, unique) in totals.items():  # updated here, on the loop /metrics reads on
                    self.stored[account_id] = stored
                    self.unique_30d[account_id] = unique
        except Exception:  # the database is away: keep the counts, serving goes on
            logger.exception("could not record %d delivery counter(s); retrying later", len(pending))
            for key, (images, size) in pending.items():
                old = self._pending.get(key, (0, 0))
                self._pending[key] = (old[0] + images, old[1] + size)
        finally:
            self._flush_due = True

    def _write(
        self, pending: dict[tuple[str, date], tuple[int, int]], day: date
    ) -> dict[str, tuple[tuple[int, int], int]]:
        """Add the counts, then read the totals /metrics shows for the accounts they belong to."""
        self.store.add_deliveries(pending)
        accounts = {account for account, _ in pending}
        return {a: (self.store.stored(a, day), self.store.unique_transformations(a, day)) for a in accounts}

    async def _prune(self, day: date) -> None:
        try:
            await anyio.to_thread.run_sync(self.store.prune_usage_keys, day)
        except Exception:
            logger.exception("could not forget transformation keys older than the window")

    async def flush_periodically(self) -> None:
        """Flush every ``flush_seconds`` even when no delivery comes to trigger it (an idle replica's
        counts would otherwise wait in memory indefinitely); runs until cancelled at shutdown."""
        while True:
            await asyncio.sleep(self.flush_seconds)
            if self._pending and self._flush_due:
                self._flush_due = False
                await self.flush()

    async def close(self) -> None:
        """At shutdown: let a running flush finish, then write what is left."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.flush()

    # --- reading (stats API, dashboard)
    async def summary(self, account_id: str) -> dict[str, Any]:
        """The account's current totals and quota (flushed first, so the numbers include this process)."""
        await self.flush()
        day = self.today()

        def read() -> tuple[tuple[int, int], int, int | None, list[UsageDay]]:
            own = self.store.transformation_quota(account_id)
            today = self.store.usage(account_id, day, day)
            return (
                self.store.stored(account_id, day),
                self.store.unique_transformations(account_id, day),
                own,
                today,
            )

        stored, unique, own, (today,) = await anyio.to_thread.run_sync(read)
        self.stored[account_id] = stored
        self.unique_30d[account_id] = unique
        quota = self.settings.transformation_quota if own is None else own
        return {
            "stored": {"images": stored[0], "bytes": stored[1]},
            "delivered_today": {"images": today.delivered_images, "bytes": today.delivered_bytes},
            "transformations": {"unique_30d": unique, "allowed": quota or None, "window_days": WINDOW_DAYS},
        }

    async def history(self, account_id: str, days: int) -> list[dict[str, Any]]:
        """One entry per day for the last ``days`` days, oldest first (for the dashboard's charts)."""
        await self.flush()
        last = self.today()
        found = await anyio.to_thread.run_sync(self.store.usage, account_id, last - timedelta(days=days - 1), last)
        return [
            {
                "day": d.day.isoformat(),
                "stored_images": d.stored_images,
                "stored_bytes": d.stored_bytes,
                "delivered_images": d.delivered_images,
                "delivered_bytes": d.delivered_bytes,
                "transformations": d.transformations,
                "unique_30d": d.unique_30d,
            }
            for d in found
        ]


class UsageMetrics(Collector):
    """``/metrics``: this process's usage counters and the last totals it read (no query at scrape).

    Per account (labelled with account ids) only when ``per_account``: otherwise one total per
    series, so an unauthenticated scrape names no tenant and tells no tenant's size.
    """

    def __init__(self, usage: Usage, *, per_account: bool = False) -> None:
        self.usage = usage
        self.per_account = per_account

    def _labels(self) -> list[str]:
        return ["account"] if self.per_account else []

    def _add(self, family: CounterMetricFamily | GaugeMetricFamily, values: dict[str, int]) -> None:
        if self.per_account:
            for account, value in sorted(values.items()):
                family.add_metric([account], value)
        else:
            family.add_metric([], sum(values.values()))

    def collect(self) -> Iterator[Metric]:
        u = self.usage
        counters = (
            ("enlarger_usage_delivered_images", "Hosted deliveries (200/304 to GET)", u.delivered_images),
            ("enlarger_usage_delivered_bytes", "Bytes of hosted deliveries", u.delivered_bytes),
            ("enlarger_usage_new_transformations", "Transformations counted new for the day", u.new_transformations),
            ("enlarger_usage_refused_transformations", "New transformations refused by quota", u.refused),
        )
        for name, text, values in counters:
            counter = CounterMetricFamily(name, text, labels=self._labels())
            self._add(counter, values)
            yield counter
        unique_text = "Unique transformations in the 30-day window"
        unique = GaugeMetricFamily("enlarger_usage_unique_transformations", unique_text, labels=self._labels())
        self._add(unique, u.unique_30d)
        yield unique
        images = GaugeMetricFamily("enlarger_usage_stored_images", "Images stored (last read)", labels=self._labels())
        size = GaugeMetricFamily("enlarger_usage_stored_bytes", "Bytes stored (last read)", labels=self._labels())
        self._add(images, {account: count for account, (count, _) in u.stored.items()})
        self._add(size, {account: total for account, (_, total) in u.stored.items()})
        yield images
        yield size
