"""How jobs and their per-object logs are shown: JSON records, summaries, CSV and JSON Lines."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from enlarger.importing.jobs import Counts, ImportJob, LogRow

LOG_FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
_LOG_FIELDS = ("key", "image_id", "state", "reason", "bytes", "attempts", "finished")


def _when(moment: Any) -> str | None:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z") if moment else None


def job_json(job: ImportJob, counts: Counts) -> dict[str, Any]:
    """A job as the API and ``enlarger import --json`` show it (never with credentials: jobs have none)."""
    o = job.options
    return {
        "id": job.id,
        "account": job.account_id,
        "source": job.source,
        "state": job.state,
        "dry_run": o.dry_run,
        "options": {
            "id_prefix": o.id_prefix,
            "new_ids": o.new_ids,
            "overwrite": o.overwrite,
            "concurrency": o.concurrency,
            "rate": o.rate,
        },
        "started_by": job.started_by,
        "created": _when(job.created),
        "updated": _when(job.updated),
        "finished": _when(job.finished),
        "error": job.error,
        "listed": job.listed,
        "total": job.total,
        "total_bytes": job.total_bytes,
        "counts": counts.as_dict(),
    }


def log_lines(rows: Iterable[LogRow], fmt: str) -> Iterator[str]:
    """Each object's outcome as CSV (with a header) or JSON Lines, one line at a time."""
    if fmt == "jsonl":
        for row in rows:
            yield json.dumps(_log_dict(row), ensure_ascii=False) + "\n"
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def line(values: Iterable[object]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    yield line(_LOG_FIELDS)
    for row in rows:
        yield line("" if v is None else v for v in _log_dict(row).values())


def _log_dict(row: LogRow) -> dict[str, Any]:
    return {
        "key": row.key, "image_id": row.image_id, "state": row.state, "reason": row.reason,
        "bytes": row.bytes, "attempts": row.attempts, "finished": _when(row.finished),
    }  # fmt: skip
