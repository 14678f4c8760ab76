"""The ASGI application: the route table, the shared services and their lifetime.

Endpoints are module-level functions that find what they share on ``request.app.state``
(``services``: the serving core's; ``hosting``: the catalog, storage and their invalidation; ``imports``: bulk
import jobs and their worker); :func:`create_app` is the composition root that builds those once per application.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pyvips
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from enlarger.binding.api import Images
from enlarger.cache import DiskCache
from enlarger.catalog.store import Catalog
from enlarger.codecs import harden
from enlarger.hosting import Hosting
from enlarger.security.addresses import AddressGuard, parse_networks
from enlarger.security.fetch import Fetcher, origin_matcher
from enlarger.server import api_images, api_imports, binding, dashboard, delivery, transform_url, uploads, widget
from enlarger.server.access_log import AccessLog
from enlarger.server.admission import Admission
from enlarger.server.guard import guarded
from enlarger.server.hosting_service import HostingService
from enlarger.server.memory import tune_memory
from enlarger.server.metrics import Metrics
from enlarger.server.outages import outage_of
from enlarger.server.outputs import Services
from enlarger.server.purge import PurgeIndex
from enlarger.server.result_tier import ResultTier
from enlarger.server.workers import ALONE, Share, Supervisor
from enlarger.settings import Settings, SettingsError
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
    services: Services = request.app.state.services
    return Response(services.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    services: Services = app.state.services
    hosting: HostingService = app.state.hosting
    imports: api_imports.ImportApi = app.state.imports
    first = app.state.share.index == 0  # with several processes, one sweeps and runs imports
    # listing every blob can take long: serve meanwhile
    sweep = asyncio.create_task(_sweep(hosting.hosting)) if first else None
    importer = asyncio.create_task(imports.worker.run()) if first else None
    flusher = asyncio.create_task(hosting.usage.flush_periodically())  # usage counts, idle or not
    try:
        yield
    finally:
        flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flusher
        if importer is not None:
            importer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await importer
        if sweep is not None:
            await sweep  # it uses the catalog: let it finish before closing it
        await hosting.usage.close()  # usage accounting: write the last delivery counts
        await hosting.fetcher.aclose()
        services.admission.shutdown()
        hosting.hosting.catalog.close()


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


def create_app(settings: Settings, *, share: Share = ALONE) -> ASGIApp:
    """Build the service for ``settings``; directories are created, the cache index loaded.

    ``share`` is this process's place among several serving the same port and data directory:
    it gets its part of the worker, queue and cache limits (:mod:`enlarger.server.workers`).
    """
    harden()
    if settings.vips_concurrency:  # the workers run images side by side; threads within one only add hand-offs
        pyvips.concurrency_set(settings.vips_concurrency)
    prepare_directories(settings)
    metrics = Metrics()
    origin = settings.origin_location
    fetcher = Fetcher(
        AddressGuard(parse_networks(settings.fetch_allowed_networks)),
        connect_timeout=settings.fetch_connect_timeout,
        total_timeout=settings.fetch_timeout,
        max_redirects=settings.fetch_max_redirects,
        max_bytes=settings.max_input_bytes,
        trusted_origin=origin if is_absolute(origin) else None,
    )
    cache = DiskCache(
        settings.data_dir / "cache",
        share.part(settings.cache_max_bytes),
        memory_bytes=share.part(settings.cache_memory_bytes),
        shard=(share.index, share.count),
    )
    purge = PurgeIndex(settings.data_dir / "cache-tags", cache)
    services = Services(
        settings=settings,
        sources=Sources(
            origin,
            fetcher,
            allow_url=origin_matcher(settings.allowed_hosts),
            max_bytes=settings.max_input_bytes,
            revalidate_seconds=settings.origin_revalidate_seconds,
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
    app = Starlette(routes=ROUTES, lifespan=_lifespan)
    app.state.services = services
    app.state.share = share
    app.state.hosting = service = HostingService(hosting, fetcher, purge, services.results)
    metrics.registry.register(UsageMetrics(service.usage))  # usage accounting (issue 17)
    metrics.registry.register(service.storage)  # storage calls in flight (issue 25)
    app.state.imports = api_imports.ImportApi(service)  # bulk import jobs and their worker
    if settings.binding_listen:  # the Images binding's backend: run() serves it on its own listener
        images = Images(settings, fetcher=fetcher, hosting=hosting, run=services.admission.run)
        app.state.binding = AccessLog(binding.create_app(images), metrics)
    return AccessLog(app, metrics)


def log_access_to_stderr() -> None:
    """Write the access log's JSON lines to stderr (``enlarger serve`` and each of its workers)."""
    access = logging.getLogger("enlarger.access")
    access.addHandler(logging.StreamHandler(sys.stderr))
    access.setLevel(logging.INFO)
    access.propagate = False


def run(settings: Settings) -> int:
    """Serve ``settings``' app with uvicorn until stopped (httptools, uvloop where available).

    With ``processes`` above 1, a :class:`Supervisor` runs that many worker processes instead.
    Returns the exit status.
    """
    import importlib.util

    import uvicorn

    if settings.process_count > 1:
        if settings.binding_listen:
            raise SettingsError(
                "binding_listen is served by one process: set processes=1, or run the binding on its own instance"
            )
        return Supervisor(settings).run()
    tune_memory()
    if settings.binding_listen:  # two listeners, one event loop
        binding.serve(create_app(settings), settings, access_log=False, log_level="warning", http="httptools")
        return 0
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_level="warning",
        http="httptools",
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
    )
    return 0
