"""Where source images come from: a local origin directory, an HTTP origin, or allowed URLs.

A source is first *located*: its identity (what the output cache keys on) is found as cheaply
as possible — a ``stat`` for files (itself remembered for about a second), a remembered validator
for remote sources — and its bytes are only read when a transformation actually needs them, so
cache hits touch no source.

A remote source's bytes are kept in the :class:`~enlarger.source_cache.SourceCache` when one is
given (issue 26): a later miss reads them from disk while the identity is fresh, and after a
conditional request the origin answered 304; concurrent fetches of one URL in this process are
one fetch. Nothing is served from that cache for a source this process has not located — allowed,
and fetched or revalidated through the fetcher's address policy, timeouts and byte limit —
itself. Processes sharing the cache directory each fetch a source they miss at the same moment
(no lock across processes); a process finding another's entry revalidates it (304, no body).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import stat
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import quote, urljoin

import anyio

from enlarger.errors import (
    FileTooLargeError,
    InvalidSourceError,
    OriginNotAllowedError,
    SourceForbiddenError,
    SourceNotFoundError,
)
from enlarger.security.fetch import Fetched, Fetcher
from enlarger.source_cache import Head, SourceCache

T = TypeVar("T")

_KNOWN_LIMIT = 100_000  # remembered remote identities (about 200 bytes each)
FILE_IDENTITY_SECONDS = 1.0  # how long a local file's stat is trusted: a change is seen within it
_FILE_IDENTITY_LIMIT = 10_000  # remembered local identities (a few hundred bytes each)


@dataclass(frozen=True)
class Located:
    """A source whose identity is known; ``read`` fetches its bytes when they are needed."""

    identity: str
    read: Callable[[], Awaitable[bytes]]
    url: str | None  # where the source can be fetched directly (onerror=redirect), if anywhere


@dataclass
class _Known:
    identity: str
    etag: str | None
    last_modified: str | None
    checked: float


def is_absolute(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


def normalise_absolute(source: str) -> str:
    """Proxies and browsers fold ``https://`` to ``https:/`` inside paths; undo that."""
    start = source[:8].lower()  # runs per request: lower only what the schemes can match
    for scheme in ("http:/", "https:/"):
        if start.startswith(scheme) and not start.startswith(scheme + "/"):
            return source[: len(scheme)] + "/" + source[len(scheme) :]
    return source


def _identity_of(fetched: Fetched) -> str:
    """A strong origin ETag names the content; otherwise the content's hash does."""
    if fetched.etag and not fetched.etag.startswith("W/"):
        return f"url:{fetched.url}:etag:{fetched.etag}"
    return "sha256:" + hashlib.sha256(fetched.data).hexdigest()


