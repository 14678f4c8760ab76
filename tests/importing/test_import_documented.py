"""Bulk import rules from docs/import.md, with a recording stand-in source (the source is the
external boundary: a bucket, an API, a URL list) and the real job store, hosting and storage:

- a restarted listing continues after the last recorded page and repeats none;
- ``--rate`` caps the objects per second asked of the source;
- an id that exists is skipped before downloading;
- 4xx source failures are final (transient ones are retried);
- a cancelled job ends its runner, the object in flight settled and the rest pending, while a
  running one keeps going across heartbeats; an id created during its download is skipped.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import pytest

from enlarger.catalog.store import Catalog
from enlarger.errors import OriginError
from enlarger.hosting import Hosting, NewImage
from enlarger.importing.jobs import ImportJob, ImportOptions, JobStore, Listed
from enlarger.importing.listing import ListingPage
from enlarger.importing.runner import Progress, Runner
from enlarger.settings import Settings
from enlarger.storage.factory import open_storage
from tests.imaging import gradient, save

BODY = save(gradient(24, 16), "png")


@dataclass
class Recording:
    """A source of ``pages`` pages of ``per_page`` keys; records what it was asked."""

    pages_: int = 3
    per_page: int = 4
    asked_from: list[str | None] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)
    read_at: list[float] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)  # keys answered with a 4xx
    stop_after_pages: int | None = None
    runner: Runner | None = None

    def keys(self) -> list[str]:
        return [f"k{n:03d}.png" for n in range(self.pages_ * self.per_page)]

    async def pages(self, cursor: str | None) -> AsyncIterator[ListingPage]:
        self.asked_from.append(cursor)
        keys = self.keys()
        start = keys.index(cursor) + 1 if cursor is not None else 0  # S3's StartAfter: after the page's last key
        for served, at in enumerate(range(start, len(keys), self.per_page)):
            if served == self.stop_after_pages and self.runner is not None:
                self.runner.stop()  # the process "dies" after recording this many pages
                return
            page = keys[at : at + self.per_page]
            last = at + self.per_page >= len(keys)
            yield ListingPage([Listed(key, len(BODY), key) for key in page], page[-1], last)

    async def read(self, item: object) -> bytes:
        key = getattr(item, "key", "")
        self.reads.append(key)
        self.read_at.append(time.monotonic())
        if key in self.refused:
            raise OriginError(f"reading {key} was refused (403)", code=9408, status=408)
        return BODY

    async def aclose(self) -> None:
        pass


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[JobStore, Hosting, str]]:
    settings = Settings(data_dir=tmp_path / "data")
    catalog = Catalog(settings.catalog_url)
    account = catalog.create_account("import").id
    yield JobStore(catalog), Hosting(catalog, open_storage(settings), settings), account
    catalog.close()


def _job(jobs: JobStore, account: str, **options: object) -> ImportJob:
    job = jobs.create(account, "stand-in", {"kind": "test"}, ImportOptions(**options), started_by="tests", runner="cli")  # type: ignore[arg-type]
    assert jobs.claim_job(job.id, "lead", 30)
    return jobs.job(job.id)


def _run(jobs: JobStore, hosting: Hosting, job: ImportJob, source: Recording) -> ImportJob:
    runner = Runner(jobs, hosting, job, source, owner="lead", lead=True, lease=30)
    source.runner = runner
    return anyio.run(runner.run)


def test_a_restarted_listing_continues_after_the_last_recorded_page(setup: tuple[JobStore, Hosting, str]) -> None:
    jobs, hosting, account = setup
    job = _job(jobs, account, concurrency=1)
    first = Recording(stop_after_pages=1)
    _run(jobs, hosting, job, first)
    assert first.asked_from == [None]
    recorded = jobs.job(job.id)
    assert recorded.cursor == "k003.png"  # the first page's last key
    again = Recording()
    done = _run(jobs, hosting, jobs.job(job.id), again)
    assert again.asked_from == ["k003.png"]  # after the recorded page: none listed twice
    assert done.state == "done"
    counts = jobs.counts(job.id)
    assert (counts.done, counts.skipped, counts.failed, counts.pending) == (12, 0, 0, 0)
    assert sorted(first.reads + again.reads) == again.keys()  # every object read exactly once


def test_rate_caps_the_objects_per_second_asked_of_the_source(setup: tuple[JobStore, Hosting, str]) -> None:
    jobs, hosting, account = setup
    source = Recording(pages_=1, per_page=4)
    _run(jobs, hosting, _job(jobs, account, concurrency=4, rate=2), source)
    assert len(source.read_at) == 4
    # starts are spaced 1/2 s apart whatever the concurrency, so the 4 reads span at least 3/2 s
    # (a lower bound: sleeps never end early; the first read follows its wait with no await between)
    assert source.read_at[-1] - source.read_at[0] >= 3 / 2 - 0.01


def test_an_existing_id_is_skipped_before_downloading(setup: tuple[JobStore, Hosting, str]) -> None:
    jobs, hosting, account = setup
    hosting.upload(account, BODY, NewImage("k001.png", "", None, {}, False))
    source = Recording(pages_=1, per_page=3)
    _, progress = _run_bounded(jobs, hosting, job := _job(jobs, account), source)
    assert sorted(source.reads) == ["k000.png", "k002.png"]  # k001.png was never asked for
    counts = jobs.counts(job.id)
    assert (counts.done, counts.skipped) == (2, 1)
    assert (progress.done, progress.skipped, progress.failed) == (2, 1, 0)  # what the progress line shows


def test_a_4xx_from_the_source_is_final(setup: tuple[JobStore, Hosting, str]) -> None:
    jobs, hosting, account = setup
    source = Recording(pages_=1, per_page=3, refused={"k001.png"})
    _run(jobs, hosting, job := _job(jobs, account), source)
    assert source.reads.count("k001.png") == 1  # not retried
    counts = jobs.counts(job.id)
    assert (counts.done, counts.failed, counts.pending) == (2, 1, 0)


@dataclass
class Hooked(Recording):
    """A recording source that runs ``on_read`` (async) before answering each read."""

    on_read: Callable[[str], Awaitable[None]] | None = None

    async def read(self, item: object) -> bytes:
        if self.on_read is not None:
            await self.on_read(getattr(item, "key", ""))
        return await super().read(item)


class Heartbeats:
    """Counts the job states the runner's heartbeats read (a spy around the real job store's method)."""

    def __init__(self, jobs: JobStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.states: list[str] = []
        real = jobs.heartbeat

        def counted(job_id: str, owner: str, lead: bool, lease: float) -> tuple[str, bool]:
            state, kept = real(job_id, owner, lead, lease)
            self.states.append(state)
            return state, kept

        monkeypatch.setattr(jobs, "heartbeat", counted)

    async def wait(self, count: int, state: str) -> None:
        """Until ``count`` heartbeats have read ``state`` (each one ``lease / 3`` after the last)."""
        while self.states.count(state) < count:
            await anyio.sleep(0.02)


def _run_bounded(jobs: JobStore, hosting: Hosting, job: ImportJob, source: Recording) -> tuple[ImportJob, Progress]:
    """Run with a 3 s lease (a heartbeat each second); a runner that never ends fails the test."""
    runner = Runner(jobs, hosting, job, source, owner="lead", lead=True, lease=3)

    async def bounded() -> ImportJob:
        with anyio.fail_after(120):
            return await runner.run()

    return anyio.run(bounded), runner.progress


def test_a_cancelled_job_ends_its_runner_and_leaves_the_rest_pending(
    setup: tuple[JobStore, Hosting, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # import.md: cancel "stops it; objects in flight settle, the rest stay pending"
    jobs, hosting, account = setup
    job = _job(jobs, account, concurrency=1)
    heartbeats = Heartbeats(jobs, monkeypatch)

    async def cancel_during_the_first(key: str) -> None:
        if key == "k000.png":
            await anyio.to_thread.run_sync(jobs.cancel, job.id, account)
            await heartbeats.wait(1, "cancelled")  # the runner has seen it while this object is in flight

    source = Hooked(pages_=1, per_page=5, on_read=cancel_during_the_first)
    ended, _ = _run_bounded(jobs, hosting, job, source)
    assert ended.state == "cancelled"
    assert source.reads == ["k000.png"]
    counts = jobs.counts(job.id)
    assert (counts.done, counts.pending) == (1, 4)  # the one in flight settled; the rest wait


def test_a_running_job_outlives_its_heartbeats(
    setup: tuple[JobStore, Hosting, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs, hosting, account = setup
    job = _job(jobs, account, concurrency=1)
    heartbeats = Heartbeats(jobs, monkeypatch)

    async def slow_first(key: str) -> None:
        if key == "k000.png":
            await heartbeats.wait(2, "running")  # the job keeps its lead across heartbeats

    source = Hooked(pages_=1, per_page=3, on_read=slow_first)
    ended, _ = _run_bounded(jobs, hosting, job, source)
    assert ended.state == "done" and sorted(source.reads) == source.keys()
    assert jobs.counts(job.id).done == 3


def test_an_id_created_while_its_object_downloads_is_skipped(setup: tuple[JobStore, Hosting, str]) -> None:
    # import.md: an existing id is skipped (not overwritten), also when it appears after the check
    jobs, hosting, account = setup
    job = _job(jobs, account)
    theirs = save(gradient(8, 8), "png")

    async def upload_meanwhile(key: str) -> None:
        if key == "k001.png":
            await anyio.to_thread.run_sync(lambda: hosting.upload(account, theirs, NewImage(key, "", None, {}, False)))

    ended, progress = _run_bounded(jobs, hosting, job, Hooked(pages_=1, per_page=3, on_read=upload_meanwhile))
    assert ended.state == "done"
    counts = jobs.counts(job.id)
    assert (counts.done, counts.skipped, counts.pending) == (2, 1, 0)
    assert (progress.done, progress.skipped, progress.failed) == (2, 1, 0)  # what the progress line shows
    assert hosting.catalog.image(account, "k001.png").size == len(theirs)  # theirs, not overwritten
