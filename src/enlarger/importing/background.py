"""The server's import worker: runs API-started jobs in the background, one at a time.

It claims the oldest job without a live lead (``FOR UPDATE SKIP LOCKED``, so replicas on one
PostgreSQL never take the same job) and leads it; with nothing to lead, on PostgreSQL it helps
with other replicas' jobs (their objects are claimed under leases too). On SQLite there is one
process, so it only leads. A failure is logged and the loop goes on; a start wakes it at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import anyio

from enlarger.errors import EnlargerError
from enlarger.hosting import Hosting
from enlarger.importing.jobs import ImportJob, JobStore
from enlarger.importing.runner import Runner
from enlarger.importing.service import make_runner, owner_name
from enlarger.importing.sources import open_source
from enlarger.security.fetch import Fetcher

logger = logging.getLogger("enlarger.import")


class ImportWorker:
    def __init__(
        self, hosting: Hosting, fetcher: Fetcher, on_replaced: Callable[[str, str], None] | None = None
    ) -> None:
        self.hosting = hosting
        self.jobs = JobStore(hosting.catalog)
        self.fetcher = fetcher
        self.on_replaced = on_replaced
        self.owner = owner_name("server")
        self._wake: anyio.Event | None = None
        self._running: dict[str, Runner] = {}

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def cancelled(self, job_id: str) -> None:
        """A job was cancelled through this replica: stop claiming its objects now (others see it
        at their next heartbeat)."""
        runner = self._running.get(job_id)
        if runner is not None:
            runner.stop()

    async def run(self) -> None:
        settings = self.hosting.settings
        postgres = self.hosting.catalog.engine.dialect.name == "postgresql"
        while True:
            self._wake = anyio.Event()
            try:
                job = await anyio.to_thread.run_sync(
                    self.jobs.claim_next_job, self.owner, "server", settings.import_lease_seconds
                )
                if job is not None:
                    await self._run(job, lead=True)
                    continue
                if postgres:
                    for job_id in await anyio.to_thread.run_sync(self.jobs.helpable, "server"):
                        await self._run(await anyio.to_thread.run_sync(self.jobs.job, job_id), lead=False)
            except Exception:  # the catalog unreachable, a bug: log, wait, try again
                logger.exception("the import worker failed; trying again")
            with anyio.move_on_after(settings.import_poll_seconds):
                await self._wake.wait()

    async def _run(self, job: ImportJob, *, lead: bool) -> None:
        try:
            source = open_source(job, self.hosting.settings, self.fetcher)
        except Exception as exc:  # a job that cannot start fails: left running, it would be retried at every lease
            if isinstance(exc, EnlargerError):
                message = exc.message
            elif isinstance(exc, ImportError):
                message = f"the source needs {exc.name}"
            else:
                logger.exception("import job %s could not open its source", job.id)
                message = f"the source cannot be opened: {exc}"
            if lead:
                await anyio.to_thread.run_sync(self.jobs.fail_job, job.id, self.owner, message)
            return
        runner = make_runner(self.jobs, self.hosting, job, source, self.owner, lead=lead, on_replaced=self.on_replaced)
        self._running[job.id] = runner
        try:
            await runner.run()
        finally:
            del self._running[job.id]
            with anyio.CancelScope(shield=True):  # the server stops: hand the work back at once
                await anyio.to_thread.run_sync(self.jobs.release_job, job.id, self.owner)
                await source.aclose()
