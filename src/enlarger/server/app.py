"""The ASGI application: the route table, the shared services and their lifetime.

Endpoints are module-level functions that find what they share on ``request.app.state``
(``services``: the serving core's; ``hosting``: the catalog, storage and their invalidation; ``imports``: bulk
import jobs and their worker); :func:`create_app` is the composition root that builds those once per application.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pyvips
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from enlarger import tracing
from enlarger.binding.api import Images
from enlarger.cache import DiskCache
from enlarger.catalog.store import Catalog
from enlarger.codecs import harden
from enlarger.hosting import Hosting
from enlarger.importing.metrics import ImportMetrics
from enlarger.models.preload import Preload
from enlarger.security.fetch import Fetcher, origin_matcher
from enlarger.server import (
    api_images,
    api_imports,
    binding,
    dashboard,
    delivery,
    libvips_log,
    transform_url,
    uploads,
    widget,
)
from enlarger.server.access_log import AccessLog
from enlarger.server.admission import Admission
from enlarger.server.guard import guarded
from enlarger.server.guesses import Guesses
from enlarger.server.hosting_service import HostingService
from enlarger.server.metrics import Metrics
from enlarger.server.outages import outage_of
from enlarger.server.outputs import Services
from enlarger.server.purge import PurgeIndex
from enlarger.server.purge_log import PurgeFollower
from enlarger.server.purge_webhook import PurgeWebhook
from enlarger.server.raw_path import LiteralRoutes
from enlarger.server.request_context import RequestContext
from enlarger.server.result_tier import ResultTier
from enlarger.server.workers import ALONE, Share
from enlarger.settings import Settings
from enlarger.source_cache import SourceCache
from enlarger.sources import Sources, ensure_directory, is_absolute
from enlarger.storage import ownership
from enlarger.storage.factory import open_storage
from enlarger.usage import UsageMetrics

logger = logging.getLogger("enlarger.server")


def prepare_directories(settings: Settings) -> None:
    """Create the data directory (and a local origin directory) if missing."""
    ensure_directory(settings.data_dir)
    if not is_absolute(settings.origin_location):
        ensure_directory(Path(settings.origin_location))


async def _sweep(hosting: Hosting) -> None:
    """Remove crash leftovers (orphaned blobs, expired upload slots); a failure is logged, not fatal."""
    try:
        removed = await anyio.to_thread.run_sync(hosting.collect_orphans)
    except Exception:
        logger.exception("the orphan sweep at start failed; `enlarger gc` runs it by hand")
        return
    if removed:
        logger.info("orphan sweep removed %d blob(s)", removed)


def _ping(catalog: Catalog) -> None:
    with catalog.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


async def healthz(_request: Request) -> Response:
    return PlainTextResponse("ok\n")


async def readyz(request: Request) -> Response:
    services: Services = request.app.state.services
    hosting: HostingService = request.app.state.hosting
    if not (services.settings.data_dir / "cache").is_dir():
        return PlainTextResponse("cache directory missing\n", 503)
    models: Preload = request.app.state.models
    if (reason := models.not_ready()) is not None:  # configured models load at start (models/preload.py)
        return PlainTextResponse(reason + "\n", 503)
    try:
        await anyio.to_thread.run_sync(_ping, hosting.hosting.catalog)
    except SQLAlchemyError:  # any driver error means the catalog cannot serve
        logger.exception("readiness check: the catalog is unavailable")
        return PlainTextResponse("catalog unavailable\n", 503)
    try:  # one small read of the storage (the ownership marker), on the storage threads
        await hosting.storage.run(ownership.owner, hosting.hosting.storage)
    except Exception as error:  # noqa: BLE001 — whatever the backend raises, this replica cannot store
        logger.warning("readiness check: the image storage is unavailable: %s", outage_of(error) or repr(error))
        return PlainTextResponse("storage unavailable\n", 503)
    return PlainTextResponse("ready\n")


async def metrics_endpoint(request: Request) -> Response:
    """The Prometheus scrape; behind ``metrics_token`` when one is set (per-account series are opt-in)."""
    services: Services = request.app.state.services
    token = services.settings.metrics_token
    if token:
        sent = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(sent, f"Bearer {token}".encode()):
            return PlainTextResponse(
                "send 'Authorization: Bearer <metrics_token>'\n", 401, {"WWW-Authenticate": 'Bearer realm="metrics"'}
            )
    body = await anyio.to_thread.run_sync(services.metrics.render)  # collectors may read the catalog
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    services: Services = app.state.services
    hosting: HostingService = app.state.hosting
    imports: api_imports.ImportApi = app.state.imports
    first = app.state.share.index == 0  # with several processes, one sweeps and runs imports
    # listing every blob can take long: serve meanwhile
    sweep = asyncio.create_task(_sweep(hosting.hosting)) if first else None
    importer = asyncio.create_task(imports.worker.run()) if first else None
    models: Preload = app.state.models
    loading = asyncio.create_task(anyio.to_thread.run_sync(models.run, services.settings))
    flusher = asyncio.create_task(hosting.usage.flush_periodically())  # usage counts, idle or not
    follower = asyncio.create_task(app.state.purges.run()) if first else None  # other replicas' purges
    try:
        yield
    finally:
        flusher.cancel()
        loading.cancel()  # a load in progress cannot be interrupted: shutdown waits for it (seconds)
        if follower is not None:
            follower.cancel()
        for task in (flusher, loading, *((follower,) if follower is not None else ())):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if importer is not None:
            importer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await importer
        if sweep is not None:
            await sweep  # it uses the catalog: let it finish before closing it
        await hosting.usage.close()  # usage accounting: write the last delivery counts
        await hosting.fetcher.aclose()
        if hosting.webhook is not None:
            await hosting.webhook.aclose()
        services.admission.shutdown()
        hosting.hosting.catalog.close()
        tracing.flush()


_delivery = guarded(delivery.endpoint)
#: The route table; every endpoint finds the shared services on ``request.app.state``.
ROUTES = [
    Route("/cdn-cgi/image/{rest:path}", guarded(transform_url.endpoint), methods=["GET", "HEAD"]),
    Route("/healthz", healthz, methods=["GET", "HEAD"]),
    Route("/readyz", readyz, methods=["GET", "HEAD"]),
    Route("/metrics", metrics_endpoint, methods=["GET"]),
    *api_images.routes(),
    *api_imports.routes(),
    *dashboard.routes(),  # dashboard and upload widget (issue 17)
    *widget.routes(),
    Route("/upload/{secret}", uploads.endpoint, methods=["POST"]),
    Route(delivery.CUSTOM_DOMAIN_PREFIX + "/{account_hash}/{rest:path}", _delivery, methods=["GET", "HEAD"]),
    Route("/{account_hash}/{rest:path}", _delivery, methods=["GET", "HEAD"]),
]


def _source_cache(settings: Settings, share: Share, metrics: Metrics) -> SourceCache | None:
    """The on-disk cache of remote originals (issue 26): remote sources' and, with S3 storage, hosted
    images'; None when it is off (``source_cache_bytes`` 0)."""
    if not settings.source_cache_bytes:
        return None
    return SourceCache(
        settings.data_dir / "sources",
        share.part(settings.source_cache_bytes),
        tally=metrics.source_cache,
        shard=(share.index, share.count),
    )


