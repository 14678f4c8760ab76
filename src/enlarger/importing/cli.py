"""``enlarger import``: run a bulk import in the foreground, list jobs, cancel one, print its log.

Progress goes to stderr (a bar on a terminal, a line every few seconds otherwise); the summary
to stdout (``--json``: machine-readable). Stopping the command (Ctrl-C, kill -9) loses nothing:
running the same command again resumes the job where it stood.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from pathlib import Path
from typing import Any

import anyio

from enlarger.catalog.store import Catalog
from enlarger.errors import RequestError
from enlarger.hosting import Hosting
from enlarger.importing.jobs import ImportJob, ImportOptions, JobStore
from enlarger.importing.progress import Display
from enlarger.importing.report import LOG_FORMATS, job_json, log_lines
from enlarger.importing.runner import Runner
from enlarger.importing.service import import_fetcher, make_runner, owner_name, start_or_resume
from enlarger.importing.sources import open_source, parse_source
from enlarger.settings import Settings, load_settings
from enlarger.storage.factory import open_storage


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config, data_dir=args.data_dir)


def _summary(job: ImportJob, jobs: JobStore, seconds: float) -> dict[str, Any]:
    counts = jobs.counts(job.id)
    record = job_json(job, counts)
    record["seconds"] = round(seconds, 3)
    return record


def _text(summary: dict[str, Any]) -> str:
    c = summary["counts"]
    lines = [
        f"import job {summary['id']} ({summary['source']}): {summary['state']}"
        + (" (dry run)" if summary["dry_run"] else ""),
        f"  listed {summary['total']} object(s), {summary['total_bytes']:,} bytes"
        + ("" if summary["listed"] else " so far"),
    ]
    if summary["dry_run"]:
        lines.append(f"  would import {c['pending']}, {c['failed']} would fail (see the log)")
    else:
        lines.append(
            f"  done {c['done']} ({c['bytes']:,} bytes), skipped {c['skipped']}, failed {c['failed']}, "
            f"pending {c['pending']} — in {summary['seconds']:.1f} s"
        )
    if summary["error"]:
        lines.append(f"  error: {summary['error']}")
    if c["failed"] or c["skipped"]:
        lines.append(f"  per-object log: enlarger import --account {summary['account']} --log {summary['id']}")
    return "\n".join(lines)


def _cmd_import(args: argparse.Namespace) -> int:
    settings = _settings(args)
    catalog = Catalog(settings.catalog_url)
    try:
        jobs = JobStore(catalog)
        if args.list:
            found = [job_json(j, jobs.counts(j.id)) for j in jobs.jobs(args.account)]
            text = "\n".join(f"{j['id']}  {j['state']:9}  {j['source']}" for j in found) or "no import jobs"
            print(json.dumps(found, indent=2) if args.json else text)
            return 0
        if args.cancel:
            job = jobs.cancel(args.cancel, args.account)
            print(
                json.dumps(job_json(job, jobs.counts(job.id)), indent=2) if args.json else f"job {job.id}: {job.state}"
            )
            return 0
        if args.log:
            job = jobs.job(args.log, args.account)
            for line in log_lines(jobs.log(job.id), args.format):
                sys.stdout.write(line)
            return 0
        return _run(args, settings, catalog, jobs)
    finally:
        catalog.close()


def _run(args: argparse.Namespace, settings: Settings, catalog: Catalog, jobs: JobStore) -> int:
    named = parse_source(args.source, endpoint=args.endpoint_url, region=args.region, variants=args.variants)
    path = named.config.get("path")
    if path not in (None, "-") and not Path(path).is_file():
        raise RequestError(f"cannot read the URL list {path}: no such file")
    if named.config["kind"] == "images-api" and not settings.import_api_token:
        raise RequestError("an images-api source needs a token: set ENLARGER_IMPORT_API_TOKEN (import_api_token)")
    options = ImportOptions(args.id_prefix, args.new_ids, args.overwrite, args.dry_run, args.concurrency, args.rate)
    who = f"cli:{getpass.getuser()}"
    job, resumed = start_or_resume(jobs, args.account, named, options, started_by=who, runner="cli")
    print(f"{'resuming' if resumed else 'started'} import job {job.id}: {job.source}", file=sys.stderr)
    owner = owner_name("cli")
    lease = settings.import_lease_seconds
    waited = False
    while not jobs.claim_job(job.id, owner, lease):
        if jobs.job(job.id).state != "running":
            break
        if not waited:
            print(f"waiting up to {lease:g} s for a previous run's claim on the job to lapse", file=sys.stderr)
            waited = True
        time.sleep(min(1.0, lease / 4))
    trusted = named.config["base"] if named.config["kind"] == "images-api" else None  # the operator's choice
    fetcher = import_fetcher(settings, trusted_origin=trusted)
    hosting = Hosting(catalog, open_storage(settings), settings)
    job = jobs.job(job.id)
    started = time.monotonic()
    if job.state == "running":
        source = open_source(job, settings, fetcher, sys.stdin)
        runner = make_runner(jobs, hosting, job, source, owner, lead=True)
        try:
            anyio.run(_drive, runner, Display(sys.stderr, tty=sys.stderr.isatty()), source.aclose, fetcher.aclose)
        except KeyboardInterrupt:
            jobs.release_job(job.id, owner)
            print("\ninterrupted: run the same command again to resume", file=sys.stderr)
            return 130
        job = jobs.job(job.id)
    summary = _summary(job, jobs, time.monotonic() - started)
    print(json.dumps(summary, indent=2) if args.json else _text(summary))
    return 0 if job.state == "done" else 1


async def _drive(runner: Runner, display: Display, *closers: Any) -> None:
    async def draw() -> None:
        while True:
            display.update(runner.progress)
            await anyio.sleep(0.1)

    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(draw)
            await runner.run()
            tasks.cancel_scope.cancel()
        display.update(runner.progress, final=True)
    finally:
        for close in closers:
            await close()


def add_command(commands: Any) -> None:
    """Register ``enlarger import`` on the main parser's subcommands."""
    text = "bulk-import images from an S3-compatible bucket, a URL list or another Images account"
    p = commands.add_parser("import", help=text, description=text + "; run it again to resume after a stop.")
    p.add_argument("--account", required=True, help="account id to import into")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--from",
        dest="source",
        metavar="SOURCE",
        help="s3://BUCKET/PREFIX, urls:FILE (urls:- for stdin; CSV, JSON Lines or one URL a line) or "
        "images-api:BASE_URL/ACCOUNT_ID (token in ENLARGER_IMPORT_API_TOKEN)",
    )
    what.add_argument("--list", action="store_true", help="list the account's import jobs")
    what.add_argument("--cancel", metavar="JOB_ID", help="cancel a job")
    what.add_argument("--log", metavar="JOB_ID", help="print a job's per-object results")
    p.add_argument("--endpoint-url", default="", help="S3-compatible endpoint (default: AWS)")
    p.add_argument("--region", default="us-east-1", help="S3 region (default us-east-1)")
    p.add_argument("--id-prefix", default="", help="prepended to every image id taken from the source (ends in /)")
    p.add_argument("--new-ids", action="store_true", help="give every image a new UUID instead of the source's key/id")
    p.add_argument("--overwrite", action="store_true", help="replace images whose id exists (default: skip them)")
    p.add_argument("--dry-run", action="store_true", help="only list: count objects and bytes, import nothing")
    p.add_argument("--concurrency", type=int, default=4, help="objects imported at once (default 4)")
    p.add_argument("--rate", type=float, default=0, help="most objects per second asked of the source (0: no limit)")
    p.add_argument("--variants", action="store_true", help="images-api: also copy the source account's variants")
    p.add_argument("--format", choices=sorted(LOG_FORMATS), default="csv", help="format of --log (default csv)")
    p.add_argument("--data-dir", type=Path, help="data directory holding the catalog (default ./enlarger-data)")
    p.add_argument("--json", action="store_true", help="print a machine-readable summary")
    p.set_defaults(run=_cmd_import)
