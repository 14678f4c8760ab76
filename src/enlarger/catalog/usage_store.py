"""Usage accounting's tables (docs/usage.md): unique transformations, deliveries, stored totals, quotas.

A store beside :class:`~enlarger.catalog.store.Catalog` over the same engine, the shape of
importing's ``JobStore(catalog)``: the catalog keeps the images aggregate (and moves the stored
totals in the same transaction as an image write), this keeps the counting; only
:mod:`enlarger.usage` calls it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from enlarger.catalog.schema import usage_daily, usage_keys, usage_quotas, usage_stored
from enlarger.catalog.store import Catalog, stored_on, upsert
from enlarger.errors import TransformationQuotaError

WINDOW_DAYS = 30  # Cloudflare bills unique transformations over a sliding 30-day window


@dataclass(frozen=True)
class UsageDay:
    """One account's usage on one UTC day."""

    day: date
    stored_images: int
    stored_bytes: int
    delivered_images: int
    delivered_bytes: int
    transformations: int  # distinct transformations requested that day
    unique_30d: int | None  # distinct transformations within the 30 days ending that day


class UsageStore:
    """The usage tables of one catalog."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.engine = catalog.engine

    def record_transformation(self, account_id: str, key_hash: str, day: date, default_quota: int) -> int | None:
        """Count a request of one transformation on ``day``; only the first of the day per key gets here.

        Each key remembers the last day it was requested, and each day counts the keys whose last
        request it is (``last_seen``), so the 30-day figure is a sum of at most 30 rows, exact. A key
        not requested within the window is new: past the quota it is refused (and not counted).
        Returns the 30-day figure afterwards, or None when the key was already counted that day.
        Runs under the account's lock, so concurrent new transformations cannot overshoot the quota.
        """
        with self.catalog.account_transaction(account_id) as c:
            last = c.execute(
                select(usage_keys.c.last_day).where(
                    usage_keys.c.account_id == account_id, usage_keys.c.key_hash == key_hash
                )
            ).scalar()
            if last is not None and last >= day:
                return None
            window = _window(c, account_id, day)
            in_window = last is not None and last > day - timedelta(days=WINDOW_DAYS)
            if not in_window:
                quota = self._transformation_quota(c, account_id, default_quota)
                if quota and window >= quota:
                    raise TransformationQuotaError(
                        f"this account used its {quota:,} unique transformations of the last {WINDOW_DAYS} days; "
                        "already transformed images keep being served"
                    )
                window += 1
            key_row = {"account_id": account_id, "key_hash": key_hash, "last_day": day}
            upsert(c, usage_keys, key_row, {"last_day": day})
            if in_window:
                c.execute(
                    update(usage_daily)
                    .where(usage_daily.c.account_id == account_id, usage_daily.c.day == last)
                    .values(last_seen=usage_daily.c.last_seen - 1)
                )
            row = {**_daily_zero(account_id, day), "transformations": 1, "last_seen": 1, "unique_30d": window}
            upsert(
                c,
                usage_daily,
                row,
                {
                    "transformations": usage_daily.c.transformations + 1,
                    "last_seen": usage_daily.c.last_seen + 1,
                    "unique_30d": window,
                },
            )
        return window

    def add_deliveries(self, counts: Mapping[tuple[str, date], tuple[int, int]]) -> None:
        """Add delivered (images, bytes) per (account, day): increments, so replicas' flushes add up."""
        if not counts:
            return
        with self.engine.begin() as c:
            for (account_id, day), (delivered, size) in sorted(counts.items()):
                row = {**_daily_zero(account_id, day), "delivered_images": delivered, "delivered_bytes": size}
                upsert(
                    c,
                    usage_daily,
                    row,
                    {
                        "delivered_images": usage_daily.c.delivered_images + delivered,
                        "delivered_bytes": usage_daily.c.delivered_bytes + size,
                    },
                )

    def unique_transformations(self, account_id: str, day: date) -> int:
        """Distinct transformations requested within the 30 days ending on ``day``."""
        with self.engine.connect() as c:
            return _window(c, account_id, day)

    def stored(self, account_id: str, day: date) -> tuple[int, int]:
        """(images, bytes) stored at the end of ``day`` (or now, for today)."""
        with self.engine.connect() as c:
            return stored_on(c, account_id, day)

    def usage(self, account_id: str, first: date, last: date) -> list[UsageDay]:
        """One entry per day from ``first`` to ``last``: a bounded read of per-day rows, no scan of requests.

        ``unique_30d`` is the figure at the end of days with transformation activity, and the live
        figure for ``last``; None for other days (it cannot be rebuilt afterwards).
        """
        with self.engine.connect() as c:
            stored_rows = c.execute(
                select(usage_stored).where(
                    usage_stored.c.account_id == account_id, usage_stored.c.day >= first, usage_stored.c.day <= last
                )
            ).all()
            daily_rows = c.execute(
                select(usage_daily).where(
                    usage_daily.c.account_id == account_id, usage_daily.c.day >= first, usage_daily.c.day <= last
                )
            ).all()
            carried = stored_on(c, account_id, first - timedelta(days=1))
            live = _window(c, account_id, last)
        stored_by_day = {r.day: (int(r.images), int(r.bytes)) for r in stored_rows}
        daily_by_day = {r.day: r for r in daily_rows}
        days: list[UsageDay] = []
        for offset in range((last - first).days + 1):
            day = first + timedelta(days=offset)
            carried = stored_by_day.get(day, carried)
            daily = daily_by_day.get(day)
            unique: int | None = int(daily.unique_30d) if daily is not None and daily.transformations else None
            days.append(
                UsageDay(
                    day=day,
                    stored_images=carried[0],
                    stored_bytes=carried[1],
                    delivered_images=int(daily.delivered_images) if daily is not None else 0,
                    delivered_bytes=int(daily.delivered_bytes) if daily is not None else 0,
                    transformations=int(daily.transformations) if daily is not None else 0,
                    unique_30d=live if day == last else unique,
                )
            )
        return days

    def transformation_quota(self, account_id: str) -> int | None:
        """The account's own quota (overriding the ``transformation_quota`` setting), if it has one."""
        with self.engine.connect() as c:
            value = c.execute(
                select(usage_quotas.c.transformation_quota).where(usage_quotas.c.account_id == account_id)
            ).scalar()
        return None if value is None else int(value)

    def set_transformation_quota(self, account_id: str, quota: int | None) -> None:
        """Give the account its own quota (0: unlimited), or None to follow the setting again."""
        self.catalog.account(account_id)
        with self.engine.begin() as c:
            c.execute(delete(usage_quotas).where(usage_quotas.c.account_id == account_id))
            if quota is not None:
                c.execute(insert(usage_quotas).values(account_id=account_id, transformation_quota=quota))

    def prune_usage_keys(self, today: date) -> int:
        """Forget keys last requested before the window: a new request of them is new either way."""
        with self.engine.begin() as c:
            done = c.execute(delete(usage_keys).where(usage_keys.c.last_day <= today - timedelta(days=WINDOW_DAYS)))
        return int(done.rowcount or 0)

    @staticmethod
    def _transformation_quota(c: Connection, account_id: str, default: int) -> int:
        own = c.execute(
            select(usage_quotas.c.transformation_quota).where(usage_quotas.c.account_id == account_id)
        ).scalar()
        return default if own is None else int(own)


def _daily_zero(account_id: str, day: date) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "day": day,
        "delivered_images": 0,
        "delivered_bytes": 0,
        "transformations": 0,
        "last_seen": 0,
        "unique_30d": 0,
    }


def _window(c: Connection, account_id: str, day: date) -> int:
    """The 30-day figure: keys whose last request falls within the window, summed over ≤ 30 rows."""
    total = c.execute(
        select(func.coalesce(func.sum(usage_daily.c.last_seen), 0)).where(
            usage_daily.c.account_id == account_id,
            usage_daily.c.day > day - timedelta(days=WINDOW_DAYS),
            usage_daily.c.day <= day,
        )
    ).scalar_one()
    return int(total)
