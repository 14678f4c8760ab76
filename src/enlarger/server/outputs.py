"""The serving core every front door shares: ETag, cache, coalescing, admission, purge tags.

A route's job ends at saying *what* output it wants — an :class:`OutputRequest` naming the
source (already located, so its identity is known), the options, and how the answer should be
labelled (``Vary``, ``Cache-Control``, purge tags). :func:`respond` does the rest, in this order:

1. the cache key and strong ETag from (source identity, recipe, Accept class when the format
   depends on it) — known before any source byte is read;
2. ``If-None-Match`` → 304;
3. a cache hit (memory, then disk, then the shared result tier when configured) → the stored
   bytes, nothing decoded;
4. a miss → one production per key at a time (identical concurrent misses wait for it, in this
   process through a shared future, across processes through :meth:`DiskCache.claim`), its CPU
   part admitted to the bounded worker pool, the result cached and recorded under its tags.

What a miss *produces* is the request's :data:`Producer`: by default the located source's bytes
through :func:`enlarger.pipeline.transform`. A front door that composes several inputs (a base
image and overlays) reads them in its own producer and names its recipe for the key.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from enlarger import tracing
from enlarger.cache import DiskCache, Entry, cache_key
from enlarger.negotiate import Accept, depends_on_accept
from enlarger.options import Options
from enlarger.pipeline import transform
from enlarger.provenance import cache_token
from enlarger.server.admission import Admission
from enlarger.server.hints import ACCEPT_CH
from enlarger.server.metrics import Metrics
from enlarger.server.purge import PurgeIndex, cdn_tags
from enlarger.server.result_tier import ResultTier
from enlarger.settings import Settings
from enlarger.sources import Located, Sources

CACHE_HEADER = "X-Enlarger-Cache"
#: An SVG opened on its own is a document: no scripts, no loads but its own data: images and styles
SVG_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox"

#: First and longest wait between looks at a key another process is producing (seconds)
CLAIM_POLL_SECONDS = (0.005, 0.05)
#: The CPU-bound part of producing an output; runs on an admitted worker thread.
Work = Callable[[], Entry]
#: Reads what a miss needs (I/O, on the event loop, before admission) and returns the CPU work.
#: Called with the request's ``Accept`` header, which ``format=auto`` negotiates against.
Producer = Callable[["OutputRequest", str | None, Settings], Awaitable[Work]]


@dataclass
class Services:
    """What the output routes share for the life of the server."""

    settings: Settings
    sources: Sources
    cache: DiskCache
    admission: Admission
    metrics: Metrics
    inflight: dict[str, asyncio.Future[Entry]]
    purge: PurgeIndex
    results: ResultTier | None = None  # the shared result tier (issue 25), when configured


async def transform_located(output: OutputRequest, accept: str | None, settings: Settings) -> Work:
    """The default producer: the located source's bytes through the engine with the options."""
    with tracing.span("source read") as span:
        data = await output.located.read()
        if tracing.ENABLED:
            span.set_attributes({"enlarger.source": output.located.identity, "enlarger.source.bytes": len(data)})

    def work() -> Entry:
        result = transform(
            data,
            output.options,
            accept=accept,
            settings=settings,
            timeout=settings.transform_timeout,
            source_id=output.located.identity,
        )
        return Entry(result.data, result.media_type, result.format, result.width, result.height)

    return work


@dataclass(frozen=True)
class OutputRequest:
    """One output a front door asks for, and how its answer is labelled."""

    options: Options  # negotiation reads format/compression from them; the default producer runs them
    located: Located  # the source: its identity keys the cache; its bytes are read only on a miss
    vary: tuple[str, ...] = ()  # request headers the options were derived from (client hints)
    tags: tuple[str, ...] = ()  # what the output belongs to (a hosted image, a variant), for purges
    cache_control: str | None = None  # None: public for ``cache_control_max_age``
    head: bool = False
    produce: Producer = transform_located
    recipe: str | None = None  # what ``produce`` makes, for the key; None: the options' canonical text
    settings: Settings | None = None  # what it is made under when not the server's (an account's C2PA choice)


def _accept_token(options: Options, accept: str | None, settings: Settings) -> str:
    if not depends_on_accept(options.format, options.compression == "fast"):
        return ""
    return Accept.parse(accept).token(jxl_auto=settings.jxl_auto)


@functools.lru_cache(maxsize=4096)
def _key_and_etag(identity: str, canonical: str, token: str) -> tuple[str, str]:
    """The cache key and strong ETag; hits repeat the same few, and hashing is not free."""
    key = cache_key(identity, canonical, token)
    return key, f'"{key[:40]}"'


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    return header.strip() == "*" or etag in (tag.strip().removeprefix("W/") for tag in header.split(","))


