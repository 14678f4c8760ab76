"""Run one import job: list the source into the job's rows, import claimed rows a few at a time.

Per object the order is the upload's: validate (the same checks as ``POST /v1``), put the blob
(durable when it returns), then one transaction commits the image row *and* marks the object
done. A crash before that commit leaves the object pending and, at worst, an unreferenced blob
for the orphan sweep; a crash after it leaves a done object whose image is whole. Either way a
re-run imports every object exactly once. The lead runner lists and finishes the job; on
PostgreSQL other replicas may help with its objects.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from enlarger.catalog.store import Variant
from enlarger.errors import ConflictError, EnlargerError, OptionError, OriginError, QuotaExceededError
from enlarger.hosting import Hosting, NewImage
from enlarger.importing.jobs import DONE, FAILED, SKIPPED, ImportJob, Item, JobStore, LeaseLostError
from enlarger.importing.listing import Source
from enlarger.options import parse_options

logger = logging.getLogger("enlarger.import")
MAX_ATTEMPTS = 3  # transient source failures (unreachable, 5xx, timeouts) are retried this often
_REFUSED = 9408  # the source answered 4xx: retrying will not help
_VARIANT_OPTIONS = ("fit", "width", "height", "metadata")


@dataclass
class Progress:
    """What a runner has seen, for progress displays: the job's totals plus this run's outcomes."""

    total: int = 0
    total_bytes: int = 0
    listed: bool = False
    done: int = 0
    skipped: int = 0
    failed: int = 0
    bytes: int = 0
    started: float = field(default_factory=time.monotonic)
    settled_at_start: int = 0
    bytes_at_start: int = 0

    @property
    def settled(self) -> int:
        return self.done + self.skipped + self.failed


class RateLimit:
    """At most ``per_second`` starts per second, evenly spaced (0: no limit)."""

    def __init__(self, per_second: float) -> None:
        self._interval = 1 / per_second if per_second else 0.0
        self._next = 0.0
        self._lock = anyio.Lock()

    async def wait(self) -> None:
        if not self._interval:
            return
        async with self._lock:
            moment = time.monotonic()
            delay = self._next - moment
            self._next = max(moment, self._next) + self._interval
        if delay > 0:
            await anyio.sleep(delay)


class Runner:
    def __init__(
        self,
        jobs: JobStore,
        hosting: Hosting,
        job: ImportJob,
        source: Source,
        *,
        owner: str,
        lead: bool,
        lease: float,
        on_replaced: Callable[[str, str], None] | None = None,
    ) -> None:
        self.jobs = jobs
        self.hosting = hosting
        self.job = job
        self.source = source
        self.owner = owner
        self.lead = lead
        self.lease = lease
        self.on_replaced = on_replaced
        self.progress = Progress()
        self._rate = RateLimit(job.options.rate)
        self._listing_done = not lead or job.listed
        self._more = anyio.Event()
        self._stopped = False

    def stop(self) -> None:
        """Claim nothing more (cancelled, or the lead was lost); objects in flight still settle."""
        self._stopped = True
        self._more.set()

    async def run(self) -> ImportJob:
        counts = await anyio.to_thread.run_sync(self.jobs.counts, self.job.id)
        p = self.progress
        p.total, p.total_bytes, p.listed = self.job.total, self.job.total_bytes, self.job.listed
        p.done, p.skipped, p.failed, p.bytes = counts.done, counts.skipped, counts.failed, counts.bytes
        p.settled_at_start, p.bytes_at_start = counts.done + counts.skipped + counts.failed, counts.bytes
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(self._heartbeat)
            if not self._listing_done:
                tasks.start_soon(self._list)
            if self.job.options.dry_run:
                while not (self._listing_done or self._stopped):
                    await self._wait_for_more()
            else:
                async with anyio.create_task_group() as workers:
                    for _ in range(self.job.options.concurrency):
                        workers.start_soon(self._work)
            tasks.cancel_scope.cancel()
        if self.lead and not self._stopped:
            await anyio.to_thread.run_sync(self.jobs.finish_job, self.job.id, self.owner)
        self.job = await anyio.to_thread.run_sync(self.jobs.job, self.job.id)
        return self.job

    async def _wait_for_more(self) -> None:
        with anyio.move_on_after(0.25):
            await self._more.wait()
        self._more = anyio.Event()

    async def _heartbeat(self) -> None:
        while True:
            await anyio.sleep(max(0.1, self.lease / 3))
            state, kept = await anyio.to_thread.run_sync(
                self.jobs.heartbeat, self.job.id, self.owner, self.lead, self.lease
            )
            if state != "running" or not kept:
                self.stop()

    async def _list(self) -> None:
        cursor, attempts = self.job.cursor, 0
        try:
            if self.job.cursor is None and getattr(self.source, "copy_variants", False):
                await self._copy_variants()
            while not self._stopped:
                try:
                    async for page in self.source.pages(cursor):
                        await anyio.to_thread.run_sync(
                            self.jobs.add_listed, self.job, self.owner, page.entries, page.cursor, page.last,
                            self.hosting.settings.max_upload_bytes,
                        )  # fmt: skip
                        cursor, attempts = page.cursor, 0
                        self.progress.total += len(page.entries)
                        self.progress.total_bytes += sum(e.size or 0 for e in page.entries)
                        self._more.set()
                        if page.last or self._stopped:
                            break
                    break
                except OriginError as exc:
                    attempts += 1
                    if exc.code == _REFUSED or attempts >= MAX_ATTEMPTS:
                        raise
                    await anyio.sleep(2**attempts)
            self.progress.listed = not self._stopped
        except LeaseLostError:
            self.stop()
            return
        except Exception as exc:  # a refusal, an unreadable list, a library's surprise: the job fails, never hangs
            if isinstance(exc, EnlargerError):
                message = exc.message
            else:
                if not isinstance(exc, OSError):
                    logger.exception("listing for import job %s failed unexpectedly", self.job.id)
                message = f"cannot read the list: {exc}"
            await anyio.to_thread.run_sync(self.jobs.fail_job, self.job.id, self.owner, f"listing failed: {message}")
            self.stop()
            return
        self._listing_done = True
        self._more.set()

    async def _copy_variants(self) -> None:
        variants: Callable[[], Any] = self.source.variants  # type: ignore[attr-defined]
        catalog = self.hosting.catalog
        for found in await variants():
            options = {k: v for k, v in (found.get("options") or {}).items() if k in _VARIANT_OPTIONS}
            try:
                parse_options(options)
            except OptionError as exc:
                logger.warning("variant %r of the source not copied: %s", found.get("id"), exc.message)
                continue
            variant = Variant(str(found.get("id")), options, bool(found.get("neverRequireSignedURLs")))
            try:
                await anyio.to_thread.run_sync(catalog.add_variant, self.job.account_id, variant)
            except ConflictError:
                if self.job.options.overwrite:
                    await anyio.to_thread.run_sync(catalog.update_variant, self.job.account_id, variant)

    async def _work(self) -> None:
        while not self._stopped:
            items = await anyio.to_thread.run_sync(self.jobs.claim, self.job.id, self.owner, self.lease)
            if items:
                await self._import(items[0])
                continue
            if not self.lead:
                return  # a helper stops when nothing is ready; the lead waits for stragglers
            if self._listing_done:
                counts = await anyio.to_thread.run_sync(self.jobs.counts, self.job.id)
                if counts.pending == 0:
                    return
            await self._wait_for_more()

    async def _import(self, item: Item) -> None:
        options = self.job.options
        try:
            if not options.overwrite and await anyio.to_thread.run_sync(
                self.jobs.exists, self.job.account_id, item.image_id
            ):
                await self._settle(item, SKIPPED, "an image with this id already exists")
                return
            await self._rate.wait()
            data = await self.source.read(item)
            state = await anyio.to_thread.run_sync(self._store, item, data)
        except LeaseLostError:
            return  # another runner owns the object now
        except ConflictError:
            await self._settle(item, SKIPPED, "an image with this id already exists")
            return
        except OriginError as exc:
            if exc.code != _REFUSED and item.attempts < MAX_ATTEMPTS:
                await anyio.to_thread.run_sync(self.jobs.retry_later, item, self.owner, 2.0**item.attempts)
                return
            await self._settle(item, FAILED, exc.message)
            return
        except EnlargerError as exc:
            await self._settle(item, FAILED, exc.message)
            return
        except Exception as exc:  # a bug or an unexpected library error: this object fails, the job goes on
            logger.exception("import of %r failed unexpectedly", item.key)
            await self._settle(item, FAILED, f"internal error: {type(exc).__name__}")
            return
        if state == DONE:
            self.progress.done += 1
            self.progress.bytes += len(data)
        else:
            self.progress.skipped += 1

    async def _settle(self, item: Item, state: str, reason: str) -> None:
        if await anyio.to_thread.run_sync(self.jobs.settle, item, self.owner, state, reason):
            if state == SKIPPED:
                self.progress.skipped += 1
            else:
                self.progress.failed += 1

    def _store(self, item: Item, data: bytes) -> str:
        """Validate, put the blob, commit row + done together (in a worker thread)."""
        spec, account_id = item.spec, self.job.account_id
        new = NewImage(
            item.image_id, spec.get("filename") or "", spec.get("creator"), spec.get("meta") or {},
            bool(spec.get("requireSignedURLs")),
        )  # fmt: skip
        image = self.hosting.validated(account_id, data, new, item.image_id)
        assert image.blob_key is not None
        storage = self.hosting.storage
        storage.put(image.blob_key, data)
        try:
            state, replaced = self.jobs.commit_image(
                item, self.owner, image, overwrite=self.job.options.overwrite, quota=self.hosting.settings.image_quota
            )
        except (LeaseLostError, QuotaExceededError, ConflictError):
            storage.delete(image.blob_key)  # refused before the commit: nobody references it
            raise
        except Exception:
            self.hosting.forget_unreferenced(image)  # unless the commit happened after all
            raise
        if state != DONE:
            storage.delete(image.blob_key)
        if replaced:
            storage.delete(replaced)  # the row that referenced it is gone (committed)
            if self.on_replaced:
                self.on_replaced(account_id, item.image_id)
        return state
