"""The usage recorder's documented rules (docs/usage.md), on a real SQLite catalog: the "seen
today" memo is cleared at midnight UTC and past 200,000 entries, deliveries reach the catalog
every 10 seconds and at shutdown and survive a failed write, and /metrics shows the documented
series. Days and the clock are supplied by the test, so nothing waits for real time."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from enlarger import usage
from enlarger.catalog.schema import usage_keys
from enlarger.catalog.store import Catalog, Image, now
from enlarger.catalog.usage_store import UsageStore
from enlarger.errors import TransformationQuotaError
from enlarger.options import parse_options
from enlarger.settings import Settings
from enlarger.usage import Usage, UsageMetrics

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
        clock.now += FLUSH_EVERY
        recorder.delivered(account, 200, 3)  # another 10 s: the next flush
        await _settle(recorder)
        seen.append(_delivered(catalog, account))
        return seen

    assert asyncio.run(scenario()) == [(0, 0), (3, 110), (3, 110), (5, 120)]


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


def test_shutdown_waits_for_a_flush_in_flight(catalog: Catalog, clock: Clock) -> None:
    # usage.md: deliveries are flushed at shutdown, the ones a running flush is writing included
    account = catalog.create_account().id
    recorder = Usage(catalog, Settings(), today=lambda: DAY)
    real = recorder.store.add_deliveries
    writing = threading.Event()
    release = threading.Event()

    def slow(counts: Any) -> None:
        writing.set()
        release.wait(timeout=60)
        real(counts)

    recorder.store.add_deliveries = slow  # type: ignore[method-assign]

    async def scenario() -> tuple[int, int]:
        recorder.delivered(account, 200, 40)
        clock.now += FLUSH_EVERY
        recorder.delivered(account, 200, 2)  # starts a flush, held in the catalog write
        while not writing.is_set():
            await asyncio.sleep(0.01)
        recorder.delivered(account, 200, 1)  # counted while the flush is writing
        release.set()
        await recorder.close()
        return _delivered(catalog, account)

    assert asyncio.run(scenario()) == (3, 43)


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


def test_the_memo_starts_again_when_it_passes_200000_entries(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    # docs/usage.md: the memo is "cleared at midnight UTC, and when it passes 200,000 entries"
    account = catalog.create_account().id
    recorder = Usage(catalog, Settings(), today=lambda: DAY)
    calls: list[str] = []
    real = recorder.store.record_transformation

    def counted(account_id: str, key_hash: str, day: date, default_quota: int) -> int | None:
        calls.append(key_hash)
        return real(account_id, key_hash, day, default_quota)

    monkeypatch.setattr(recorder.store, "record_transformation", counted)

    async def scenario() -> list[int]:
        await recorder.unique(account, "first")
        # 199,998 other keys remembered today (as if requested: 200,000 round trips would take minutes)
        recorder._seen.update((account, f"filler-{n}") for n in range(199_998))
        rounds = []
        await recorder.unique(account, "entry-200000")  # the memo now holds exactly 200,000
        await recorder.unique(account, "first")
        rounds.append(len(calls))
        await recorder.unique(account, "entry-200001")  # past 200,000: the memo starts again
        await recorder.unique(account, "first")
        rounds.append(len(calls))
        await _settle(recorder)
        return rounds

    # 200,000 entries: "first" still answered from memory; past it, "first" reaches the catalog again
    assert asyncio.run(scenario()) == [2, 4]


def test_deliveries_are_kept_when_a_flush_fails(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    # usage.md: if the catalog cannot be reached at a flush, the counts stay in memory for the next one
    account = catalog.create_account().id
    recorder = Usage(catalog, Settings(), today=lambda: DAY)
    real = recorder.store.add_deliveries
    failures = [1]
    writing = threading.Event()
    release = threading.Event()

    def database_away(counts: Any) -> None:
        if failures[0]:
            failures[0] -= 1
            writing.set()
            release.wait(timeout=60)
            raise OperationalError("INSERT", {}, Exception("could not connect to server"))
        real(counts)

    monkeypatch.setattr(recorder.store, "add_deliveries", database_away)

    async def scenario() -> list[tuple[int, int]]:
        recorder.delivered(account, 200, 40)
        recorder.delivered(account, 304, 2)
        failing = asyncio.create_task(recorder.flush())  # fails: nothing written, nothing lost
        while not writing.is_set():
            await asyncio.sleep(0.01)
        recorder.delivered(account, 200, 5)  # counted while the failing write is in flight
        release.set()
        await failing
        seen = [_delivered(catalog, account)]
        recorder.delivered(account, 200, 1)
        await recorder.close()
        seen.append(_delivered(catalog, account))
        return seen

    assert asyncio.run(scenario()) == [(0, 0), (4, 48)]


def _image(account_id: str, image_id: str, size: int) -> Image:
    return Image(
        account_id, image_id, "f.jpg", None, now(), False, {}, False, size, "image/jpeg", 1, 1, "h",
        f"{account_id}/{image_id}",
    )  # fmt: skip


def test_metrics_show_the_documented_series(catalog: Catalog) -> None:
    # docs/usage.md "Where it shows": totals over all accounts, or per account with an account label
    one, two = catalog.create_account().id, catalog.create_account().id
    catalog.add_image(_image(one, "a", 1000))
    catalog.add_image(_image(one, "b", 250))
    catalog.add_image(_image(two, "c", 7))
    recorder = Usage(catalog, Settings(transformation_quota=2), today=lambda: now().date())

    async def scenario() -> None:
        await recorder.transformation(one, "a", parse_options("width=10"))
        await recorder.transformation(one, "a", parse_options("width=20"))
        await recorder.transformation(two, "c", parse_options("width=10"))
        for _ in range(2):  # a third new one for account one: over the quota, refused each time
            with pytest.raises(TransformationQuotaError):
                await recorder.transformation(one, "a", parse_options("width=30"))
        recorder.delivered(one, 200, 300)
        recorder.delivered(one, 304, 0)
        recorder.delivered(two, 200, 20)
        await recorder.close()  # the flush reads the stored totals /metrics shows

    asyncio.run(scenario())

    def scrape(per_account: bool) -> str:
        registry = CollectorRegistry()
        registry.register(UsageMetrics(recorder, per_account=per_account))
        return generate_latest(registry).decode()

    totals = scrape(False)
    for line in (
        "enlarger_usage_delivered_images_total 3.0",
        "enlarger_usage_delivered_bytes_total 320.0",
        "enlarger_usage_new_transformations_total 3.0",
        "enlarger_usage_refused_transformations_total 2.0",
        "enlarger_usage_unique_transformations 3.0",
        "enlarger_usage_stored_images 3.0",
        "enlarger_usage_stored_bytes 1257.0",
    ):
        assert line in totals.splitlines(), line
    assert one not in totals and two not in totals  # no tenant named
    labelled = scrape(True)
    rows = ((one, 2, 300, 2, 2, 1250, 2), (two, 1, 20, 1, 1, 7, 0))
    for account, images, size, unique, stored, stored_bytes, refused in rows:
        label = f'{{account="{account}"}}'
        refusals = f"enlarger_usage_refused_transformations_total{label}"
        assert [line for line in labelled.splitlines() if line.startswith(refusals)] == (
            [f"{refusals} {refused}.0"] if refused else []  # a series once the account has a refusal
        )
        for line in (
            f"enlarger_usage_delivered_images_total{label} {images}.0",
            f"enlarger_usage_delivered_bytes_total{label} {size}.0",
            f"enlarger_usage_new_transformations_total{label} {unique}.0",
            f"enlarger_usage_unique_transformations{label} {unique}.0",
            f"enlarger_usage_stored_images{label} {stored}.0",
            f"enlarger_usage_stored_bytes{label} {stored_bytes}.0",
        ):
            assert line in labelled.splitlines(), line


def test_keys_older_than_the_window_are_forgotten_on_the_first_request_of_a_day(catalog: Catalog) -> None:
    # docs/usage.md: "Keys last requested before the window are deleted once a day" (window: 30 days)
    account = catalog.create_account().id
    days = [DAY]
    recorder = Usage(catalog, Settings(), today=lambda: days[0])

    def kept() -> set[str]:
        with catalog.engine.connect() as c:
            return set(c.execute(select(usage_keys.c.key_hash).where(usage_keys.c.account_id == account)).scalars())

    async def scenario() -> list[int]:
        sizes = []
        for day, key in ((DAY, "old"), (DAY + timedelta(days=5), "recent"), (DAY + timedelta(days=30), "today")):
            days[0] = day
            await recorder.unique(account, key)
            await _settle(recorder)
            sizes.append(len(kept()))
        return sizes

    # on day 30 the window is days 1-30: "old" (day 0) is outside it and deleted, "recent" stays
    assert asyncio.run(scenario()) == [1, 2, 2]
    assert kept() == {"recent", "today"}
