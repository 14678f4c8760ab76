"""The usage recorder's documented timing rules (docs/usage.md), on a real SQLite catalog:
the "seen today" memo is cleared at midnight UTC, deliveries reach the catalog every 10 seconds
and at shutdown. Days and the clock are supplied by the test, so nothing waits for real time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from enlarger import usage
from enlarger.catalog.store import Catalog
from enlarger.catalog.usage_store import UsageStore
from enlarger.options import parse_options
from enlarger.settings import Settings
from enlarger.usage import Usage

DAY = date(2026, 3, 1)
FLUSH_EVERY = 10.0  # docs/usage.md: "added as increments … every 10 seconds"


class Clock:
    """A monotonic clock the test moves by hand (stands in for ``time.monotonic`` in enlarger.usage)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    opened = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    yield opened
    opened.close()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(usage, "time", fake)
    return fake


def _delivered(catalog: Catalog, account: str, day: date = DAY) -> tuple[int, int]:
    [found] = UsageStore(catalog).usage(account, day, day)
    return found.delivered_images, found.delivered_bytes


async def _settle(recorder: Usage) -> None:
    """Let the background work the recorder spawned finish (it keeps it referenced until done)."""
    while recorder._tasks:
        await asyncio.gather(*recorder._tasks, return_exceptions=True)


def test_the_seen_today_memo_is_cleared_at_midnight_utc(catalog: Catalog) -> None:
    account = catalog.create_account().id
    days = [DAY]
    recorder = Usage(catalog, Settings(), today=lambda: days[0])
    options = parse_options("width=100")

    async def scenario() -> list[int]:
        counted = []
        for day in (DAY, DAY, DAY + timedelta(days=1), DAY + timedelta(days=1)):
            days[0] = day
            await recorder.transformation(account, "photo", options)
            counted.append(recorder.new_transformations[account])
        await _settle(recorder)
        return counted

    # once per day: the second request of a day is answered by the memo; the next day's first
    # request reaches the catalog again (a memo kept past midnight would answer it too)
    assert asyncio.run(scenario()) == [1, 1, 2, 2]
    rows = UsageStore(catalog).usage(account, DAY, DAY + timedelta(days=1))
    assert [row.transformations for row in rows] == [1, 1]


def test_deliveries_reach_the_catalog_every_ten_seconds(catalog: Catalog, clock: Clock) -> None:
    account = catalog.create_account().id
    recorder = Usage(catalog, Settings(), today=lambda: DAY)

    async def scenario() -> list[tuple[int, int]]:
        seen = []
        recorder.delivered(account, 200, 100)
        clock.now += FLUSH_EVERY - 0.5
        recorder.delivered(account, 200, 10)
        await _settle(recorder)
        seen.append(_delivered(catalog, account))  # not yet: under 10 s since the last flush
        clock.now += 0.5
        recorder.delivered(account, 304, 0)  # 10 s reached: this delivery starts a flush
        await _settle(recorder)
        seen.append(_delivered(catalog, account))
        recorder.delivered(account, 200, 7)
        await _settle(recorder)
        seen.append(_delivered(catalog, account))  # the clock restarted at that flush
        return seen

    assert asyncio.run(scenario()) == [(0, 0), (3, 110), (3, 110)]


def test_deliveries_left_in_memory_are_written_at_shutdown(catalog: Catalog, clock: Clock) -> None:
    account = catalog.create_account().id
    recorder = Usage(catalog, Settings(), today=lambda: DAY)

    async def scenario() -> tuple[int, int]:
        recorder.delivered(account, 200, 40)
        recorder.delivered(account, 200, 2)
        recorder.delivered(account, 404, 999)  # errors are not deliveries
        await _settle(recorder)
        before = _delivered(catalog, account)
        await recorder.close()
        assert before == (0, 0)  # nothing was due before the shutdown
        return _delivered(catalog, account)

    assert asyncio.run(scenario()) == (2, 42)


def test_repeats_on_the_same_day_are_answered_without_the_catalog(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = catalog.create_account().id
    recorder = Usage(catalog, Settings(), today=lambda: DAY)
    calls: list[str] = []
    real = recorder.store.record_transformation

    def counted(account_id: str, key_hash: str, day: date, default_quota: int) -> int | None:
        calls.append(key_hash)
        return real(account_id, key_hash, day, default_quota)

    monkeypatch.setattr(recorder.store, "record_transformation", counted)

    async def scenario() -> None:
        for width in (100, 100, 100, 200, 100, 200):
            await recorder.transformation(account, "photo", parse_options(f"width={width}"))
        await _settle(recorder)

    asyncio.run(scenario())
    assert len(calls) == 2  # once per key and day: "every other request without a round trip"
