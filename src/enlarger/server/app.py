"""The ASGI application: routes, shared services and their lifetime."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from enlarger.cache import DiskCache
from enlarger.security.addresses import AddressGuard, parse_networks
from enlarger.security.fetch import Fetcher, host_matcher
from enlarger.server import transform_url
from enlarger.server.access_log import AccessLog
from enlarger.server.admission import Admission
from enlarger.server.metrics import Metrics
from enlarger.settings import Settings
from enlarger.sources import Sources, ensure_directory, is_absolute


def prepare_directories(settings: Settings) -> None:
    """Create the data directory (and a local origin directory) if missing."""
    ensure_directory(settings.data_dir)
    if not is_absolute(settings.origin_location):
        ensure_directory(Path(settings.origin_location))


def create_app(settings: Settings) -> ASGIApp:
    """Build the service for ``settings``; directories are created, the cache index loaded."""
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
    services = transform_url.Services(
        settings=settings,
        sources=Sources(
            origin,
            fetcher,
            allow_host=host_matcher(settings.allowed_hosts),
            max_bytes=settings.max_input_bytes,
            revalidate_seconds=settings.origin_revalidate_seconds,
        ),
        cache=DiskCache(
            settings.data_dir / "cache", settings.cache_max_bytes, memory_bytes=settings.cache_memory_bytes
        ),
        admission=Admission(settings.workers, settings.queue_size, metrics),
        metrics=metrics,
        inflight={},
    )
    metrics.cache_bytes.set(services.cache.total_bytes)

    async def image(request: Request) -> Response:
        return await transform_url.handle(request, services)

    async def healthz(_request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(_request: Request) -> Response:
        writable = (settings.data_dir / "cache").is_dir()
        return PlainTextResponse("ready\n" if writable else "cache directory missing\n", 200 if writable else 503)

    async def metrics_route(_request: Request) -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await fetcher.aclose()
            services.admission.shutdown()

    app = Starlette(
        routes=[
            Route("/cdn-cgi/image/{rest:path}", image, methods=["GET", "HEAD"]),
            Route("/healthz", healthz, methods=["GET", "HEAD"]),
            Route("/readyz", readyz, methods=["GET", "HEAD"]),
            Route("/metrics", metrics_route, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    return AccessLog(app, metrics)
