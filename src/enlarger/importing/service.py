"""Starting, resuming and running jobs: what the CLI (foreground) and the server (background) share."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable

from enlarger.hosting import Hosting
from enlarger.importing.jobs import ImportJob, ImportOptions, JobStore
from enlarger.importing.listing import Source
from enlarger.importing.runner import Runner
from enlarger.importing.sources import Named
from enlarger.security.fetch import Fetcher
from enlarger.settings import Settings


def owner_name(kind: str) -> str:
    """Who holds a lease: readable in the catalog, unique per process run."""
    return f"{kind}:{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def start_or_resume(
    jobs: JobStore, account_id: str, named: Named, options: ImportOptions, *, started_by: str, runner: str
) -> tuple[ImportJob, bool]:
    """An unfinished job of the same source and options is resumed (kill -9, then run it again);
    otherwise a new job starts. Returns the job and whether it was resumed."""
    existing = jobs.unfinished(account_id, named.description, named.config, options, runner)
    if existing is not None:
        return existing, True
    created = jobs.create(account_id, named.description, named.config, options, started_by=started_by, runner=runner)
    return created, False


def import_fetcher(settings: Settings, trusted_origin: str | None = None) -> Fetcher:
    """The SSRF-safe fetcher, capped at the upload limit (the operator's own source may be trusted)."""
    # listings may be larger than an image
    return Fetcher.from_settings(
        settings, max_bytes=max(settings.max_upload_bytes, 64 * 1024 * 1024), trusted_origin=trusted_origin
    )


def make_runner(
    jobs: JobStore,
    hosting: Hosting,
    job: ImportJob,
    source: Source,
    owner: str,
    *,
    lead: bool,
    on_replaced: Callable[[str, str], None] | None = None,
) -> Runner:
    lease = hosting.settings.import_lease_seconds
    return Runner(jobs, hosting, job, source, owner=owner, lead=lead, lease=lease, on_replaced=on_replaced)
