"""Import jobs and their objects in the catalog: creation, claiming under leases, settling.

Every object row is claimed with a lease (owner + expiry) that the runner's heartbeat extends;
a runner that dies simply stops extending it, and the row becomes claimable again. Claims are
one ``UPDATE ... WHERE seq IN (SELECT ... FOR UPDATE SKIP LOCKED)`` statement: on PostgreSQL
concurrent runners skip each other's rows instead of waiting; on SQLite (one writer) the single
statement is atomic by itself. An object is marked done *in the transaction that commits its
image row*, and only while its claimant still holds the lease, so a row is imported once however
often runners die or overlap.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Row

from enlarger.catalog.schema import api_tokens, direct_uploads, images, import_jobs, import_objects
from enlarger.catalog.store import Catalog, Image, now
from enlarger.errors import NotFoundError, RequestError
from enlarger.hosting import check_image_id

ACTIVE = "running"
FINISHED = ("done", "cancelled", "failed")
PENDING, DONE, SKIPPED, FAILED = "pending", "done", "skipped", "failed"
_UUID_LENGTH = 36


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite hands datetimes back without a zone; everything here is stored in UTC."""
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ImportOptions:
    """How a job imports: target ID prefix, new UUIDs or source IDs, overwrite or skip, pacing."""

    id_prefix: str = ""
    new_ids: bool = False
    overwrite: bool = False
    dry_run: bool = False
    concurrency: int = 4
    rate: float = 0.0  # objects per second asked of the source; 0: unlimited

    def __post_init__(self) -> None:
        if not 1 <= self.concurrency <= 256:
            raise RequestError(f"concurrency must be between 1 and 256, got {self.concurrency}")
        if not 0 <= self.rate <= 100_000:
            raise RequestError(f"rate must be between 0 (unlimited) and 100000 objects/s, got {self.rate}")
        if self.id_prefix and not self.id_prefix.endswith("/"):
            raise RequestError(f"the id prefix must end in '/', got {self.id_prefix!r}")


@dataclass(frozen=True)
class ImportJob:
    id: str
    account_id: str
    source: str
    config: dict[str, Any]
    options: ImportOptions
    started_by: str
    runner: str
    state: str
    listed: bool
    cursor: str | None
    total: int
    total_bytes: int
    created: datetime
    updated: datetime
    finished: datetime | None
    error: str | None
    lease_owner: str | None = None


@dataclass(frozen=True)
class Listed:
    """One object as a source lists it; ``problem`` makes it fail without being fetched."""

    key: str
    size: int | None = None
    image_id: str | None = None  # the ID the source proposes (object key, source image ID, id column)
    spec: dict[str, Any] = field(default_factory=dict)  # filename, creator, meta, requireSignedURLs, url
    problem: str | None = None
    keep_uuid: bool = False  # a source image's own UUID (another Images account): kept as it is


@dataclass(frozen=True)
class Item:
    """A claimed object row."""

    seq: int
    job_id: str
    key: str
    image_id: str
    size: int | None
    spec: dict[str, Any]
    attempts: int


@dataclass(frozen=True)
class Counts:
    pending: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    bytes: int = 0  # bytes imported (done objects)

    def as_dict(self) -> dict[str, int]:
        return {**self.__dict__}


@dataclass(frozen=True)
class LogRow:
    key: str
    image_id: str
    state: str
    reason: str | None
    bytes: int | None
    attempts: int
    finished: datetime | None


class LeaseLostError(Exception):
    """This runner's claim expired and another took the work over: its result must not commit."""


def _job(row: Row[Any]) -> ImportJob:
    m = row._mapping
    options = ImportOptions(m["id_prefix"], m["new_ids"], m["overwrite"], m["dry_run"], m["concurrency"], m["rate"])
    return ImportJob(
        m["id"], m["account_id"], m["source"], dict(m["config"]), options, m["started_by"], m["runner"],
        m["state"], m["listed"], m["cursor"], m["total"], m["total_bytes"], _aware(m["created"]) or now(),
        _aware(m["updated"]) or now(), _aware(m["finished"]), m["error"], m["lease_owner"],
    )  # fmt: skip


