"""``/client/v4/accounts/{account_id}/images/imports``: bulk import jobs (an Enlarger extension).

Start a job (``POST``), list (``GET``), inspect (``GET /{job_id}``), cancel (``POST
/{job_id}/cancel``) and download its per-object log (``GET /{job_id}/log?format=csv|jsonl``).
Jobs run in the background (:class:`~enlarger.importing.background.ImportWorker`, started and
stopped by the app's lifespan). The routes are module-level; they find the :class:`ImportApi`
(job store and worker, built once per app from its ``HostingService``) on
``request.app.state.imports``, and errors go through the API's guard and envelope. The path
sits beside ``/v1`` and ``/v2``, so it shadows no image ID. Sources reached for a tenant are
treated as untrusted: URL and Images API sources go through the SSRF-safe fetcher, and an S3
endpoint must not resolve to an internal address (unless ``fetch_allowed_networks`` allows it);
the server's credentials go only to the destinations the operator listed for them
(:mod:`enlarger.security.credentials`); a ``urls:FILE`` on the server's disk is for the CLI only.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import anyio.from_thread
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from enlarger.catalog.store import Account, digest
from enlarger.errors import EnlargerError, RequestError, SourceForbiddenError
from enlarger.importing.background import ImportWorker
from enlarger.importing.jobs import ImportJob, ImportOptions, JobStore, Listed
from enlarger.importing.listing import PAGE
from enlarger.importing.report import LOG_FORMATS, job_json, log_lines
from enlarger.importing.sources import Named, parse_source, token_refused
from enlarger.importing.sources_urls import entry
from enlarger.security.addresses import AddressGuard, parse_networks
from enlarger.security.credentials import belongs_to
from enlarger.server.api_images import Handler, authenticated
from enlarger.server.bodies import flag, read_json
from enlarger.server.envelope import envelope
from enlarger.server.hosting_service import HostingService
from enlarger.server.offload import run

PREFIX = "/client/v4/accounts/{account_id}/images/imports"
MAX_BODY = 16 * 1024 * 1024  # a posted URL list: ~100,000 entries
_FIELDS = {"from", "endpoint_url", "region", "id_prefix", "new_ids", "overwrite", "dry_run", "concurrency", "rate"}
_FIELDS |= {"variants", "urls"}


class ImportApi:
    """The job store and the background worker the routes share (one per app)."""

    def __init__(self, service: HostingService) -> None:
        self.service = service

        def replaced(account_id: str, image_id: str) -> None:
            # called in the runner's worker thread: forget lookups and purge outputs on the event loop
            anyio.from_thread.run(service.image_replaced, account_id, image_id)

        self.worker = ImportWorker(service.hosting, service.fetcher, on_replaced=replaced)
        self.jobs: JobStore = self.worker.jobs

    async def _json(self, job_id: str) -> dict[str, Any]:
        job = await run(self.jobs.job, job_id)
        return job_json(job, await run(self.jobs.counts, job_id))

    async def start(self, request: Request, account: Account) -> Response:
        body = await read_json(request, MAX_BODY)
        unknown = set(body) - _FIELDS
        if unknown:
            raise RequestError(f"unknown field(s): {', '.join(sorted(unknown))}")
        options = ImportOptions(
            id_prefix=str(body.get("id_prefix") or ""),
            new_ids=flag(body.get("new_ids", False), "new_ids"),
            overwrite=flag(body.get("overwrite", False), "overwrite"),
            dry_run=flag(body.get("dry_run", False), "dry_run"),
            concurrency=_number(body, "concurrency", 4, int),
            rate=_number(body, "rate", 0.0, float),
        )
        urls = body.get("urls")
        if urls is not None:
            entries = _url_entries(urls)
            named = Named(f"urls: {len(entries)} posted", {"kind": "urls-inline"})
        else:
            entries = []
            named = await self._named(body)
        who = await run(self._token_id, request)
        creator = f"api-start:{uuid.uuid4().hex}" if urls is not None else None

        def create() -> ImportJob:
            return self.jobs.create(
                account.id, named.description, named.config, options, started_by=who, runner="server", lead=creator
            )

        job = await run(create)
        if creator is not None:
            await run(self._record_list, job, creator, entries)
        self.worker.wake()
        return envelope(await self._json(job.id))

    async def _named(self, body: dict[str, Any]) -> Named:
        source = body.get("from")
        if not isinstance(source, str) or not source:
            raise RequestError("send 'from' (s3://BUCKET/PREFIX or images-api:BASE_URL/ACCOUNT_ID) or 'urls'")
        if source.startswith("urls:"):
            raise RequestError("urls:FILE reads the server's disk and is for the CLI; post the list as 'urls'")
        endpoint = str(body.get("endpoint_url") or "")
        region = str(body.get("region") or "us-east-1")
        named = parse_source(
            source, endpoint=endpoint, region=region, variants=flag(body.get("variants", False), "variants")
        )
        trusted = self.service.hosting.settings.import_api_token_urls
        if named.config["kind"] == "images-api" and not belongs_to(named.config["base"], trusted):
            raise token_refused(named.config["base"])
        if named.config.get("endpoint"):
            await self._check_endpoint(named.config["endpoint"])
        return named

    async def _check_endpoint(self, endpoint: str) -> None:
        """An S3 endpoint a tenant names is checked now, for a clear answer; boto3's connections are
        checked again when they are opened (:mod:`enlarger.importing.sources_s3`)."""
        parts = urlsplit(endpoint)
        guard = AddressGuard(parse_networks(self.service.hosting.settings.fetch_allowed_networks))
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            await guard.resolve(parts.hostname or "", port)
        except EnlargerError as exc:
            raise SourceForbiddenError(f"the S3 endpoint is not allowed: {exc.message}") from exc

    def _token_id(self, request: Request) -> str:
        secret = request.headers.get("authorization", "").partition(" ")[2].strip()
        return f"token:{self.jobs.token_id(digest(secret))}"

    def _record_list(self, job: ImportJob, owner: str, entries: list[Listed]) -> None:
        """A posted list is recorded whole while its creator leads the job (nothing to re-read later)."""
        max_bytes = self.service.hosting.settings.max_upload_bytes
        for start in range(0, max(1, len(entries)), PAGE):
            batch = entries[start : start + PAGE]
            last = start + PAGE >= len(entries)
            self.jobs.add_listed(job, owner, batch, str(start + len(batch)), last, max_bytes)
        self.jobs.release_job(job.id, owner)

    async def list(self, _request: Request, account: Account) -> Response:
        found = await run(self.jobs.jobs, account.id)
        return envelope({"jobs": [job_json(j, await run(self.jobs.counts, j.id)) for j in found]})

    async def one(self, request: Request, account: Account) -> Response:
        job = await run(self.jobs.job, request.path_params["job_id"], account.id)
        return envelope(await self._json(job.id))

    async def cancel(self, request: Request, account: Account) -> Response:
        job = await run(self.jobs.cancel, request.path_params["job_id"], account.id)
        self.worker.cancelled(job.id)
        return envelope(await self._json(job.id))

    async def log(self, request: Request, account: Account) -> Response:
        fmt = request.query_params.get("format", "csv")
        if fmt not in LOG_FORMATS:
            raise RequestError(f"format must be one of {', '.join(LOG_FORMATS)}, got {fmt!r}")
        job = await run(self.jobs.job, request.path_params["job_id"], account.id)
        headers = {"Content-Disposition": f'attachment; filename="import-{job.id}.{fmt}"', "Cache-Control": "no-store"}
        return StreamingResponse(log_lines(self.jobs.log(job.id), fmt), media_type=LOG_FORMATS[fmt], headers=headers)


Action = Callable[[ImportApi, Request, Account], Awaitable[Response]]


def _on_app(action: Action) -> Handler:
    """``action`` run on this app's :class:`ImportApi`, after the API's authentication."""

    async def handler(request: Request, _service: HostingService, account: Account) -> Response:
        imports: ImportApi = request.app.state.imports
        return await action(imports, request, account)

    return handler


def routes() -> list[Route]:
    table: list[tuple[str, str, Action]] = [
        ("", "POST", ImportApi.start),
        ("", "GET", ImportApi.list),
        ("/{job_id}", "GET", ImportApi.one),
        ("/{job_id}/cancel", "POST", ImportApi.cancel),
        ("/{job_id}/log", "GET", ImportApi.log),
    ]
    return [Route(PREFIX + path, authenticated(_on_app(action)), methods=[method]) for path, method, action in table]


def _number(body: dict[str, Any], name: str, default: Any, kind: type) -> Any:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(f"{name} must be a number, got {value!r}")
    return kind(value)


def _url_entries(urls: object) -> list[Listed]:
    if not isinstance(urls, list) or not urls:
        raise RequestError("urls must be a non-empty list of URLs or objects with url, id, metadata, creator")
    found = []
    for number, item in enumerate(urls, 1):
        fields = {"url": item} if isinstance(item, str) else item if isinstance(item, dict) else {"url": None}
        listed = entry(fields, f"urls[{number - 1}]")
        if listed.problem:  # the list is checked whole before a job exists: the tenant fixes it and posts again
            raise RequestError(listed.problem)
        found.append(listed)
    return found