def create_app(settings: Settings, *, share: Share = ALONE) -> ASGIApp:
    """Build the service for ``settings``; directories are created, the cache index loaded.

    ``share`` is this process's place among several serving the same port and data directory:
    it gets its part of the worker, queue and cache limits (:mod:`enlarger.server.workers`).
    """
    harden()
    if share.count > 1:  # each process keeps its own decoded copies, within its part of the bound
        settings = dataclasses.replace(settings, decode_cache_bytes=share.part(settings.decode_cache_bytes))
    tracing.configure()  # OpenTelemetry, from the OTEL_* environment; off unless asked (issue 29)
    if settings.vips_concurrency:  # the workers run images side by side; threads within one only add hand-offs
        pyvips.concurrency_set(settings.vips_concurrency)
    libvips_log.warnings_only()  # no call into Python from libvips' threads for each informational line
    prepare_directories(settings)
    metrics = Metrics()
    origin = settings.origin_location
    fetcher = Fetcher.from_settings(settings, trusted_origin=origin if is_absolute(origin) else None)
    cache = DiskCache(
        settings.data_dir / "cache",
        share.part(settings.cache_max_bytes),
        memory_bytes=share.part(settings.cache_memory_bytes),
        shard=(share.index, share.count),
    )
    purge = PurgeIndex(settings.data_dir / "cache-tags", cache)
    originals = _source_cache(settings, share, metrics)
    services = Services(
        settings=settings,
        sources=Sources(
            origin,
            fetcher,
            allow_url=origin_matcher(settings.allowed_hosts),
            max_bytes=settings.max_input_bytes,
            revalidate_seconds=settings.origin_revalidate_seconds,
            cache=originals,
        ),
        cache=cache,
        admission=Admission(share.part(settings.workers, at_least=1), share.part(settings.queue_size), metrics),
        metrics=metrics,
        inflight={},
        purge=purge,
        results=ResultTier(settings) if settings.result_storage == "s3" else None,
    )
    hosting = Hosting(Catalog(settings.catalog_url), open_storage(settings), settings)
    metrics.cache_bytes.set(cache.total_bytes)
    app = Starlette(routes=ROUTES, lifespan=_lifespan, middleware=[Middleware(LiteralRoutes)])  # raw_path.py
    app.state.services = services
    app.state.models = Preload()  # the configured models, loaded by the lifespan before /readyz says ready
    app.state.share = share
    app.state.guesses = Guesses.of(settings)  # failed sign-ins and token checks per client address
    webhook = (
        PurgeWebhook(settings.purge_webhook_url, settings.purge_webhook_secret) if settings.purge_webhook_url else None
    )
    app.state.hosting = service = HostingService(
        hosting, fetcher, purge, services.results, webhook, originals if settings.storage == "s3" else None
    )
    app.state.purges = PurgeFollower(  # issue 25: purges made by other replicas
        hosting.catalog,
        purge,
        settings.data_dir / "cache-tags.applied",
        settings.purge_poll_seconds,
        settings.purge_log_retention_seconds,
    )
    metrics.registry.register(UsageMetrics(service.usage, per_account=settings.metrics_per_account))  # issue 17
    metrics.registry.register(service.storage)  # storage calls in flight (issue 25)
    app.state.imports = api_imports.ImportApi(service)  # bulk import jobs and their worker
    metrics.registry.register(ImportMetrics(app.state.imports.jobs))  # jobs by state (issue 29)
    if settings.binding_listen:  # the Images binding's backend: run() serves it on its own listener
        images = Images(settings, fetcher=fetcher, hosting=hosting, run=services.admission.run, changes=service)
        app.state.binding = RequestContext(AccessLog(binding.create_app(images), metrics))
    return RequestContext(AccessLog(app, metrics))  # request ids and the server span around the access log