async def respond(request: Request, services: Services, output: OutputRequest) -> Response:
    """Answer with ``output``: 304, cache hit, or one coalesced production."""
    accept = request.headers.get("accept")
    settings = output.settings or services.settings
    token = _accept_token(output.options, accept, settings)
    recipe = output.recipe if output.recipe is not None else output.options.canonical()
    key, etag = _key_and_etag(output.located.identity, recipe, token + cache_token(settings))  # C2PA
    vary = (("Accept",) if token else ()) + output.vary
    headers = {
        "ETag": etag,
        "Cache-Control": output.cache_control or f"public, max-age={services.settings.cache_control_max_age}",
        "Accept-CH": ACCEPT_CH,
    }
    if vary:
        headers["Vary"] = ", ".join(vary)
    if named := cdn_tags(output.tags):  # a CDN in front purges by these (docs/server.md "Several machines")
        headers["Cache-Tag"] = ",".join(named)  # Cloudflare's form
        headers["Surrogate-Key"] = " ".join(named)  # Fastly's form
    if tracing.ENABLED and tracing.recording():  # the canonical options (or recipe) on the request's span
        tracing.annotate({"enlarger.options": recipe, "enlarger.cache_key": key})
    if _matches(request.headers.get("if-none-match"), etag):
        # the same Vary as the 200 it revalidates; only an Accept-dependent answer needs the entry
        if token and (cached := services.cache.get(key)) is not None and cached.media_type == "image/svg+xml":
            _unvary_accept(headers)
        return Response(status_code=304, headers=headers)
    with tracing.span("cache read"):
        entry = services.cache.get(key)
    shared = await services.results.get(key) if entry is None and services.results is not None else None
    if shared is not None:  # another replica's work: kept on this disk too
        entry = shared
        await services.admission.run(lambda: _keep(services, key, shared, output.tags))
        services.metrics.cache_hits.inc()
        headers[CACHE_HEADER] = "HIT-SHARED"
    elif entry is not None:
        services.metrics.cache_hits.inc()
        headers[CACHE_HEADER] = "HIT"
    else:
        services.metrics.cache_misses.inc()
        headers[CACHE_HEADER] = "MISS"
        entry = await _coalesced(services, key, output, accept)
    if tracing.ENABLED and tracing.recording():
        tracing.annotate(_described(entry))
    headers["Cf-Resized"] = f"internal=ok/{headers[CACHE_HEADER].lower().removesuffix('-shared')}"
    headers["X-Content-Type-Options"] = "nosniff"
    if entry.media_type == "image/svg+xml":
        headers["Content-Security-Policy"] = SVG_CSP
        _unvary_accept(headers)
    if output.head:
        headers["Content-Length"] = str(len(entry.body))
        return Response(b"", headers=headers, media_type=entry.media_type)
    return Response(entry.body, headers=headers, media_type=entry.media_type)


def _described(entry: Entry) -> tracing.Attributes:
    """The output's span attributes: format, dimensions, size."""
    return {
        "enlarger.output.format": entry.format,
        "enlarger.output.width": entry.width,
        "enlarger.output.height": entry.height,
        "enlarger.output.bytes": len(entry.body),
    }


def _unvary_accept(headers: dict[str, str]) -> None:
    """An SVG source is served as SVG whatever the ``Accept`` header says: nothing varied on it."""
    vary = [name for name in headers.pop("Vary", "").split(", ") if name and name != "Accept"]
    if vary:
        headers["Vary"] = ", ".join(vary)


async def _coalesced(services: Services, key: str, output: OutputRequest, accept: str | None) -> Entry:
    """One production per key at a time; identical concurrent misses wait for it."""
    waiting = services.inflight.get(key)
    if waiting is not None:
        services.metrics.coalesced.inc()
        try:
            return await asyncio.shield(waiting)
        except asyncio.CancelledError:
            if not waiting.cancelled():
                raise  # this request itself was cancelled
            # the request doing the work went away (client disconnect): do it here instead
        return await _coalesced(services, key, output, accept)
    future: asyncio.Future[Entry] = asyncio.get_running_loop().create_future()
    services.inflight[key] = future
    try:
        entry = await _claimed(services, key, output, accept)
        future.set_result(entry)
        return entry
    except asyncio.CancelledError:
        future.cancel()
        raise
    except BaseException as exc:
        future.set_exception(exc)
        future.exception()  # waiters re-raise it; mark it retrieved so no warning is logged
        raise
    finally:
        del services.inflight[key]


async def _claimed(services: Services, key: str, output: OutputRequest, accept: str | None) -> Entry:
    """Produce ``key`` under its cross-process claim: server processes sharing the cache directory
    make each output once. A process finding the claim taken polls until it is free, then finds
    the other's output in the cache (counted as coalesced) or, if that production failed, makes it.
    """
    delay = CLAIM_POLL_SECONDS[0]
    while (claim := services.cache.claim(key)) is None:
        await asyncio.sleep(delay)
        delay = min(delay * 2, CLAIM_POLL_SECONDS[1])
    try:
        ready = services.cache.get(key)
        if ready is not None:
            services.metrics.coalesced.inc()
            return ready
        return await _produce(services, key, output, accept)
    finally:
        claim.release()


async def _produce(services: Services, key: str, output: OutputRequest, accept: str | None) -> Entry:
    work = await output.produce(output, accept, output.settings or services.settings)

    def admitted() -> Entry:
        started = time.perf_counter()
        with tracing.span("transform") as span:
            entry = work()
            if tracing.ENABLED:
                span.set_attributes(_described(entry))
        services.metrics.transform_seconds.observe(time.perf_counter() - started)
        services.metrics.count_decodes()
        _keep(services, key, entry, output.tags)
        return entry

    entry = await services.admission.run(admitted)
    if services.results is not None:
        services.results.put_later(key, entry, output.tags)
    return entry


def _keep(services: Services, key: str, entry: Entry, tags: tuple[str, ...]) -> None:
    """Cache ``entry`` on this replica's disk, recorded under its purge tags."""
    with tracing.span("cache write"):
        services.cache.put(key, entry)
    services.purge.record(tags, key)
    services.metrics.cache_bytes.set(services.cache.total_bytes)