class Sources:
    """Resolves relative sources against the origin and absolute ones against the allow-list.

    ``allow_url`` decides whether an absolute source URL may be fetched; as Cloudflare documents
    for its allowed origins, only that first URL is checked: the redirects it leads to are not
    (the fetcher still checks every hop's scheme and addresses).
    """

    def __init__(
        self,
        origin: str,
        fetcher: Fetcher,
        *,
        allow_url: Callable[[str], bool],
        max_bytes: int,
        revalidate_seconds: float,
        file_identity_seconds: float = FILE_IDENTITY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        cache: SourceCache | None = None,
    ) -> None:
        self._remote_origin = origin if is_absolute(origin) else None
        self._root = None if self._remote_origin else Path(origin).resolve()
        self._fetcher = fetcher
        self._allow_url = allow_url
        self._max_bytes = max_bytes
        self._revalidate = revalidate_seconds
        self._known: OrderedDict[str, _Known] = OrderedDict()
        self._file_seconds = file_identity_seconds
        self._clock = clock
        self._files: dict[str, tuple[float, Located]] = {}  # source → (expiry, located), oldest first
        self._cache = cache  # remote sources' original bytes (issue 26); None: fetched for every miss
        self._flights: dict[tuple[str, str], asyncio.Future[Any]] = {}  # fetches in progress, shared

    def with_query(self, source: str, query: str) -> str:
        """``source`` with the request's query string where it names something: for a URL (an
        absolute source or an HTTP origin) it is part of the address; a directory origin ignores
        it, as a static file server does, so cache-busting ``?v=2`` URLs still find the file."""
        if not query or (self._remote_origin is None and not is_absolute(normalise_absolute(source))):
            return source
        return f"{source}?{query}"

    def url_of(self, source: str) -> str | None:
        """The source's own address, for ``onerror=redirect`` (also when fetching it failed): None
        for a directory origin (no public URL) and for an absolute URL outside ``allowed_hosts``
        (redirecting there would make the service an open redirector)."""
        source = normalise_absolute(source)
        if is_absolute(source):
            try:
                return source if self._allow_url(source) else None
            except InvalidSourceError:
                return None
        if self._remote_origin is not None:
            return urljoin(self._remote_origin.rstrip("/") + "/", quote(_relative(source), safe="/?&=%"))
        return None

    async def locate(self, source: str) -> Located:
        source = normalise_absolute(source)
        if is_absolute(source):
            try:
                allowed = self._allow_url(source)
            except InvalidSourceError as exc:  # as a transformation source: Cloudflare's "invalid URL"
                raise InvalidSourceError(exc.message, code=9406, status=403) from None
            if not allowed:
                raise OriginNotAllowedError(
                    "Transformation origin is not in allowed origins list (see the allowed_hosts setting)"
                )
            return await self._locate_url(source)
        if self._remote_origin is not None:
            url = self.url_of(source)
            assert url is not None
            return await self._locate_url(url)
        return self._locate_file(source)

    def _locate_file(self, source: str) -> Located:
        """The file's identity, remembered briefly: a hit then costs no syscall at all.

        Runs on the event loop: a ``stat`` of a local file is cheaper than the hop to a worker
        thread. Only sources that passed every check are remembered; failures are checked anew.
        """
        now = self._clock()
        remembered = self._files.get(source)
        if remembered is not None and remembered[0] > now:
            return remembered[1]
        located = self._stat_file(source)
        self._files.pop(source, None)  # re-inserted last, so the dict stays in expiry order
        self._files[source] = (now + self._file_seconds, located)
        if len(self._files) > _FILE_IDENTITY_LIMIT:
            del self._files[next(iter(self._files))]
        return located

    def _stat_file(self, source: str) -> Located:
        assert self._root is not None
        path = (self._root / _relative(source)).resolve()
        if not path.is_relative_to(self._root):
            raise SourceForbiddenError("the source path leaves the origin directory", code=9419)
        try:
            info = path.stat()
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise SourceNotFoundError(f"no source image at {source}") from exc
        if not stat.S_ISREG(info.st_mode):
            raise SourceNotFoundError(f"no source image at {source}")
        if info.st_size > self._max_bytes:
            raise FileTooLargeError(f"the source is {info.st_size:,} bytes; the limit is {self._max_bytes:,} bytes")

        async def read() -> bytes:
            return await anyio.to_thread.run_sync(path.read_bytes)

        return Located(f"file:{path}:{info.st_size}:{info.st_mtime_ns}", read, None)

    async def _locate_url(self, url: str) -> Located:
        known = self._known.get(url)
        if known is not None and self._clock() - known.checked < self._revalidate:
            return Located(known.identity, functools.partial(self._body, url, known.identity), url)
        found, data = await self._single(("locate", url), lambda: self._refresh(url))
        if data is None:
            return Located(found.identity, functools.partial(self._body, url, found.identity), url)

        async def ready() -> bytes:
            return data

        return Located(found.identity, ready, url)

    async def _refresh(self, url: str) -> tuple[_Known, bytes | None]:
        """Ask the origin (conditionally when validators are known, from memory or from the source
        cache); the body when it sent one (already stored), None when it answered 304."""
        now = self._clock()
        known = self._known.get(url)
        if known is None and self._cache is not None:
            head = await anyio.to_thread.run_sync(self._cache.head, _cache_key(url))
            if head is not None:
                known = _Known(head.identity, head.etag, head.last_modified, now)
        fetched = await self._fetcher.fetch(
            url,
            etag=known.etag if known else None,
            last_modified=known.last_modified if known else None,
        )
        if fetched.not_modified and known is not None:
            known.checked = now
            self._remember(url, known)
            if self._cache is not None:
                self._cache.tally.revalidations.inc()
            return known, None
        return await self._fetched(url, fetched, now), fetched.data

    async def _fetched(self, url: str, fetched: Fetched, now: float) -> _Known:
        """Remember what ``url`` now is, and keep its bytes in the source cache."""
        known = _Known(_identity_of(fetched), fetched.etag, fetched.last_modified, now)
        self._remember(url, known)
        if self._cache is not None:
            head = Head(known.identity, known.etag, known.last_modified, len(fetched.data))
            self._cache.tally.misses.inc()
            await anyio.to_thread.run_sync(self._cache.put, _cache_key(url), head, fetched.data)
        return known

    def _remember(self, url: str, known: _Known) -> None:
        self._known[url] = known
        self._known.move_to_end(url)
        if len(self._known) > _KNOWN_LIMIT:
            self._known.popitem(last=False)

    async def _body(self, url: str, identity: str) -> bytes:
        """The bytes of a located source: from the source cache, else fetched (once for all who ask)."""
        if self._cache is not None:
            data = await anyio.to_thread.run_sync(self._cache.get, _cache_key(url), identity)
            if data is not None and len(data) <= self._max_bytes:  # the limit may have been lowered since
                return data

        async def download() -> bytes:
            fetched = await self._fetcher.fetch(url)
            await self._fetched(url, fetched, self._clock())
            return fetched.data

        return await self._single(("body", url), download)

    async def _single(self, key: tuple[str, str], work: Callable[[], Awaitable[T]]) -> T:
        """``work``'s result, shared by every caller asking for ``key`` while it runs (single flight).

        It runs as its own task, so a caller that goes away (a client that hung up) does not
        cancel it for the others waiting on it.
        """
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.ensure_future(work())
            self._flights[key] = flight
            flight.add_done_callback(functools.partial(self._landed, key))
        return cast(T, await asyncio.shield(flight))

    def _landed(self, key: tuple[str, str], flight: asyncio.Future[Any]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.cancelled():
            flight.exception()  # retrieved here, so a failure nobody awaited any more is not logged as lost


def _cache_key(url: str) -> str:
    """The source cache's key of a remote source: its URL (the same bytes for every tenant asking)."""
    return "url:" + url


def _relative(source: str) -> str:
    cleaned = source.lstrip("/")
    if not cleaned or "\x00" in cleaned or any(part == ".." for part in cleaned.split("/")):
        raise InvalidSourceError(f"invalid source path {source!r}", code=9419, status=403)
    return cleaned


def ensure_directory(path: Path) -> Path:
    """Create ``path`` (and parents) if missing; the server's directories are made on start."""
    os.makedirs(path, exist_ok=True)
    return path
