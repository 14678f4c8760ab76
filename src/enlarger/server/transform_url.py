"""``GET|HEAD /cdn-cgi/image/<options>/<source>``: transform by URL, cached and negotiated.

The cache key — and the strong ETag derived from it — is (source identity, canonical options
after client hints, Accept class when the format depends on it). All of it is known before any
source byte is read, so a revalidation (304) or a cache hit costs at most a ``stat`` (nothing for
a source checked in the last second, or a remote one within its revalidation window) and one file
read (none for an entry hot in memory); nothing is decoded. Hits are the bulk of the traffic, so
what they repeat — parsing the options, hashing the key — is memoised.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from enlarger.cache import DiskCache, Entry, cache_key
from enlarger.errors import EnlargerError, OptionError, OriginError, ProcessingError, SourceNotFoundError
from enlarger.negotiate import Accept, depends_on_accept
from enlarger.options import Options, parse_options
from enlarger.pipeline import transform
from enlarger.server.admission import Admission
from enlarger.server.errors import error_response
from enlarger.server.hints import ACCEPT_CH, apply_hints
from enlarger.server.metrics import Metrics
from enlarger.server.purge import PurgeIndex
from enlarger.settings import Settings
from enlarger.sources import Located, Sources

CACHE_HEADER = "X-Enlarger-Cache"
#: An SVG opened on its own is a document: no scripts, no loads but its own data: images and styles
SVG_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox"
logger = logging.getLogger("enlarger.server")


@dataclass
class Services:
    """What the routes share for the life of the server."""

    settings: Settings
    sources: Sources
    cache: DiskCache
    admission: Admission
    metrics: Metrics
    inflight: dict[str, asyncio.Future[Entry]]
    purge: PurgeIndex


def _accept_token(options: Options, accept: str | None) -> str:
    if not depends_on_accept(options.format, options.compression == "fast"):
        return ""
    parsed = Accept.parse(accept)
    return f"avif={int(parsed.avif)},webp={int(parsed.webp)}"


@functools.lru_cache(maxsize=4096)
def _key_and_etag(identity: str, canonical: str, token: str) -> tuple[str, str]:
    """The cache key and strong ETag; hits repeat the same few, and hashing is not free."""
    key = cache_key(identity, canonical, token)
    return key, f'"{key[:40]}"'


def _split(request: Request) -> tuple[str, str]:
    rest = request.path_params["rest"]
    options_text, _, source = rest.partition("/")
    query: bytes = request.scope["query_string"]  # raw, as request.url.query, without building a URL
    if query:
        source = f"{source}?{query.decode('utf-8', 'replace')}"
    return options_text, source  # the server already percent-decoded the path once


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    return header.strip() == "*" or etag in (tag.strip().removeprefix("W/") for tag in header.split(","))


async def handle(request: Request, services: Services) -> Response:
    """Answer one transform-by-URL request; every engine error becomes its HTTP form."""
    head = request.method == "HEAD"
    options: Options | None = None
    located: Located | None = None
    try:
        options_text, source = _split(request)
        options = parse_options(options_text)
        hinted = apply_hints(options, request.headers)
        located = await services.sources.locate(source)
        return await respond(request, services, hinted.options, hinted.vary, located, head)
    except EnlargerError as error:
        if isinstance(error, (OriginError, SourceNotFoundError)):
            services.metrics.origin_errors.labels(code=str(error.code)).inc()
        redirect = located.url if located else None
        if options is not None and options.onerror == "redirect" and redirect and not isinstance(error, OptionError):
            return RedirectResponse(redirect, status_code=302, headers={"Cf-Resized": f"err={error.code}"})
        return error_response(error, head=head)
    except Exception:  # a bug, not the user's fault: log it, answer 500, keep serving
        logger.exception("unexpected failure for %s", request.url.path)
        return error_response(ProcessingError("an internal error stopped this transformation"), head=head)


async def respond(
    request: Request,
    services: Services,
    options: Options,
    hint_vary: tuple[str, ...],
    located: Located,
    head: bool,
    *,
    tags: tuple[str, ...] = (),
    cache_control: str | None = None,
) -> Response:
    """Answer with the output for (source, options): 304, cache hit, or one coalesced transformation.

    ``tags`` name what the output belongs to (a hosted image, a variant) so it can be purged.
    """
    accept = request.headers.get("accept")
    token = _accept_token(options, accept)
    key, etag = _key_and_etag(located.identity, options.canonical(), token)
    vary = (("Accept",) if token else ()) + hint_vary
    headers = {
        "ETag": etag,
        "Cache-Control": cache_control or f"public, max-age={services.settings.cache_control_max_age}",
        "Accept-CH": ACCEPT_CH,
    }
    if vary:
        headers["Vary"] = ", ".join(vary)
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    entry = services.cache.get(key)
    if entry is not None:
        services.metrics.cache_hits.inc()
        headers[CACHE_HEADER] = "HIT"
    else:
        services.metrics.cache_misses.inc()
        headers[CACHE_HEADER] = "MISS"
        entry = await _coalesced(services, key, options, accept, located, tags)
    headers["Cf-Resized"] = f"internal=ok/{headers[CACHE_HEADER].lower()}"
    headers["X-Content-Type-Options"] = "nosniff"
    if entry.media_type == "image/svg+xml":
        headers["Content-Security-Policy"] = SVG_CSP
        if token:  # an SVG source is served as SVG whatever the Accept header says: nothing varied
            vary = tuple(name for name in vary if name != "Accept")
            headers.pop("Vary", None)
            if vary:
                headers["Vary"] = ", ".join(vary)
    if head:
        headers["Content-Length"] = str(len(entry.body))
        return Response(b"", headers=headers, media_type=entry.media_type)
    return Response(entry.body, headers=headers, media_type=entry.media_type)


async def _coalesced(
    services: Services, key: str, options: Options, accept: str | None, located: Located, tags: tuple[str, ...]
) -> Entry:
    """One transformation per key at a time; identical concurrent misses wait for it."""
    waiting = services.inflight.get(key)
    if waiting is not None:
        services.metrics.coalesced.inc()
        try:
            return await asyncio.shield(waiting)
        except asyncio.CancelledError:
            if not waiting.cancelled():
                raise  # this request itself was cancelled
            # the request doing the work went away (client disconnect): do it here instead
        return await _coalesced(services, key, options, accept, located, tags)
    future: asyncio.Future[Entry] = asyncio.get_running_loop().create_future()
    services.inflight[key] = future
    try:
        entry = await _produce(services, key, options, accept, located, tags)
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


async def _produce(
    services: Services, key: str, options: Options, accept: str | None, located: Located, tags: tuple[str, ...]
) -> Entry:
    data = await located.read()
    settings = services.settings

    def work() -> Entry:
        started = time.perf_counter()
        result = transform(data, options, accept=accept, settings=settings, timeout=settings.transform_timeout)
        services.metrics.transform_seconds.observe(time.perf_counter() - started)
        entry = Entry(result.data, result.media_type, result.format, result.width, result.height)
        services.cache.put(key, entry)
        services.purge.record(tags, key)
        services.metrics.cache_bytes.set(services.cache.total_bytes)
        return entry

    return await services.admission.run(work)