def target_id(listed: Listed, options: ImportOptions) -> tuple[str, str | None]:
    """The image ID an object gets, fixed when it is listed (so a re-run reuses it), or a problem."""
    if options.new_ids or listed.image_id is None:
        return str(uuid.uuid4()), None
    if listed.keep_uuid and not options.id_prefix:
        return listed.image_id, None
    wanted = options.id_prefix + listed.image_id
    try:
        return check_image_id(wanted), None
    except RequestError as exc:
        return wanted[:1024], f"{exc.message} (import with new ids to give such objects UUIDs)"


class JobStore:
    """The import tables, over the catalog's engine (and its account lock for image commits)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.engine = catalog.engine

    # --- jobs
    def create(
        self,
        account_id: str,
        source: str,
        config: dict[str, Any],
        options: ImportOptions,
        *,
        started_by: str,
        runner: str,
        lead: str | None = None,
    ) -> ImportJob:
        """A new running job; ``lead`` creates it already led by that owner (for a minute), so no
        runner takes it before its creator has recorded what it must."""
        self.catalog.account(account_id)
        moment = now()
        values = {
            "id": uuid.uuid4().hex, "account_id": account_id, "source": source, "config": config,
            **options.__dict__, "started_by": started_by[:200], "runner": runner, "state": ACTIVE,
            "listed": False, "cursor": None, "total": 0, "total_bytes": 0, "lease_owner": lead,
            "lease_until": moment + timedelta(minutes=1) if lead else None, "created": moment,
            "updated": moment, "finished": None, "error": None,
        }  # fmt: skip
        with self.engine.begin() as c:
            c.execute(insert(import_jobs).values(**values))
        return self.job(values["id"])

    def job(self, job_id: str, account_id: str | None = None) -> ImportJob:
        query = select(import_jobs).where(import_jobs.c.id == job_id)
        if account_id is not None:
            query = query.where(import_jobs.c.account_id == account_id)
        with self.engine.connect() as c:
            row = c.execute(query).first()
        if row is None:
            raise NotFoundError(f"import job {job_id!r} not found")
        return _job(row)

    def jobs(self, account_id: str, limit: int = 100) -> list[ImportJob]:
        query = select(import_jobs).where(import_jobs.c.account_id == account_id)
        with self.engine.connect() as c:
            rows = c.execute(query.order_by(import_jobs.c.created.desc()).limit(limit)).all()
        return [_job(r) for r in rows]

    def unfinished(
        self, account_id: str, source: str, config: dict[str, Any], options: ImportOptions, runner: str
    ) -> ImportJob | None:
        """The newest unfinished job of the same source and options: starting it again resumes it."""
        query = select(import_jobs).where(
            import_jobs.c.account_id == account_id,
            import_jobs.c.source == source,
            import_jobs.c.state == ACTIVE,
            import_jobs.c.runner == runner,
        )
        with self.engine.connect() as c:
            rows = c.execute(query.order_by(import_jobs.c.created.desc())).all()
        for row in rows:
            job = _job(row)
            if job.options == options and job.config == config:
                return job
        return None

    def claim_job(self, job_id: str, owner: str, lease: float) -> bool:
        """Take the job's lead (listing and finishing) if nobody live holds it."""
        moment = now()
        free = or_(
            import_jobs.c.lease_owner.is_(None),
            import_jobs.c.lease_until < moment,
            import_jobs.c.lease_owner == owner,
        )
        with self.engine.begin() as c:
            done = c.execute(
                update(import_jobs)
                .where(import_jobs.c.id == job_id, import_jobs.c.state == ACTIVE, free)
                .values(lease_owner=owner, lease_until=moment + timedelta(seconds=lease), updated=moment)
            )
        return done.rowcount == 1

    def claim_next_job(self, owner: str, runner: str, lease: float) -> ImportJob | None:
        """The oldest active job of ``runner`` without a live lead, claimed (replicas skip each other's)."""
        moment = now()
        candidate = (
            select(import_jobs.c.id)
            .where(
                import_jobs.c.runner == runner,
                import_jobs.c.state == ACTIVE,
                or_(import_jobs.c.lease_owner.is_(None), import_jobs.c.lease_until < moment),
            )
            .order_by(import_jobs.c.created)
            .limit(1)
            .with_for_update(skip_locked=True)
            .cte("candidate")
            .prefix_with("MATERIALIZED", dialect="postgresql")
        )
        with self.engine.begin() as c:
            row = c.execute(
                update(import_jobs)
                .where(import_jobs.c.id == candidate.c.id)
                .values(lease_owner=owner, lease_until=moment + timedelta(seconds=lease), updated=moment)
                .returning(import_jobs.c.id)
            ).first()
        return self.job(row.id) if row is not None else None

    def helpable(self, runner: str) -> list[str]:
        """Active jobs led by someone else that have objects ready to claim (PostgreSQL replicas help)."""
        moment = now()
        ready = (
            select(import_objects.c.seq)
            .where(
                import_objects.c.job_id == import_jobs.c.id,
                import_objects.c.state == PENDING,
                or_(import_objects.c.lease_until.is_(None), import_objects.c.lease_until < moment),
            )
            .exists()
        )
        query = select(import_jobs.c.id).where(
            import_jobs.c.runner == runner, import_jobs.c.state == ACTIVE, ~import_jobs.c.dry_run, ready
        )
        with self.engine.connect() as c:
            return list(c.execute(query.order_by(import_jobs.c.created)).scalars())

    def heartbeat(self, job_id: str, owner: str, lead: bool, lease: float) -> tuple[str, bool]:
        """Extend this runner's leases; returns the job's state and whether the lead is still ours."""
        moment = now()
        until = moment + timedelta(seconds=lease)
        with self.engine.begin() as c:
            c.execute(
                update(import_objects)
                .where(
                    import_objects.c.job_id == job_id,
                    import_objects.c.lease_owner == owner,
                    import_objects.c.state == PENDING,
                )
                .values(lease_until=until)
            )
            kept = True
            if lead:
                mine = (import_jobs.c.id == job_id) & (import_jobs.c.lease_owner == owner)
                kept = (
                    c.execute(update(import_jobs).where(mine).values(lease_until=until, updated=moment)).rowcount == 1
                )
            state = c.execute(select(import_jobs.c.state).where(import_jobs.c.id == job_id)).scalar_one()
        return str(state), kept

    def add_listed(
        self, job: ImportJob, owner: str, entries: list[Listed], cursor: str | None, last: bool, max_bytes: int
    ) -> int:
        """Record one page of the listing and where the listing stands, in one transaction (so a
        restarted listing continues after this page, never repeats it); only while we lead."""
        moment = now()
        rows = []
        for entry in entries:
            image_id, problem = target_id(entry, job.options)
            problem = problem or entry.problem
            if problem is None and entry.size is not None and entry.size > max_bytes:
                problem = f"the object is {entry.size:,} bytes; uploads are limited to {max_bytes:,} bytes"
            rows.append(
                {
                    "job_id": job.id, "key": entry.key[:4096], "image_id": image_id, "size": entry.size,
                    "spec": entry.spec, "state": FAILED if problem else PENDING, "reason": problem,
                    "bytes": None, "attempts": 0, "lease_owner": None, "lease_until": None,
                    "finished": moment if problem else None,
                }
            )  # fmt: skip
        listed_bytes = sum(e.size or 0 for e in entries)
        with self.engine.begin() as c:
            mine = (import_jobs.c.id == job.id) & (import_jobs.c.lease_owner == owner)
            moved = c.execute(
                update(import_jobs)
                .where(mine)
                .values(
                    cursor=cursor,
                    listed=last,
                    total=import_jobs.c.total + len(rows),
                    total_bytes=import_jobs.c.total_bytes + listed_bytes,
                    updated=moment,
                )
            )
            if moved.rowcount != 1:
                raise LeaseLostError(job.id)
            if rows:
                c.execute(insert(import_objects), rows)
        return len(rows)

    def finish_job(self, job_id: str, owner: str) -> bool:
        """Mark the job done once it is listed and nothing is pending (dry runs: once listed)."""
        with self.engine.begin() as c:
            job = _job(c.execute(select(import_jobs).where(import_jobs.c.id == job_id)).one())
            if job.state != ACTIVE or not job.listed or job.lease_owner != owner:
                return False
            pending = c.execute(
                select(func.count()).where(import_objects.c.job_id == job_id, import_objects.c.state == PENDING)
            ).scalar_one()
            if pending and not job.options.dry_run:
                return False
            moment = now()
            c.execute(
                update(import_jobs)
                .where(import_jobs.c.id == job_id)
                .values(state="done", finished=moment, updated=moment, lease_owner=None, lease_until=None)
            )
        return True

    def fail_job(self, job_id: str, owner: str, error: str) -> None:
        moment = now()
        with self.engine.begin() as c:
            c.execute(
                update(import_jobs)
                .where(import_jobs.c.id == job_id, import_jobs.c.lease_owner == owner, import_jobs.c.state == ACTIVE)
                .values(state="failed", error=error[:2000], finished=moment, updated=moment, lease_owner=None)
            )

    def release_job(self, job_id: str, owner: str) -> None:
        """Give the lead back (an interrupted run): another runner may take over at once."""
        with self.engine.begin() as c:
            mine = (import_jobs.c.id == job_id) & (import_jobs.c.lease_owner == owner)
            c.execute(update(import_jobs).where(mine).values(lease_owner=None, lease_until=None))
            c.execute(
                update(import_objects)
                .where(import_objects.c.job_id == job_id, import_objects.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
            )

    def cancel(self, job_id: str, account_id: str | None = None) -> ImportJob:
        """Stop a job: runners claim nothing more of it; objects in flight settle, the rest stay pending."""
        job = self.job(job_id, account_id)
        moment = now()
        with self.engine.begin() as c:
            c.execute(
                update(import_jobs)
                .where(import_jobs.c.id == job.id, import_jobs.c.state == ACTIVE)
                .values(state="cancelled", finished=moment, updated=moment)
            )
        return self.job(job_id)

    def token_id(self, token_hash: str) -> str | None:
        """Which API token (by its digest) started a job, for the job's ``started_by``."""
        with self.engine.connect() as c:
            found = c.execute(select(api_tokens.c.id).where(api_tokens.c.token_hash == token_hash)).scalar()
        return str(found) if found is not None else None

    # --- objects
    def claim(self, job_id: str, owner: str, lease: float, limit: int = 1) -> list[Item]:
        moment = now()
        job_active = select(import_jobs.c.id).where(import_jobs.c.id == job_id, import_jobs.c.state == ACTIVE).exists()
        claimable = and_(
            import_objects.c.job_id == job_id,
            import_objects.c.state == PENDING,
            or_(import_objects.c.lease_until.is_(None), import_objects.c.lease_until < moment),
        )
        candidates = (
            select(import_objects.c.seq)
            .where(claimable, job_active)
            .order_by(import_objects.c.seq)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("candidates")  # materialized: evaluated once (an IN subquery may run again and lock more)
            .prefix_with("MATERIALIZED", dialect="postgresql")
        )
        with self.engine.begin() as c:
            rows = c.execute(
                update(import_objects)
                .where(import_objects.c.seq == candidates.c.seq, claimable)
                .values(
                    lease_owner=owner,
                    lease_until=moment + timedelta(seconds=lease),
                    attempts=import_objects.c.attempts + 1,
                )
                .returning(
                    import_objects.c.seq,
                    import_objects.c.key,
                    import_objects.c.image_id,
                    import_objects.c.size,
                    import_objects.c.spec,
                    import_objects.c.attempts,
                )
            ).all()
        return sorted(
            (Item(r.seq, job_id, r.key, r.image_id, r.size, dict(r.spec), r.attempts) for r in rows),
            key=lambda item: item.seq,
        )

    def retry_later(self, item: Item, owner: str, delay: float) -> None:
        """A transient failure: give the object back, claimable again after ``delay`` seconds."""
        with self.engine.begin() as c:
            c.execute(
                update(import_objects)
                .where(self._mine(item, owner))
                .values(lease_owner=None, lease_until=now() + timedelta(seconds=delay))
            )

    def settle(self, item: Item, owner: str, state: str, reason: str | None = None, nbytes: int | None = None) -> bool:
        """Record an outcome without an image (skipped, failed); False if our lease was lost."""
        with self.engine.begin() as c:
            return self._settle(c, item, owner, state, reason, nbytes)

    @staticmethod
    def _mine(item: Item, owner: str) -> Any:
        return and_(
            import_objects.c.seq == item.seq,
            import_objects.c.state == PENDING,
            import_objects.c.lease_owner == owner,
        )

    def _settle(
        self, c: Connection, item: Item, owner: str, state: str, reason: str | None, nbytes: int | None
    ) -> bool:
        done = c.execute(
            update(import_objects)
            .where(self._mine(item, owner))
            .values(
                state=state,
                reason=reason[:2000] if reason else None,
                bytes=nbytes,
                finished=now(),
                lease_owner=None,
                lease_until=None,
            )
        )
        return done.rowcount == 1

    def exists(self, account_id: str, image_id: str) -> bool:
        with self.engine.connect() as c:
            found = c.execute(
                select(images.c.seq).where(images.c.account_id == account_id, images.c.id == image_id)
            ).first()
        return found is not None

    def commit_image(
        self, item: Item, owner: str, image: Image, *, overwrite: bool, quota: int | None
    ) -> tuple[str, str | None]:
        """Commit the image row and mark the object done in one transaction.

        Returns the outcome (``done`` or ``skipped`` when the ID exists and the job does not
        overwrite) and the blob key of the image it replaced, for the caller to delete after the
        commit. Raises :class:`LeaseLostError` (nothing committed) if another runner owns the
        object now.
        """
        with self.catalog.account_transaction(image.account_id) as c:
            existing = c.execute(
                select(images.c.seq, images.c.blob_key).where(
                    images.c.account_id == image.account_id, images.c.id == image.id
                )
            ).first()
            if existing is not None and not overwrite:
                if not self._settle(c, item, owner, SKIPPED, "an image with this id already exists", None):
                    raise LeaseLostError(item.key)
                return SKIPPED, None
            if existing is not None:
                c.execute(delete(images).where(images.c.seq == existing.seq))
                c.execute(
                    delete(direct_uploads).where(
                        direct_uploads.c.account_id == image.account_id, direct_uploads.c.image_id == image.id
                    )
                )
            self.catalog.insert_image(c, image, None if existing is not None else quota)
            if not self._settle(c, item, owner, DONE, None, image.size):
                raise LeaseLostError(item.key)  # rolls the image row back with it
        return DONE, existing.blob_key if existing is not None else None

    def counts(self, job_id: str) -> Counts:
        with self.engine.connect() as c:
            rows = c.execute(
                select(import_objects.c.state, func.count(), func.coalesce(func.sum(import_objects.c.bytes), 0))
                .where(import_objects.c.job_id == job_id)
                .group_by(import_objects.c.state)
            ).all()
        found = {r[0]: (int(r[1]), int(r[2])) for r in rows}
        return Counts(
            pending=found.get(PENDING, (0, 0))[0],
            done=found.get(DONE, (0, 0))[0],
            skipped=found.get(SKIPPED, (0, 0))[0],
            failed=found.get(FAILED, (0, 0))[0],
            bytes=found.get(DONE, (0, 0))[1],
        )

    def state_counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """Jobs by state, and the objects of running jobs by state (for ``/metrics``): two grouped
        queries; finished jobs' objects are not counted, so the cost follows the work in progress."""
        with self.engine.connect() as c:
            jobs = c.execute(select(import_jobs.c.state, func.count()).group_by(import_jobs.c.state)).all()
            objects = c.execute(
                select(import_objects.c.state, func.count())
                .select_from(import_objects.join(import_jobs, import_objects.c.job_id == import_jobs.c.id))
                .where(import_jobs.c.state == ACTIVE)
                .group_by(import_objects.c.state)
            ).all()
        return {r[0]: int(r[1]) for r in jobs}, {r[0]: int(r[1]) for r in objects}

    def log(self, job_id: str, batch: int = 1000) -> Iterator[LogRow]:
        """Every object's outcome in listing order, read in keyset batches (memory stays flat)."""
        after = 0
        while True:
            with self.engine.connect() as c:
                rows = c.execute(
                    select(import_objects)
                    .where(import_objects.c.job_id == job_id, import_objects.c.seq > after)
                    .order_by(import_objects.c.seq)
                    .limit(batch)
                ).all()
            for r in rows:
                yield LogRow(r.key, r.image_id, r.state, r.reason, r.bytes, r.attempts, _aware(r.finished))
            if len(rows) < batch:
                return
            after = rows[-1].seq
